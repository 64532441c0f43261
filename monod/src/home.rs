//! The layout of `$MONO_HOME`, and making its directories.
//!
//! The home is checked and opened once ([`mono_proto::home`]): its path is
//! then the canonical one, and its directories (`data/`, `logs/`, `cache/`
//! and everything below) are created relative to the open home, one
//! component at a time, mode 0700, never through a symbolic link
//! ([`crate::nofollow`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mono_proto::home::HomeError;
use mono_proto::paths;

use crate::nofollow;

/// Paths of everything monod keeps under its home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    fd: Arc<OwnedFd>,
}

impl Home {
    /// Checks the home at `path` (creating it when absent) and opens it.
    pub fn open(path: &Path) -> Result<Home, HomeError> {
        let (root, fd) = mono_proto::home::open_or_create(path)?.into_parts();
        Ok(Home { root, fd: Arc::new(fd) })
    }

    /// Checks the home at `path` and opens it when it exists; creates
    /// nothing (`mono doctor` without a daemon).
    pub fn existing(path: &Path) -> Result<Option<Home>, HomeError> {
        Ok(mono_proto::home::open(path)?.map(|dir| {
            let (root, fd) = dir.into_parts();
            Home { root, fd: Arc::new(fd) }
        }))
    }

    /// The home directory itself (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The open home directory.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `rel` (components below the home), creating
    /// what is missing (0700); a symbolic link on the way is refused.
    pub fn private_dir(&self, rel: &[&str]) -> std::io::Result<OwnedFd> {
        let rel: PathBuf = rel.iter().collect();
        nofollow::walk_dirs(self.fd(), &rel, Some(nofollow::PRIVATE_DIR))
    }

    /// The JSON-RPC socket.
    pub fn socket(&self) -> PathBuf {
        paths::socket_path(&self.root)
    }

    /// The single-instance lock.
    pub fn lock(&self) -> PathBuf {
        self.root.join(paths::LOCK_FILE)
    }

    /// The state database.
    pub fn state_db(&self) -> PathBuf {
        self.root.join(paths::STATE_FILE)
    }

    /// The operations log.
    pub fn mono_log(&self) -> PathBuf {
        self.root.join(paths::MONO_LOG_FILE)
    }

    /// The parent of all environments' data directories.
    pub fn data_root(&self) -> PathBuf {
        self.root.join(paths::DATA_DIR)
    }

    /// The parent of all environments' log directories.
    pub fn logs_root(&self) -> PathBuf {
        self.root.join(paths::LOGS_DIR)
    }

    /// One environment's log directory: its session's rolling output and
    /// the run window's bookkeeping.
    pub fn log_dir(&self, env: &str) -> PathBuf {
        self.logs_root().join(env)
    }

    /// The dependency cache.
    pub fn cache_root(&self) -> PathBuf {
        self.root.join(paths::CACHE_DIR)
    }

    /// One environment's data directory.
    pub fn data_dir(&self, env: &str) -> PathBuf {
        self.data_root().join(env)
    }

    /// The data and log directories of environments found on disk (whether
    /// or not a row knows them), sorted.
    pub fn environment_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = [self.data_root(), self.logs_root()]
            .iter()
            .filter_map(|root| std::fs::read_dir(root).ok())
            .flat_map(|entries| entries.flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        dirs
    }
}
