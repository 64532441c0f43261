//! The listening socket: bound by monod at `$MONO_HOME/monod.sock`, or
//! handed over by a service manager (socket activation).
//!
//! The binary prepares it before the daemon runs (after taking the lock,
//! so a stale socket is removed only by the home's one daemon), and tests
//! bind one anywhere. A socket monod bound is its own: owner-only, and
//! removed when the [`Listener`]'s guard goes, whether the daemon stopped
//! or failed to start. A handed one is the manager's, left alone.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use super::{DaemonError, activation};

/// A socket ready to accept, and whether it is monod's to remove.
pub struct Listener {
    pub(super) listener: UnixListener,
    pub(super) owned: Option<OwnedSocket>,
}

/// Removes the socket file monod bound when dropped.
pub(super) struct OwnedSocket(PathBuf);

impl Drop for OwnedSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Listener {
    /// Binds `path` and makes it owner-only. A file already there is an
    /// error: [`super::lock::clear_stale_socket`] removes a dead daemon's.
    pub fn bind(path: &Path) -> Result<Listener, DaemonError> {
        let io = |what| move |source| DaemonError::Io { what, path: path.to_path_buf(), source };
        let listener = UnixListener::bind(path).map_err(io("listen on"))?;
        let owned = OwnedSocket(path.to_path_buf());
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("set permissions of"))?;
        listener.set_nonblocking(true).map_err(io("listen on"))?;
        Ok(Listener { listener, owned: Some(owned) })
    }

    /// Serves the socket a service manager handed over, warning when it is
    /// not at `expected`, where clients look.
    pub fn adopt(handed: UnixListener, expected: &Path) -> Result<Listener, DaemonError> {
        let io = |what| move |source| DaemonError::Io { what, path: expected.to_path_buf(), source };
        let bound = handed.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf));
        match &bound {
            Some(path) if activation::same_socket(path, expected) => {}
            Some(path) => tracing::warn!(
                handed = %path.display(),
                expected = %expected.display(),
                "the service manager handed a socket at another path than $MONO_HOME/monod.sock, where clients look"
            ),
            None => {
                tracing::warn!(expected = %expected.display(), "the service manager handed a socket without a path")
            }
        }
        handed.set_nonblocking(true).map_err(io("use the socket handed over for"))?;
        let shown = bound.as_deref().unwrap_or(expected).display().to_string();
        tracing::info!(socket = %shown, "listening on the socket handed by the service manager (LISTEN_FDS)");
        Ok(Listener { listener: handed, owned: None })
    }

    /// Where it listens, for messages.
    pub fn shown(&self) -> String {
        match self.listener.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf)) {
            Some(path) => path.display().to_string(),
            None => "the socket handed over".to_string(),
        }
    }
}
