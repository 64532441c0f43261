//! Telling a busy daemon from a hung one, in seconds.
//!
//! A stopped (SIGSTOP) or hung monod still holds its lock, and the kernel
//! still accepts connections on its socket until the backlog is full (then
//! a connect waits), so a client would wait for a reply that never comes.
//! Every wait of a one-shot call (connecting, sending, the first byte of
//! the reply) is therefore cut into slices of [`PATIENCE`]; a command on a
//! WebSocket is watched as a whole, from the handshake to its last line
//! (a daemon can stop between any two of them), by a check every
//! [`PATIENCE`] beside it. A check asks on a fresh connection for
//! `daemon.status`, which a live monod answers at once whatever else it is
//! doing; a long operation (`mono gc --yes`, a stop's grace period) is not
//! cut short, because its daemon answers the check. No answer within
//! [`PATIENCE`] either while a process holds the lock: the daemon is hung,
//! and the client says which pid and what to do.
//!
//! This costs a one-shot call nothing while the daemon answers within
//! [`PATIENCE`], and a streaming command one small request every
//! [`PATIENCE`]; a hung daemon is named after about twice that.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::http;

/// How long the daemon gets to answer before the client checks on it.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// The daemon holds its lock but does not answer.
#[derive(Debug, thiserror::Error)]
#[error(
    "monod (pid {pid}) holds {} but does not answer on {} within {}s: it is stopped or hung; \
     `kill -CONT {pid}` if it was stopped, else `kill {pid}` (`kill -9 {pid}` if it stays) and run any command",
    lock.display(), socket.display(), PATIENCE.as_secs()
)]
pub struct Hung {
    /// The pid recorded in the lock file.
    pub pid: u32,
    /// The lock file.
    pub lock: PathBuf,
    /// The socket.
    pub socket: PathBuf,
}

/// How the socket answered a `daemon.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Something answered: a live daemon.
    Answered,
    /// Nothing listens (no socket, or it refuses).
    Absent,
    /// It accepts (or makes the connect wait) but does not answer in time.
    Silent,
}

/// Asks the socket for `daemon.status` once, waiting at most [`PATIENCE`]
/// for each step.
pub fn probe(socket: &Path) -> Probe {
    const STATUS: &[u8] = br#"{"jsonrpc":"2.0","id":0,"method":"daemon.status","params":{}}"#;
    match http::post(socket, STATUS, PATIENCE, &mut || Ok(())) {
        Ok(_) => Probe::Answered,
        Err(e) if http::is_absent(&e) => Probe::Absent,
        Err(_) => Probe::Silent,
    }
}

/// Whether the daemon of `socket` and `lock` is alive: `Err` when it is
/// silent while a process holds the lock. Anything else is left to the
/// caller's own wait (a socket nobody answers without a lock holder is a
/// service manager starting monod, or one that is gone).
pub fn check(socket: &Path, lock: &Path) -> Result<(), Hung> {
    if probe(socket) != Probe::Silent {
        return Ok(());
    }
    match lock_holder(lock) {
        Some(pid) => Err(Hung { pid, lock: lock.to_path_buf(), socket: socket.to_path_buf() }),
        None => Ok(()),
    }
}

/// The pid recorded in the lock file, when a live process holds the lock.
/// The file is only opened for reading (a read-only home is fine).
pub fn lock_holder(lock: &Path) -> Option<u32> {
    let file = File::open(lock).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => std::fs::read_to_string(lock).ok()?.trim().parse().ok(),
        Err(TryLockError::Error(_)) => None,
    }
}

/// The [`Hung`] inside `e`, if that is what it says.
pub fn as_hung(e: &std::io::Error) -> Option<&Hung> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Hung>())
}
