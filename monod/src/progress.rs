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
//!
//! Once the environment is known ([`Progress::set_env`]), every line is
//! also published on the event stream as an `env.progress` event, in order,
//! by a task of the operation's own, so dashboards (and `mono init`) see it
//! live. [`Progress::flush_events`] waits until all are published; the
//! operation's final event (`env.ready`, `env.failed`) comes after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mono_proto::{OpOutput, OpStream};
use tokio::sync::{mpsc, oneshot};

use crate::events::EventBus;
use crate::monolog::MonoLog;

/// Lines queued for the event stream before lines are dropped from it.
const PUBLISH_BUFFER: usize = 4096;

/// A message to the task that publishes an operation's lines as events.
enum Publish {
    Line(OpStream, String),
    Flush(oneshot::Sender<()>),
}

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
    events: Option<(EventBus, Option<String>)>,
    publisher: Option<mpsc::Sender<Publish>>,
}

impl Progress {
    /// Starts reporting for environment `env`; elapsed times count from now.
    /// With `events`, lines are published as `env.progress` events with the
    /// operation id once the environment is known.
    pub fn new(
        env: &str,
        log: Arc<MonoLog>,
        watcher: Option<Watcher>,
        events: Option<(EventBus, Option<String>)>,
    ) -> Progress {
        Progress {
            tag: env.to_string(),
            started: Instant::now(),
            log,
            watcher,
            dropped: AtomicU64::new(0),
            events,
            publisher: None,
        }
    }

    /// Names the environment in later lines (once its unique name is known)
    /// and starts publishing them as events.
    pub fn set_env(&mut self, env: &str) {
        self.tag = env.to_string();
        if let Some((bus, op)) = self.events.take() {
            let (tx, mut rx) = mpsc::channel(PUBLISH_BUFFER);
            let env = env.to_string();
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    match msg {
                        Publish::Line(stream, line) => {
                            let data = serde_json::json!({"op": op, "stream": stream, "line": line});
                            bus.emit(Some(&env), mono_proto::event_kinds::ENV_PROGRESS, data).await;
                        }
                        Publish::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
            self.publisher = Some(tx);
        }
    }

    /// Waits until every line so far is on the event stream.
    pub async fn flush_events(&self) {
        if let Some(tx) = &self.publisher {
            let (done, wait) = oneshot::channel();
            if tx.send(Publish::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        }
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
        if let Some(tx) = &self.publisher {
            // A full queue drops the line from the event stream only.
            let _ = tx.try_send(Publish::Line(stream, line.to_string()));
        }
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
