//! Live progress of operations: every step and script line goes to
//! `mono.log` and, when a client watches the operation, to that client.
//!
//! A client picks an operation id, subscribes to `ops.watch` with it, then
//! starts the operation with the same id. The operation takes the watcher's
//! channel; the subscription ends when the operation drops it. Delivery never
//! slows the operation down: past a bounded buffer, lines are dropped for the
//! watcher (never for `mono.log`) and a note says how many.
//!
//! An operation's reply must not overtake its last lines, so an operation
//! ends with [`Progress::finish`], which waits (briefly) until the watcher's
//! subscription has forwarded everything to the connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mono_proto::{OpOutput, OpStream};
use tokio::sync::{mpsc, oneshot};

use crate::monolog::MonoLog;

/// Lines buffered per watcher before lines are dropped for it.
pub const WATCH_BUFFER: usize = 1024;

/// How long an ending operation waits for its watcher to take its last
/// lines; a stuck client cannot hold a reply longer than this.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The operation's end of a watcher.
pub struct Watcher {
    tx: mpsc::Sender<OpOutput>,
    flushed: oneshot::Receiver<()>,
}

/// The subscription's end of a watcher: lines to forward, and the signal to
/// give (by dropping it) once they are all forwarded.
pub struct WatchFeed {
    /// Lines of the operation; ends when the operation does.
    pub lines: mpsc::Receiver<OpOutput>,
    /// Dropped by the subscription once it has forwarded every line.
    pub flushed: oneshot::Sender<()>,
}

/// Watchers waiting for their operation to start.
#[derive(Default)]
pub struct Watchers {
    waiting: Mutex<HashMap<String, Watcher>>,
}

impl Watchers {
    /// Registers a watcher for operation `op`.
    pub fn watch(&self, op: &str) -> WatchFeed {
        let (tx, lines) = mpsc::channel(WATCH_BUFFER);
        let (flushed, flushed_rx) = oneshot::channel();
        self.waiting
            .lock()
            .expect("watchers lock")
            .insert(op.to_string(), Watcher { tx, flushed: flushed_rx });
        WatchFeed { lines, flushed }
    }

    /// Hands the watcher of `op`, if any, to the operation.
    pub fn claim(&self, op: Option<&str>) -> Option<Watcher> {
        op.and_then(|op| self.waiting.lock().expect("watchers lock").remove(op))
    }

    /// Forgets a watcher whose subscription ended before its operation ran.
    pub fn forget(&self, op: &str) {
        self.waiting.lock().expect("watchers lock").remove(op);
    }
}

/// The progress reporter of one operation on one environment.
pub struct Progress {
    tag: String,
    started: Instant,
    log: Arc<MonoLog>,
    watcher: Option<Watcher>,
    dropped: AtomicU64,
}

impl Progress {
    /// Starts reporting for environment `env`; elapsed times count from now.
    pub fn new(env: &str, log: Arc<MonoLog>, watcher: Option<Watcher>) -> Progress {
        Progress { tag: env.to_string(), started: Instant::now(), log, watcher, dropped: AtomicU64::new(0) }
    }

    /// Renames the environment in later lines (once its unique name is known).
    pub fn set_env(&mut self, env: &str) {
        self.tag = env.to_string();
    }

    /// Ends the stream of lines and waits until the watcher has forwarded
    /// them, so the operation's reply arrives after its output.
    pub async fn finish(self) {
        if let Some(Watcher { tx, flushed }) = self.watcher {
            drop(tx);
            let _ = tokio::time::timeout(FLUSH_WAIT, flushed).await;
        }
    }

    /// A step of mono's own.
    pub fn step(&self, message: impl AsRef<str>) {
        self.emit(OpStream::Log, message.as_ref());
    }

    /// A line of a script's output.
    pub fn output(&self, stream: OpStream, line: &str) {
        self.emit(stream, line);
    }

    fn emit(&self, stream: OpStream, line: &str) {
        let tag = match stream {
            OpStream::Log => self.tag.clone(),
            OpStream::Out => format!("{}|out", self.tag),
            OpStream::Err => format!("{}|err", self.tag),
        };
        self.log.write(self.started, &tag, line);
        let Some(Watcher { tx, .. }) = &self.watcher else {
            return;
        };
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 && tx.capacity() > 1 {
            let note = format!("[{dropped} lines not shown; see {}]", self.log.path().display());
            if tx.try_send(OpOutput { stream: OpStream::Log, line: note }).is_ok() {
                self.dropped.store(0, Ordering::Relaxed);
            }
        }
        if tx.try_send(OpOutput { stream, line: line.to_string() }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
