//! Output that never panics. Once the reader of standard output is gone
//! (`tmpnetctl status | head -1`), the rest of the output is dropped
//! quietly and the command still finishes its work; any other failure to
//! write (`tmpnetctl status > /dev/full`) is the command's error, one line
//! and exit code 1. Messages on standard error are best effort.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use tmpnet_fixture::{Error, Result};

static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes one line to standard output.
pub fn line(args: std::fmt::Arguments<'_>) -> Result<()> {
    write(format_args!("{args}\n"))
}

/// Writes text to standard output as it is.
pub fn write(args: std::fmt::Arguments<'_>) -> Result<()> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::io("cannot write", "standard output", e)),
    }
}

/// Writes one line to standard error, ignoring failures (there is nowhere
/// left to report them).
pub fn note_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `println!` that returns the write error from the enclosing function.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))?
    };
}

/// `eprintln!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note_line(format_args!($($arg)*))
    };
}

pub(crate) use {note, out};
