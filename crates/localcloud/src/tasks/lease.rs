//! The local cloud's lease on its data dir, and how its host tasks tell that
//! it is gone.
//!
//! A running local cloud holds an exclusive `flock` on `DATA_DIR/running.lock`
//! for as long as its process lives: the kernel drops the lock when the
//! process dies, even on kill -9. Host tasks outlive a crash of the local
//! cloud so that the next start can adopt them without an outage; a task
//! whose local cloud does not come back within the grace it was given
//! (`--task-orphan-grace`) stops itself.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a host task looks at the lease.
const LEASE_POLL: Duration = Duration::from_secs(1);

/// The lock file of the local cloud with this data dir.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("running.lock")
}

/// Held for the life of a local cloud; dropping it (or dying) releases it.
#[derive(Debug)]
pub struct CloudLock {
    _file: File,
}

impl CloudLock {
    /// Takes the lease on `data_dir`, or says that another local cloud holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<CloudLock> {
        let path = lock_path(data_dir);
        // Rust opens files close-on-exec: tasks spawned later must not
        // inherit the lock and keep it after this process is gone.
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(CloudLock { _file: file }),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => anyhow::bail!(
                "another local cloud is running on {}; stop it first, or give this one a data dir of its own",
                data_dir.display()
            ),
            Err(e) => anyhow::bail!("cannot lock {}: {e}", path.display()),
        }
    }
}

/// Whether a local cloud holds the lease at `path` now. A missing file (the
/// data dir was removed) means none does.
fn cloud_holds(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    // A shared lock is granted only while nobody holds the exclusive one;
    // it is released at once when `file` closes.
    flock(&file, libc::LOCK_SH | libc::LOCK_NB).is_err()
}

/// Resolves once no local cloud has held the lease at `path` for `grace`
/// in a row.
pub async fn orphaned(path: &Path, grace: Duration) {
    let mut unheld_since = None;
    loop {
        let now = tokio::time::Instant::now();
        if cloud_holds(path) {
            unheld_since = None;
        } else {
            let since = *unheld_since.get_or_insert(now);
            if now.duration_since(since) >= grace {
                return;
            }
        }
        tokio::time::sleep(LEASE_POLL.min(grace)).await;
    }
}

fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    // SAFETY: flock(2) on a descriptor `file` owns for the whole call.
    match unsafe { libc::flock(file.as_raw_fd(), operation) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_cloud_per_data_dir_and_its_tasks_see_it_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());
        let lock = CloudLock::acquire(dir.path()).unwrap();
        let second = CloudLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            second.contains("another local cloud is running on"),
            "{second}"
        );
        assert!(cloud_holds(&path));
        // Held: a task waits on.
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            orphaned(&path, Duration::from_millis(100)),
        );
        assert!(waited.await.is_err(), "orphaned while the lease is held");

        drop(lock);
        assert!(!cloud_holds(&path));
        tokio::time::timeout(
            Duration::from_secs(2),
            orphaned(&path, Duration::from_millis(100)),
        )
        .await
        .expect("orphaned once the lease lapsed for the grace");
        // The lease can be taken again, as by a restarted local cloud.
        let _again = CloudLock::acquire(dir.path()).unwrap();
    }

    #[tokio::test]
    async fn a_removed_data_dir_means_no_cloud() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());
        drop(dir);
        tokio::time::timeout(
            Duration::from_secs(2),
            orphaned(&path, Duration::from_millis(50)),
        )
        .await
        .expect("orphaned");
    }
}
