//! The event log: every state change as an [`Event`], stored in SQLite and
//! broadcast to live subscribers; and beside it, operations' output as
//! live-only events that are never stored.
//!
//! The log keeps what a dashboard resuming with `since` needs: lifecycle
//! and state changes (`env.created`, `env.ready`, `run.exited`, ...). An
//! operation's output (`env.progress`, `image.pull`) can be far more
//! chatty than that (an `npm install`'s every line): stored, it would push
//! the lifecycle events out of the retention window, and it is in
//! `mono.log` already. So it goes out on a channel of its own
//! ([`EventBus::publish_live`]), bounded, with `seq` 0, straight from the
//! operation (never through the state thread), to subscribers that ask for
//! those kinds; one that falls behind on it misses lines, not events.
//!
//! Storing and broadcasting happen in one job on the state thread. A
//! subscriber that asks for stored events reads them in bounded pages, one
//! job per page, taking the next page only once it has sent the last one:
//! however long the log and however slow the subscriber, it holds one page.
//! Events stored meanwhile are simply on a later page. The page that comes
//! back short (the log is exhausted) also subscribes to the live channel,
//! in the same job; jobs on that thread run one at a time, so every event is
//! either on a page or on the live channel, never both and never neither:
//! the seam has no gap and no duplicate. The live channel is bounded; a
//! subscriber that falls behind is told so and can resume with `since`, and
//! never slows the daemon or anyone else down.
//!
//! An event is broadcast only once it is stored, with the seq the database
//! gave it. One that cannot be stored (a full disk) is not lost: it waits,
//! in order, in a bounded queue, and is stored and broadcast before any
//! newer event, at the next emit or retry, once there is room again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mono_proto::Event;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::settings::EventSettings;
use crate::state::{StateError, Store, sql};

/// Pruning runs once per this many events.
const PRUNE_EVERY: u64 = 256;
/// Events kept in memory while they cannot be stored; the oldest beyond
/// this are dropped (and counted in the log).
const MAX_UNSTORED: usize = 4096;
/// How often unstored events are tried again when no new event comes.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// An event that happened but is not stored yet.
struct Unstored {
    time: String,
    env: Option<String>,
    kind: String,
    data: serde_json::Value,
}

/// Stored events read per page of a replay.
pub const PAGE: usize = 64;

/// Live-only events (operations' output) buffered per subscriber before it
/// misses some; they are never stored, so nothing waits for a slow reader.
pub const LIVE_OUTPUT_BUFFER: usize = 4096;

/// Whether events of `kind` are live only: published while they happen,
/// never stored, never replayed (see the module docs).
pub fn is_live_only(kind: &str) -> bool {
    mono_proto::event_kinds::LIVE_ONLY.contains(&kind)
}

/// One page of a replay: stored events in order and, once the log is
/// exhausted, the live channels from exactly after them.
pub struct Page {
    /// Stored events after the seq asked for, at most the page size.
    pub events: Vec<Event>,
    /// The live channels, when this page reached the end of the log.
    pub live: Option<Live>,
}

/// The live channels of a subscriber: stored events as they are stored,
/// and live-only events (operations' output) as they happen.
pub struct Live {
    /// Events as they are stored, in seq order.
    pub stored: broadcast::Receiver<Event>,
    /// Live-only events (`seq` 0), on a bounded channel of their own.
    pub output: broadcast::Receiver<Event>,
}

/// The event log and its live channel; clones share both.
#[derive(Clone)]
pub struct EventBus {
    store: Store,
    live: broadcast::Sender<Event>,
    /// Live-only events: never stored, never replayed.
    output: broadcast::Sender<Event>,
    keep: EventSettings,
    /// Touched only by jobs on the state thread, so stored order is kept.
    unstored: Arc<Mutex<VecDeque<Unstored>>>,
    retrying: Arc<AtomicBool>,
    /// Ends the retries (the daemon is shutting down).
    closed: CancellationToken,
}

impl EventBus {
    /// A bus over the state store, keeping and buffering as `settings` say.
    pub fn new(store: Store, settings: EventSettings) -> EventBus {
        EventBus {
            store,
            live: broadcast::channel(settings.live_buffer).0,
            output: broadcast::channel(LIVE_OUTPUT_BUFFER).0,
            keep: settings,
            unstored: Arc::default(),
            retrying: Arc::default(),
            closed: CancellationToken::new(),
        }
    }

    /// Stops retrying unstored events, so the state thread can close; what
    /// is still unstored is counted in the log.
    pub fn close(&self) {
        self.closed.cancel();
        let left = self.unstored();
        if left > 0 {
            tracing::warn!(left, "events that could not be stored are lost at shutdown");
        }
    }

    /// Records and broadcasts an event, returning its seq; `None` when it
    /// could not be stored yet (it is kept and stored later, see the module
    /// docs). Failing to record it is logged, never returned: an event log
    /// problem must not fail the operation it reports.
    pub async fn emit(&self, env: Option<&str>, kind: &str, data: serde_json::Value) -> Option<u64> {
        let event = Unstored {
            time: jiff::Timestamp::now().to_string(),
            env: env.map(str::to_string),
            kind: kind.to_string(),
            data,
        };
        let result = self.store_job(Some(event), true).await;
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot record an event");
            None
        })
    }

    /// Records and broadcasts an event whose seq is needed at once (a run's
    /// id is its `run.started` seq), or fails and keeps nothing of it.
    pub async fn try_emit(
        &self,
        env: Option<&str>,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<u64, StateError> {
        let event = Unstored {
            time: jiff::Timestamp::now().to_string(),
            env: env.map(str::to_string),
            kind: kind.to_string(),
            data,
        };
        let stored = self.store_job(Some(event), false).await?;
        Ok(stored.expect("the event was stored"))
    }

    /// Stores the unstored events, then `event`, in order, broadcasting each
    /// once stored; keeps what cannot be stored (but `event` only when
    /// `keep`) and retries it later.
    async fn store_job(&self, event: Option<Unstored>, keep_event: bool) -> Result<Option<u64>, StateError> {
        let (live, unstored) = (self.live.clone(), self.unstored.clone());
        let keep = i64::try_from(self.keep.keep).unwrap_or(i64::MAX);
        let max_age = format!("-{} seconds", self.keep.max_age.as_secs());
        let result = self
            .store
            .call(move |conn, path| {
                let mut queue = unstored.lock().unwrap_or_else(|p| p.into_inner());
                let event_queued = event.is_some();
                queue.extend(event);
                let mut last = None;
                while let Some(next) = queue.front() {
                    match insert(conn, next, keep, &max_age) {
                        Ok(seq) => {
                            let e = queue.pop_front().expect("front");
                            let _ = live.send(Event {
                                seq,
                                time: e.time,
                                env: e.env,
                                kind: e.kind,
                                data: e.data,
                            });
                            last = Some(seq);
                        }
                        Err(error) => {
                            if !keep_event && event_queued {
                                queue.pop_back();
                            }
                            let dropped = queue.len().saturating_sub(MAX_UNSTORED);
                            queue.drain(..dropped);
                            if dropped > 0 {
                                tracing::warn!(dropped, "dropped the oldest events that could not be stored");
                            }
                            return Err(sql(path)(error));
                        }
                    }
                }
                Ok(last)
            })
            .await;
        if result.is_err() && self.unstored() > 0 {
            self.retry_later();
        }
        result
    }

    /// Tries the unstored events again every [`RETRY_EVERY`] until they are
    /// stored (one task at a time).
    fn retry_later(&self) {
        if self.closed.is_cancelled() || self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RETRY_EVERY) => {}
                    () = bus.closed.cancelled() => return,
                }
                let stored = bus.store_job(None, true).await;
                if !matches!(stored, Err(StateError::Sqlite { .. })) {
                    break;
                }
            }
            bus.retrying.store(false, Ordering::Release);
            // An event that failed while this task was finishing.
            if bus.unstored() > 0 {
                bus.retry_later();
            }
        });
    }

    /// Publishes a live-only event (an operation's output): to the
    /// subscribers that follow such events now, with `seq` 0, and nowhere
    /// else (it is never stored). It does not wait, and it costs only a
    /// check when nobody follows; `data` is built only then. Published
    /// before an operation's final event is stored, it reaches each
    /// subscriber before that event (see `rpc::event_stream`).
    pub fn publish_live(&self, env: Option<&str>, kind: &str, data: impl FnOnce() -> serde_json::Value) {
        if self.output.receiver_count() == 0 {
            return;
        }
        let _ = self.output.send(Event {
            seq: 0,
            time: jiff::Timestamp::now().to_string(),
            env: env.map(str::to_string),
            kind: kind.to_string(),
            data: data(),
        });
    }

    /// The stored events from now on, as they are stored.
    pub fn live(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// Both live channels from now on (a subscriber that wants no stored
    /// events).
    pub fn live_channels(&self) -> Live {
        Live { stored: self.live.subscribe(), output: self.output.subscribe() }
    }

    /// Up to `limit` stored events after seq `after`; when fewer come back,
    /// the log is exhausted and the page carries the live channel from
    /// exactly after them (see the module docs).
    pub async fn page(&self, after: u64, limit: usize) -> Result<Page, StateError> {
        let (live, output) = (self.live.clone(), self.output.clone());
        self.store
            .call(move |conn, path| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, time, env, kind, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(sql(path))?;
                let rows = stmt
                    .query_map(params![after as i64, limit as i64], |r| {
                        let data: String = r.get(4)?;
                        Ok(Event {
                            seq: r.get::<_, i64>(0)? as u64,
                            time: r.get(1)?,
                            env: r.get(2)?,
                            kind: r.get(3)?,
                            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                        })
                    })
                    .map_err(sql(path))?;
                let events = rows.collect::<Result<Vec<_>, _>>().map_err(sql(path))?;
                let live = (events.len() < limit)
                    .then(|| Live { stored: live.subscribe(), output: output.subscribe() });
                Ok(Page { events, live })
            })
            .await
    }

    /// How many events wait to be stored.
    pub fn unstored(&self) -> usize {
        self.unstored.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The newest seq, 0 when there is none.
    pub async fn last_seq(&self) -> Result<u64, StateError> {
        self.store
            .call(|conn, path| {
                conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'events'", [], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()
                .map(|s| s.unwrap_or(0) as u64)
                .map_err(sql(path))
            })
            .await
    }
}

/// Stores one event and prunes now and then; its seq. The statement is
/// stepped to its end, where the commit happens: a commit that fails (a
/// full disk) is an error, not a seq that the next insert takes again.
fn insert(conn: &mut Connection, e: &Unstored, keep: i64, max_age: &str) -> Result<u64, rusqlite::Error> {
    // Prepared once per connection: the hot path of every event.
    let mut stmt = conn
        .prepare_cached("INSERT INTO events (time, env, kind, data) VALUES (?1, ?2, ?3, ?4) RETURNING seq")?;
    let mut rows = stmt.query(params![e.time, e.env, e.kind, e.data.to_string()])?;
    let seq: i64 = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?.get(0)?;
    while rows.next()?.is_some() {}
    drop(rows);
    drop(stmt);
    let seq = seq as u64;
    if seq.is_multiple_of(PRUNE_EVERY) {
        // Both by the primary key: by count, a range; by age, up to the
        // oldest event young enough to keep (seq and time grow together),
        // found by walking from the oldest. No full scan on this path.
        conn.execute("DELETE FROM events WHERE seq <= ?1 - ?2", params![seq as i64, keep])?;
        conn.execute(
            "DELETE FROM events WHERE seq < (SELECT seq FROM events \
             WHERE time >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1) ORDER BY seq LIMIT 1)",
            params![max_age],
        )?;
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored event after `since`, page by page, and the live channel.
    async fn replay(bus: &EventBus, since: u64, limit: usize) -> (Vec<u64>, broadcast::Receiver<Event>) {
        let mut seqs = Vec::new();
        let mut after = since;
        loop {
            let page = bus.page(after, limit).await.unwrap();
            assert!(page.events.len() <= limit);
            for e in page.events {
                after = e.seq;
                seqs.push(e.seq);
            }
            if let Some(live) = page.live {
                return (seqs, live.stored);
            }
        }
    }

    /// A database that refuses to grow (SQLite's `max_page_count`) stands
    /// for a full disk: events are neither lost nor numbered twice.
    #[tokio::test]
    async fn events_that_cannot_be_stored_wait_and_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let bus = EventBus::new(store.clone(), EventSettings::default());
        let mut rx = bus.live();
        assert_eq!(bus.emit(None, "k", serde_json::json!(0)).await, Some(1));
        let limit = |pages: &'static str| {
            store.call(move |conn, path| {
                conn.pragma_update(None, "max_page_count", pages).map_err(sql(path))?;
                Ok(())
            })
        };
        let big = "x".repeat(64 * 1024);
        limit("1").await.unwrap();
        for i in 1..=3 {
            assert_eq!(bus.emit(None, "k", serde_json::json!({ "i": i, "pad": big })).await, None);
        }
        assert_eq!(bus.unstored(), 3);
        // One whose seq is needed at once fails, and is not kept.
        assert!(bus.try_emit(None, "k", serde_json::json!({ "i": "now", "pad": big })).await.is_err());
        assert_eq!(bus.unstored(), 3);
        assert!(rx.try_recv().is_ok_and(|e| e.seq == 1));
        assert!(rx.try_recv().is_err(), "an unstored event was broadcast");
        limit("1000000").await.unwrap();
        // Stored, in order, before the next one.
        assert_eq!(bus.emit(None, "k", serde_json::json!({ "i": 4 })).await, Some(5));
        assert_eq!(bus.unstored(), 0);
        let live: Vec<(u64, serde_json::Value)> =
            std::iter::from_fn(|| rx.try_recv().ok()).map(|e| (e.seq, e.data["i"].clone())).collect();
        assert_eq!(live, (2..=5).map(|s| (s, serde_json::json!(s - 1))).collect::<Vec<_>>());
        let (stored, _) = replay(&bus, 0, PAGE).await;
        assert_eq!(stored, vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn replay_then_live_without_gap_or_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let bus = std::sync::Arc::new(EventBus::new(store, EventSettings::default()));
        for i in 0..50 {
            bus.emit(Some("e"), "k", serde_json::json!({ "i": i })).await;
        }
        // Emit concurrently with the subscription: the seam must be exact.
        let emitter = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for i in 50..150 {
                    bus.emit(None, "k", serde_json::json!({ "i": i })).await;
                }
            })
        };
        let (mut seqs, mut rx) = replay(&bus, 10, PAGE).await;
        emitter.await.unwrap();
        while let Ok(e) = rx.try_recv() {
            seqs.push(e.seq);
        }
        assert_eq!(seqs, (11..=150).collect::<Vec<u64>>());
        assert_eq!(bus.last_seq().await.unwrap(), 150);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_stored_during_a_long_paged_replay_join_without_gap_or_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let bus = std::sync::Arc::new(EventBus::new(store, EventSettings::default()));
        for i in 0..2000 {
            bus.emit(None, "k", serde_json::json!({ "i": i })).await;
        }
        let emitter = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for i in 2000..3000 {
                    bus.emit(None, "k", serde_json::json!({ "i": i })).await;
                }
            })
        };
        // Small pages: the replay takes many jobs, interleaved with the
        // emitter's; the emitter outlasts some of it.
        let mut pages = 0;
        let mut seqs = Vec::new();
        let mut after = 0;
        let mut live = loop {
            let page = bus.page(after, 7).await.unwrap();
            pages += 1;
            for e in page.events {
                after = e.seq;
                seqs.push(e.seq);
            }
            if let Some(live) = page.live {
                break live.stored;
            }
        };
        emitter.await.unwrap();
        while let Ok(e) = live.try_recv() {
            seqs.push(e.seq);
        }
        assert!(pages > 2000 / 7, "{pages} pages");
        assert_eq!(seqs, (1..=3000).collect::<Vec<u64>>());
    }

    /// Operation output reaches those who follow it live, and the log
    /// keeps none of it, however much there is.
    #[tokio::test]
    async fn live_only_events_are_broadcast_and_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let bus = EventBus::new(store, EventSettings::default());
        // Nobody follows: the data is not even built.
        bus.publish_live(Some("e"), "env.progress", || panic!("built for nobody"));
        let created = bus.emit(Some("e"), "env.created", serde_json::json!({})).await.unwrap();
        let mut live = bus.live_channels();
        for i in 0..LIVE_OUTPUT_BUFFER + 10 {
            bus.publish_live(Some("e"), "env.progress", || serde_json::json!({ "line": i }));
        }
        let ready = bus.emit(Some("e"), "env.ready", serde_json::json!({})).await.unwrap();
        assert_eq!(ready, created + 1, "no seq was taken by output");
        // A subscriber behind by more than the buffer misses the oldest
        // lines and is told how many; the stored events are untouched.
        assert!(matches!(live.output.try_recv(), Err(broadcast::error::TryRecvError::Lagged(10))));
        let next = live.output.try_recv().unwrap();
        assert_eq!((next.seq, next.kind.as_str(), next.env.as_deref()), (0, "env.progress", Some("e")));
        assert_eq!(next.data["line"], 10);
        assert_eq!(std::iter::from_fn(|| live.output.try_recv().ok()).count(), LIVE_OUTPUT_BUFFER - 1);
        assert_eq!(live.stored.try_recv().unwrap().seq, ready);
        let (stored, _) = replay(&bus, 0, PAGE).await;
        assert_eq!(stored, vec![created, ready]);
    }

    #[tokio::test]
    async fn retention_prunes_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let settings = EventSettings { keep: 100, ..EventSettings::default() };
        let bus = EventBus::new(store, settings);
        for _ in 0..PRUNE_EVERY {
            bus.emit(None, "k", serde_json::Value::Null).await;
        }
        let (replay, _) = replay(&bus, 0, PAGE).await;
        let first = PRUNE_EVERY - 100 + 1;
        assert_eq!(replay, (first..=PRUNE_EVERY).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn retention_prunes_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .call(|conn, _| {
                for _ in 0..10 {
                    conn.execute(
                        "INSERT INTO events (time, env, kind, data) VALUES ('2020-01-01T00:00:00Z', NULL, 'old', 'null')",
                        [],
                    )
                    .unwrap();
                }
                Ok(())
            })
            .await
            .unwrap();
        let bus = EventBus::new(store, EventSettings::default());
        for _ in 10..PRUNE_EVERY {
            bus.emit(None, "k", serde_json::Value::Null).await;
        }
        let page = bus.page(0, 1000).await.unwrap();
        assert_eq!(page.events.first().map(|e| e.seq), Some(11));
        assert!(page.events.iter().all(|e| e.kind == "k"));
    }

    #[tokio::test]
    async fn seq_survives_reopen_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let (store, thread) = Store::open(&path).unwrap();
            let bus = EventBus::new(store, EventSettings::default());
            bus.emit(None, "k", serde_json::Value::Null).await;
            bus.emit(None, "k", serde_json::Value::Null).await;
            drop(bus);
            thread.join();
        }
        let (store, _t) = Store::open(&path).unwrap();
        let bus = EventBus::new(store, EventSettings::default());
        bus.emit(None, "k", serde_json::Value::Null).await;
        assert_eq!(replay(&bus, 0, 2).await.0, vec![1, 2, 3]);
    }
}
