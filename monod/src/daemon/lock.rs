//! Exactly one daemon per home: a held lock, not a pid file's existence,
//! says a daemon is alive.
//!
//! The lock file also holds the pid of its owner, for people and for
//! messages; it is never trusted on its own, because the lock dies with the
//! process while a pid file outlives it.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::DaemonError;

/// The held single-instance lock; released when dropped.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the lock at `path` or reports who holds it.
    pub fn acquire(path: &Path, home: &Path) -> Result<InstanceLock, DaemonError> {
        let io = |source| DaemonError::Io { what: "open the lock file", path: path.to_path_buf(), source };
        let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CREATE;
        let mut file = crate::nofollow::open_file(path, flags, crate::nofollow::PRIVATE_FILE).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(DaemonError::AlreadyRunning {
                    home: home.to_path_buf(),
                    pid: pid.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock { _file: file })
    }
}

/// The pid recorded in a lock file, whether or not its owner is alive.
pub fn recorded_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Removes a socket file left by a dead daemon, but only after a connect to
/// it has failed: a socket that answers belongs to a live daemon.
pub fn clear_stale_socket(path: &Path) -> Result<(), DaemonError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(DaemonError::SocketInUse { path: path.to_path_buf() });
    }
    std::fs::remove_file(path).map_err(|source| DaemonError::Io {
        what: "remove the stale socket",
        path: PathBuf::from(path),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_same_home_fails_with_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monod.lock");
        let first = InstanceLock::acquire(&path, dir.path()).unwrap();
        match InstanceLock::acquire(&path, dir.path()) {
            Err(DaemonError::AlreadyRunning { pid, .. }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(first);
        assert!(InstanceLock::acquire(&path, dir.path()).is_ok());
        assert_eq!(recorded_pid(&path), Some(std::process::id()));
    }

    #[test]
    fn stale_socket_is_removed_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(matches!(clear_stale_socket(&path), Err(DaemonError::SocketInUse { .. })));
        drop(live);
        clear_stale_socket(&path).unwrap();
        assert!(!path.exists());
    }
}
