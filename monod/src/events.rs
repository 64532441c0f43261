//! The event log: every state change as an [`Event`], stored in SQLite and
//! broadcast to live subscribers.
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

use mono_proto::Event;
use rusqlite::{OptionalExtension, params};
use tokio::sync::broadcast;

use crate::settings::EventSettings;
use crate::state::{StateError, Store, sql};

/// Pruning runs once per this many events.
const PRUNE_EVERY: u64 = 256;

/// Stored events read per page of a replay.
pub const PAGE: usize = 64;

/// One page of a replay: stored events in order and, once the log is
/// exhausted, the live channel from exactly after them.
pub struct Page {
    /// Stored events after the seq asked for, at most the page size.
    pub events: Vec<Event>,
    /// The live channel, when this page reached the end of the log.
    pub live: Option<broadcast::Receiver<Event>>,
}

/// The event log and its live channel; clones share both.
#[derive(Clone)]
pub struct EventBus {
    store: Store,
    live: broadcast::Sender<Event>,
    keep: EventSettings,
}

impl EventBus {
    /// A bus over the state store, keeping and buffering as `settings` say.
    pub fn new(store: Store, settings: EventSettings) -> EventBus {
        EventBus { store, live: broadcast::channel(settings.live_buffer).0, keep: settings }
    }

    /// Records and broadcasts an event, returning its seq. Failing to record
    /// it is logged, never returned: an event log problem must not fail the
    /// operation it reports.
    pub async fn emit(&self, env: Option<&str>, kind: &str, data: serde_json::Value) -> Option<u64> {
        let live = self.live.clone();
        let (env, kind) = (env.map(str::to_string), kind.to_string());
        let keep = i64::try_from(self.keep.keep).unwrap_or(i64::MAX);
        let max_age = format!("-{} seconds", self.keep.max_age.as_secs());
        let result = self
            .store
            .call(move |conn, path| {
                let time = jiff::Timestamp::now().to_string();
                let text = data.to_string();
                // Prepared once per connection: the hot path of every event.
                let seq: i64 = conn
                    .prepare_cached(
                        "INSERT INTO events (time, env, kind, data) VALUES (?1, ?2, ?3, ?4) RETURNING seq",
                    )
                    .and_then(|mut stmt| stmt.query_row(params![time, env, kind, text], |r| r.get(0)))
                    .map_err(sql(path))?;
                let seq = seq as u64;
                if seq.is_multiple_of(PRUNE_EVERY) {
                    // Both by the primary key: by count, a range; by age, up to the
                    // oldest event young enough to keep (seq and time grow together),
                    // found by walking from the oldest. No full scan on this path.
                    conn.execute("DELETE FROM events WHERE seq <= ?1 - ?2", params![seq as i64, keep])
                        .map_err(sql(path))?;
                    conn.execute(
                        "DELETE FROM events WHERE seq < (SELECT seq FROM events \
                         WHERE time >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1) ORDER BY seq LIMIT 1)",
                        params![max_age],
                    )
                    .map_err(sql(path))?;
                }
                let _ = live.send(Event { seq, time, env, kind, data });
                Ok(seq)
            })
            .await;
        result.map_err(|e| tracing::warn!(error = %e, "cannot record an event")).ok()
    }

    /// The live channel from now on (a subscriber that wants no stored events).
    pub fn live(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// Up to `limit` stored events after seq `after`; when fewer come back,
    /// the log is exhausted and the page carries the live channel from
    /// exactly after them (see the module docs).
    pub async fn page(&self, after: u64, limit: usize) -> Result<Page, StateError> {
        let live = self.live.clone();
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
                let live = (events.len() < limit).then(|| live.subscribe());
                Ok(Page { events, live })
            })
            .await
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
                return (seqs, live);
            }
        }
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
                break live;
            }
        };
        emitter.await.unwrap();
        while let Ok(e) = live.try_recv() {
            seqs.push(e.seq);
        }
        assert!(pages > 2000 / 7, "{pages} pages");
        assert_eq!(seqs, (1..=3000).collect::<Vec<u64>>());
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
