//! Loopback port allocation for daemons that cannot report a port-0 choice.

use std::net::TcpListener;

use crate::error::{Error, Result};

/// Allocates `count` distinct free ports on 127.0.0.1: binds port 0 that
/// many times at once, reads the ports, then closes the sockets. Another
/// program can still take a port before the daemon binds it; callers retry
/// with fresh ports when that happens.
pub fn allocate(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io("cannot allocate a port on", "127.0.0.1", e))?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| Error::io("cannot read a port on", "127.0.0.1", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_free() {
        let ports = allocate(30).unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 30);
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).expect("allocated port is free");
        }
    }
}
