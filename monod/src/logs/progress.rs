//! Live progress of operations: every step and script line goes to
//! `mono.log` and, when a client watches the operation, to that client.
//! That is the one path of an operation's output; none of it is stored in
//! the event log, which keeps lifecycle and state events only.
//!
//! A client picks an operation id, subscribes to `ops.watch` with it, then
//! starts the operation with the same id. Any number of clients may watch
//! one id: each subscription is its own registration, the operation takes
//! all of them and sends every line to each, and a subscription that ends
//! first removes only its own. The subscription ends when the operation
//! drops its channel. Delivery never slows the operation down: past a
//! bounded buffer, lines are dropped for that watcher (never for `mono.log`
//! or the other watchers) and a note says how many.
//!
//! An operation's reply must not overtake its last lines, so an operation
//! ends with [`Progress::finish`], which waits (briefly) until every
//! watcher's subscription has forwarded everything to its connection.
//!
//! Once the environment is known ([`Progress::set_env`]), every line is
//! also published as a live-only `env.progress` event, and pull progress
//! as `image.pull` ([`Progress::event`]), for event subscribers that name
//! those kinds (dashboards): sent as it happens, never stored (see
//! [`EventBus::publish_live`]). Published before the operation's final
//! event (`env.ready`, `env.failed`) is stored, they reach a subscriber
//! before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mono_proto::{OpOutput, OpStream, event_kinds};
use tokio::sync::{mpsc, oneshot};

use crate::events::EventBus;
use crate::logs::monolog::MonoLog;

/// Lines buffered per watcher before lines are dropped for it.
pub const WATCH_BUFFER: usize = 1024;

/// How long an ending operation waits for its watcher to take its last
/// lines; a stuck client cannot hold a reply longer than this.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The operation's end of a watcher.
pub struct Watcher {
    tx: mpsc::Sender<OpOutput>,
    flushed: oneshot::Receiver<()>,
    /// Lines this watcher missed since its last note.
    dropped: AtomicU64,
}

/// The subscription's end of a watcher: lines to forward, and the signal to
/// give (by dropping it) once they are all forwarded.
pub struct WatchFeed {
    /// Lines of the operation; ends when the operation does.
    pub lines: mpsc::Receiver<OpOutput>,
    /// Dropped by the subscription once it has forwarded every line.
    pub flushed: oneshot::Sender<()>,
    /// This registration, for [`Watchers::forget`].
    pub id: WatchId,
}

/// One registration of a watcher (several may watch one operation id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchId(u64);

/// Watchers waiting for their operation to start, by operation id.
#[derive(Default)]
pub struct Watchers {
    waiting: Mutex<HashMap<String, Vec<(WatchId, Watcher)>>>,
    next: AtomicU64,
}

impl Watchers {
    /// Registers a watcher for operation `op`, beside any others of it.
    pub fn watch(&self, op: &str) -> WatchFeed {
        let (tx, lines) = mpsc::channel(WATCH_BUFFER);
        let (flushed, flushed_rx) = oneshot::channel();
        let id = WatchId(self.next.fetch_add(1, Ordering::Relaxed));
        let watcher = Watcher { tx, flushed: flushed_rx, dropped: AtomicU64::new(0) };
        self.waiting.lock().expect("watchers lock").entry(op.to_string()).or_default().push((id, watcher));
        WatchFeed { lines, flushed, id }
    }

    /// Hands every watcher of `op` to the operation.
    pub fn claim(&self, op: Option<&str>) -> Vec<Watcher> {
        let Some(op) = op else { return Vec::new() };
        let claimed = self.waiting.lock().expect("watchers lock").remove(op).unwrap_or_default();
        claimed.into_iter().map(|(_, w)| w).collect()
    }

    /// Forgets registration `id` of `op` if its operation has not taken it
    /// (its subscription ended first); other watchers of `op` stay.
    pub fn forget(&self, op: &str, id: WatchId) {
        let mut waiting = self.waiting.lock().expect("watchers lock");
        if let Some(list) = waiting.get_mut(op) {
            list.retain(|(w, _)| *w != id);
            if list.is_empty() {
                waiting.remove(op);
            }
        }
    }
}

/// The progress reporter of one operation on one environment.
pub struct Progress {
    tag: String,
    started: Instant,
    log: Arc<MonoLog>,
    watchers: Vec<Watcher>,
    events: Option<Publisher>,
}

/// Where an operation's output goes as live-only events, and as whose.
struct Publisher {
    bus: EventBus,
    op: Option<String>,
    /// The environment, once known: nothing is published before.
    env: Option<String>,
}

impl Progress {
    /// Starts reporting for environment `env`; elapsed times count from now.
    /// With `events`, lines are published as live-only `env.progress`
    /// events with the operation id once the environment is known.
    pub fn new(
        env: &str,
        log: Arc<MonoLog>,
        watchers: Vec<Watcher>,
        events: Option<(EventBus, Option<String>)>,
    ) -> Progress {
        let events = events.map(|(bus, op)| Publisher { bus, op, env: None });
        Progress { tag: env.to_string(), started: Instant::now(), log, watchers, events }
    }

    /// Names the environment in later lines (once its unique name is known)
    /// and starts publishing them as events.
    pub fn set_env(&mut self, env: &str) {
        self.tag = env.to_string();
        if let Some(events) = &mut self.events {
            events.env = Some(env.to_string());
        }
    }

    /// Ends the stream of lines and waits until every watcher has forwarded
    /// them, so the operation's reply arrives after its output.
    pub async fn finish(self) {
        let flushed: Vec<_> = self.watchers.into_iter().map(|w| w.flushed).collect();
        if flushed.is_empty() {
            return;
        }
        let all = async {
            for f in flushed {
                let _ = f.await;
            }
        };
        let _ = tokio::time::timeout(FLUSH_WAIT, all).await;
    }

    /// A step of mono's own.
    pub fn step(&self, message: impl AsRef<str>) {
        self.emit(OpStream::Log, message.as_ref());
    }

    /// A live-only event of kind `kind` of this operation (its `op` added
    /// to `data`), in order with its lines; nothing before the environment
    /// is known. The caller bounds how many it sends (see `docker::images`).
    pub fn event(&self, kind: &'static str, data: serde_json::Value) {
        if let Some(Publisher { bus, op, env: Some(env) }) = &self.events {
            bus.publish_live(Some(env), kind, || {
                let mut data = data;
                data["op"] = serde_json::json!(op);
                data
            });
        }
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
        if let Some(Publisher { bus, op, env: Some(env) }) = &self.events {
            bus.publish_live(
                Some(env),
                event_kinds::ENV_PROGRESS,
                || serde_json::json!({"op": op, "stream": stream, "line": line}),
            );
        }
        for watcher in &self.watchers {
            watcher.send(&self.log, stream, line);
        }
    }
}

impl Watcher {
    /// Queues a line without waiting; a full buffer drops it and counts it,
    /// and the next line that fits is preceded by a note of how many.
    fn send(&self, log: &MonoLog, stream: OpStream, line: &str) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 && self.tx.capacity() > 1 {
            let note = format!("[{dropped} lines not shown; see {}]", log.path().display());
            if self.tx.try_send(OpOutput { stream: OpStream::Log, line: note }).is_ok() {
                self.dropped.store(0, Ordering::Relaxed);
            }
        }
        if self.tx.try_send(OpOutput { stream, line: line.to_string() }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_of_one_id_are_claimed_together_and_forgotten_alone() {
        let watchers = Watchers::default();
        let first = watchers.watch("op");
        let second = watchers.watch("op");
        let leaving = watchers.watch("op");
        let other = watchers.watch("other");
        watchers.forget("op", leaving.id);
        // Forgetting an id of another operation removes nothing.
        watchers.forget("op", other.id);
        let claimed = watchers.claim(Some("op"));
        assert_eq!(claimed.len(), 2);
        for w in &claimed {
            w.tx.try_send(OpOutput { stream: OpStream::Out, line: "x".into() }).unwrap();
        }
        let (mut a, mut b) = (first.lines, second.lines);
        assert_eq!(a.try_recv().unwrap().line, "x");
        assert_eq!(b.try_recv().unwrap().line, "x");
        assert!(watchers.claim(Some("op")).is_empty(), "claimed once");
        assert_eq!(watchers.claim(Some("other")).len(), 1);
    }
}
