//! Where mono keeps its files, shared by daemon and client so both agree.
//!
//! Everything lives under one directory, `MONO_HOME` (default `~/.mono`):
//! the socket, the lock, the state database, logs and per-environment data.

use std::path::{Component, Path, PathBuf};

/// The environment variable that overrides the home directory.
pub const MONO_HOME_VAR: &str = "MONO_HOME";
/// File name of the JSON-RPC socket inside the home directory.
pub const SOCKET_FILE: &str = "monod.sock";
/// File name of the single-instance lock (it also holds the daemon's pid).
pub const LOCK_FILE: &str = "monod.lock";
/// File name of the lock clients hold while starting a daemon, so that many
/// clients starting at once start one daemon.
pub const START_LOCK_FILE: &str = "start.lock";
/// File name of the daemon's own diagnostics when a client started it.
pub const DAEMON_LOG_FILE: &str = "monod.log";
/// File name of the SQLite state database.
pub const STATE_FILE: &str = "state.db";
/// File name of the operations log.
pub const MONO_LOG_FILE: &str = "mono.log";
/// Directory holding one data directory per environment.
pub const DATA_DIR: &str = "data";
/// Directory holding one log directory per environment.
pub const LOGS_DIR: &str = "logs";
/// Directory of the dependency cache.
pub const CACHE_DIR: &str = "cache";
/// Directory of the SSH control sockets and logs of remote engines.
pub const SSH_DIR: &str = "ssh";
/// File name of the daemon's optional settings.
pub const SETTINGS_FILE: &str = "monod.yml";

/// Resolves the home directory: `$MONO_HOME` when set and not empty, else
/// `$HOME/.mono`. Returns `None` when neither is available.
pub fn mono_home() -> Option<PathBuf> {
    match std::env::var_os(MONO_HOME_VAR) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".mono")),
    }
}

/// The socket path inside a home directory.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_FILE)
}

/// The session name of an environment's tmux session.
pub fn session_name(env_name: &str) -> String {
    format!("{SESSION_PREFIX}{env_name}")
}

/// What every environment's tmux session name starts with.
pub const SESSION_PREFIX: &str = "mono-";

/// Removes `.` and `..` from an absolute path without touching the file
/// system: how a workspace that no longer exists is named, identically by
/// client and daemon.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_is_lexical() {
        assert_eq!(normalise(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        assert_eq!(normalise(Path::new("/../x")), PathBuf::from("/x"));
    }
}
