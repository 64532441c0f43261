//! `events.subscribe`: stored events page by page, then live ones, to one
//! subscription sink.
//!
//! Memory per subscriber is bounded whatever it asks for and however slowly
//! it reads: one page of stored events (read on the state thread only once
//! the previous page is sent), plus what the connection's bounded outgoing
//! buffer holds. Sending waits while that buffer is full, so a subscriber
//! that does not read costs nothing more; live events wait for it in the
//! shared broadcast ring, and one that falls more than
//! `events.live_buffer` behind gets `subscription.lagged` and is dropped.
//!
//! Operations' output (the live-only kinds, `seq` 0) comes from a channel
//! of its own, only to a subscriber that names those kinds, once it follows
//! live events. Missing some of it (being more than its buffer behind)
//! costs those lines only; the subscription goes on. An operation
//! publishes its output before its final event is stored, so when that
//! event arrives, the output before it is in its channel already: it is
//! sent first, and the order a subscriber sees is the order things
//! happened.

use jsonrpsee::{SubscriptionMessage, SubscriptionSink};
use mono_proto::{Event, event_kinds};
use tokio::sync::broadcast;

use crate::events::{EventBus, Live, PAGE, Page, is_live_only};

/// Where a subscription starts: the first page of stored events (read
/// before the subscription is accepted, so a store failure is the call's
/// error), or the live channel alone.
pub enum Start {
    /// Replay stored events after `since`, beginning with this page.
    Replay {
        /// The seq the replay starts after.
        since: u64,
        /// Its first page.
        first: Page,
    },
    /// Only events from now on.
    Live(Live),
}

/// Which events a subscriber wants.
pub struct Filter {
    /// Only this environment's.
    pub env: Option<String>,
    /// Only these kinds.
    pub kinds: Option<Vec<String>>,
    /// Only those of this operation id (`data.op`).
    pub op: Option<String>,
}

impl Filter {
    fn wants(&self, e: &Event) -> bool {
        self.env.as_ref().is_none_or(|n| e.env.as_ref() == Some(n))
            && self.kinds.as_ref().is_none_or(|k| k.contains(&e.kind))
            && self.op.as_ref().is_none_or(|op| e.data.get("op").and_then(|v| v.as_str()) == Some(op))
    }

    /// Whether the subscriber asked for any live-only kind (by name: a
    /// subscriber of every kind gets the stored ones).
    fn wants_output(&self) -> bool {
        self.kinds.as_ref().is_some_and(|k| k.iter().any(|k| is_live_only(k)))
    }
}

/// Why a stream ended early with an error for the subscriber.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A page of stored events could not be read.
    #[error("cannot read the stored events: {0}")]
    State(#[from] crate::state::StateError),
    /// An event could not be serialised.
    #[error("cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Sends what `start` begins with, the rest of the stored events page by
/// page, then (with `follow`) live events until the subscriber leaves or
/// lags, else `subscription.end`.
pub async fn forward(
    sink: &SubscriptionSink,
    bus: &EventBus,
    start: Start,
    filter: &Filter,
    follow: bool,
) -> Result<(), StreamError> {
    let (mut last, live) = match start {
        Start::Live(live) => (0, live),
        Start::Replay { since, first } => {
            let mut last = since;
            let mut page = first;
            loop {
                for e in page.events {
                    last = e.seq;
                    if filter.wants(&e) && sink.send(message(&e)?).await.is_err() {
                        return Ok(());
                    }
                }
                if let Some(live) = page.live {
                    break (last, live);
                }
                page = bus.page(last, PAGE).await?;
            }
        }
    };
    if !follow {
        let _ = sink.send(message(&marker(event_kinds::END, last))?).await;
        return Ok(());
    }
    let Live { stored: mut live, output } = live;
    // Not wanted: dropped at once, so it holds nothing of the ring.
    let mut output = filter.wants_output().then_some(output);
    loop {
        let e = tokio::select! {
            biased;
            received = live.recv() => match received {
                Ok(e) if e.seq <= last => continue,
                Ok(e) => {
                    last = e.seq;
                    // What was published before it is in its channel by
                    // now (an operation's lines before its final event):
                    // it goes first. Only that much, however busy it is.
                    if let Some(rx) = &mut output {
                        for _ in 0..rx.len() {
                            match rx.try_recv() {
                                Ok(o) if filter.wants(&o) => {
                                    if sink.send(message(&o)?).await.is_err() {
                                        return Ok(());
                                    }
                                }
                                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                                Err(_) => break,
                            }
                        }
                    }
                    e
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = sink.send(message(&marker(event_kinds::LAGGED, last))?).await;
                    return Ok(());
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            received = next_output(&mut output) => match received {
                Ok(e) => e,
                // Those lines are only in mono.log now; the rest follows.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    output = None;
                    continue;
                }
            },
            _ = sink.closed() => return Ok(()),
        };
        if filter.wants(&e) && sink.send(message(&e)?).await.is_err() {
            return Ok(());
        }
    }
}

/// The next live-only event, or never when the subscriber wants none.
async fn next_output(
    output: &mut Option<broadcast::Receiver<Event>>,
) -> Result<Event, broadcast::error::RecvError> {
    match output {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn message(e: &Event) -> Result<SubscriptionMessage, serde_json::Error> {
    serde_json::value::to_raw_value(e).map(SubscriptionMessage::from)
}

/// A control notice on the event stream (not a stored event: `seq` 0).
fn marker(kind: &str, last_seq: u64) -> Event {
    Event {
        seq: 0,
        time: jiff::Timestamp::now().to_string(),
        env: None,
        kind: kind.to_string(),
        data: serde_json::json!({ "last_seq": last_seq }),
    }
}
