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

use jsonrpsee::{SubscriptionMessage, SubscriptionSink};
use mono_proto::{Event, event_kinds};
use tokio::sync::broadcast;

use crate::events::{EventBus, PAGE, Page};

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
    Live(broadcast::Receiver<Event>),
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
    let (mut last, mut live) = match start {
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
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(e) if e.seq <= last => {}
                Ok(e) => {
                    last = e.seq;
                    if filter.wants(&e) && sink.send(message(&e)?).await.is_err() {
                        return Ok(());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = sink.send(message(&marker(event_kinds::LAGGED, last))?).await;
                    return Ok(());
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = sink.closed() => return Ok(()),
        }
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
