//! The network's lock: every operation that changes a network (start,
//! stop, restart, adding or stopping a node) holds `<network dir>/lock`
//! exclusively, so two programs never race on one network. A second
//! program waits, saying so; tasks of one program share the lock (they
//! already coordinate through the runtime, and a Ctrl-C handler must be
//! able to stop a network whose start is under way).

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::network::LOCK_FILE;
use crate::sys::files;

/// How often a program waiting for another one's lock tries again.
const RETRY: Duration = Duration::from_millis(50);

/// The locks this process holds: the locked file and how many of its
/// tasks hold it.
static HELD: Mutex<BTreeMap<PathBuf, (File, usize)>> = Mutex::new(BTreeMap::new());

/// This process's hold on one network's lock; released when the last
/// holder in the process drops it.
#[derive(Debug)]
pub(super) struct NetworkLock {
    dir: PathBuf,
}

impl Drop for NetworkLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = held.get_mut(&self.dir) {
            entry.1 -= 1;
            if entry.1 == 0 {
                // Dropping the file releases the lock.
                held.remove(&self.dir);
            }
        }
    }
}

/// Takes the lock of the network in `dir`, waiting while another program
/// holds it (with a warning naming the network, once).
pub(super) async fn lock(dir: &Path) -> Result<NetworkLock> {
    let path = dir.join(LOCK_FILE);
    let file = files::open_lock_file(&path)?;
    let mut warned = false;
    loop {
        {
            let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = held.get_mut(dir) {
                entry.1 += 1;
                return Ok(NetworkLock {
                    dir: dir.to_owned(),
                });
            }
            match file.try_lock() {
                Ok(()) => {
                    held.insert(dir.to_owned(), (file, 1));
                    return Ok(NetworkLock {
                        dir: dir.to_owned(),
                    });
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
            }
        }
        if !warned {
            tracing::warn!(
                network = %dir.display(),
                "another program is changing this network; waiting for it to finish"
            );
            warned = true;
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_of_one_program_share_the_lock_and_release_it_last() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).await.unwrap();
        let second = lock(dir.path()).await.unwrap();
        // Another open file description (as another program has) is refused
        // while this program holds it.
        let other = File::open(dir.path().join(LOCK_FILE)).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(second);
        other.try_lock().unwrap();
        // Now this program waits for the other holder.
        let waiting = tokio::spawn({
            let dir = dir.path().to_owned();
            async move { lock(&dir).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "it waits while another holds it");
        other.unlock().unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
