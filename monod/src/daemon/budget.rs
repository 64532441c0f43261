//! How many connections monod serves at once, and the permits that count
//! them.
//!
//! Every connection holds a permit for as long as it is open (an upgraded
//! WebSocket too: the permit travels in its I/O), and a WebSocket holds a
//! second one from a pool half the size, so long-lived WebSockets can never
//! take the room one-shot calls need. A stalled request holds its permit
//! only until the request timeout cuts it. Over the limit a connection gets
//! an immediate refusal rather than waiting in the backlog.
//!
//! The limit is sized from the open-file limit, which monod first raises
//! (within the hard limit) to fit it: running out of descriptors would fail
//! accept, SQLite and tmux alike, where a refused connection is one clear
//! error. It raises no further than it needs, since tmux servers and scripts
//! it starts inherit the limit.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limit when the open-file limit leaves room for it.
pub const DEFAULT_MAX: usize = 4096;

/// Descriptors kept for everything but the socket's connections (database,
/// logs, tmux, Docker, file watches, and the router's connections), at most
/// a quarter of the limit.
const FD_RESERVE: u64 = 256 + crate::router::DESCRIPTORS as u64;

/// Refused connections drained at once (each briefly, so the client's send
/// completes and it reads the refusal); beyond, they are closed at once.
const REFUSERS: usize = 64;

/// The connection permits; clones share them.
#[derive(Clone)]
pub struct Budget {
    connections: Arc<Semaphore>,
    websockets: Arc<Semaphore>,
    refusers: Arc<Semaphore>,
    max: usize,
}

impl Budget {
    /// Permits for `max` connections, at most half of them WebSockets.
    pub fn new(max: usize) -> Budget {
        let max = max.max(2);
        Budget {
            connections: Arc::new(Semaphore::new(max)),
            websockets: Arc::new(Semaphore::new(max / 2)),
            refusers: Arc::new(Semaphore::new(REFUSERS)),
            max,
        }
    }

    /// The budget for `configured` connections (default [`DEFAULT_MAX`]),
    /// lowered to what the open-file limit allows after raising it.
    pub fn sized(configured: Option<u32>) -> Budget {
        let wanted = configured.map_or(DEFAULT_MAX, |n| n as usize) as u64;
        let fds = raise_fd_limit(wanted + FD_RESERVE);
        let fits = fit(configured, fds);
        if let Some(wanted) = configured
            && (wanted as usize) > fits
        {
            tracing::warn!(
                wanted,
                serving = fits,
                open_files = fds,
                "socket.max_connections is more than the open-file limit allows; raise `ulimit -n`"
            );
        }
        Budget::new(fits)
    }

    /// Connections served at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// WebSockets served at once.
    pub fn max_websockets(&self) -> usize {
        self.max / 2
    }

    /// A connection's permit, unless all are taken.
    pub fn connection(&self) -> Option<OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    /// A WebSocket's permit, unless all are taken.
    pub fn websocket(&self) -> Option<OwnedSemaphorePermit> {
        self.websockets.clone().try_acquire_owned().ok()
    }

    /// A permit to drain a refused connection, unless enough are draining.
    pub fn refuser(&self) -> Option<OwnedSemaphorePermit> {
        self.refusers.clone().try_acquire_owned().ok()
    }
}

/// The connection limit for `configured` (or the default) when `fds`
/// descriptors may be open.
fn fit(configured: Option<u32>, fds: u64) -> usize {
    let reserve = FD_RESERVE.min(fds / 4);
    let room = usize::try_from(fds.saturating_sub(reserve)).unwrap_or(usize::MAX);
    configured.map_or(DEFAULT_MAX, |n| n as usize).min(room).max(2)
}

/// Raises the soft open-file limit towards `needed`, as far as the hard
/// limit allows, and returns the limit in force.
fn raise_fd_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    let target = needed.min(limit.maximum.unwrap_or(u64::MAX));
    // macOS refuses more than OPEN_MAX (10240) whatever the hard limit says.
    for wanted in [target, target.min(10240)] {
        if wanted <= current {
            break;
        }
        let raised = rustix::process::Rlimit { current: Some(wanted), maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return wanted;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_fits_the_open_files() {
        assert_eq!(fit(None, 1 << 20), DEFAULT_MAX);
        assert_eq!(fit(None, 1024), 768);
        assert_eq!(fit(Some(16), 1024), 16);
        assert_eq!(fit(Some(100_000), 20_000), 20_000 - FD_RESERVE as usize);
        assert_eq!(fit(None, 4), 3);
        let budget = Budget::new(16);
        let ws: Vec<_> = (0..8).map(|_| budget.websocket().unwrap()).collect();
        assert!(budget.websocket().is_none(), "half may be WebSockets");
        let calls: Vec<_> = (0..16).map(|_| budget.connection().unwrap()).collect();
        assert!(budget.connection().is_none());
        drop((ws, calls));
        assert!(budget.connection().is_some() && budget.websocket().is_some());
    }
}
