//! The layout of `$MONO_HOME`.

use std::path::{Path, PathBuf};

use mono_proto::paths;

/// Paths of everything monod keeps under its home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The layout rooted at `root`.
    pub fn new(root: PathBuf) -> Home {
        Home { root }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
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
        self.root.join("logs")
    }

    /// One environment's log directory: its session's rolling output and
    /// the run window's bookkeeping.
    pub fn log_dir(&self, env: &str) -> PathBuf {
        self.logs_root().join(env)
    }

    /// The dependency cache.
    pub fn cache_root(&self) -> PathBuf {
        self.root.join("cache")
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
