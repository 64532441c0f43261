//! Running an operation while printing its live output.

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use jsonrpsee::core::client::{Client, Error, Subscription};
use mono_proto::api::MonoApiClient;
use mono_proto::{Event, OpOutput, event_kinds};

use crate::connect::Endpoint;
use crate::error::from_rpc;
use crate::render;

/// A fresh operation id for `ops.watch`.
fn op_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Runs a long operation over a WebSocket, printing its output as it comes
/// (`ops.watch`), and ends on its reply: the daemon sends every line of the
/// operation before it, so nothing else is waited for.
///
/// The protocol check and the subscription to the operation's output go out
/// together; `start` then begins the operation under the subscribed id. A
/// daemon of another protocol is replaced first (when idle). With `pulls`
/// (and `json`), the operation's `image.pull` events are printed too, one
/// JSON object a line on stderr, from a live subscription made beside it.
pub fn run_op<T, F, Fut>(ep: &Endpoint, json: bool, pulls: bool, start: F) -> anyhow::Result<T>
where
    F: Fn(Arc<Client>, String) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let want_pulls = pulls && json;
    super::block_on(ep, async {
        let (client, op, (lines, pulls)) = subscribed(ep, |client, op| async move {
            let pulls = async {
                if !want_pulls {
                    return Ok(None);
                }
                let kinds = vec![event_kinds::IMAGE_PULL.to_string()];
                client.events_subscribe(None, None, Some(kinds), Some(true), Some(op.clone())).await.map(Some)
            };
            let (lines, pulls) = tokio::join!(client.ops_watch(op.clone()), pulls);
            Ok::<_, Error>((lines?, pulls?))
        })
        .await?;
        print_until_done(lines, pulls, start(client, op), json).await.map_err(from_rpc)
    })
}

/// A WebSocket to a daemon of this protocol (an idle one of another is
/// replaced), with a fresh operation id and `subscribe`'s subscription for
/// it, made together with the protocol check.
async fn subscribed<S, SF>(
    ep: &Endpoint,
    subscribe: impl Fn(Arc<Client>, String) -> SF,
) -> anyhow::Result<(Arc<Client>, String, S)>
where
    SF: Future<Output = Result<S, Error>>,
{
    let mut replaced = false;
    let mut started = false;
    loop {
        // No daemon (or a dying one): start one, once, then connect again.
        let client = match ep.websocket().await {
            Ok(client) => Arc::new(client),
            Err(e) if !started && crate::unary::is_absent_error(&e) => {
                started = true;
                ep.start()?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let op = op_id();
        let (status, sub) = tokio::join!(client.daemon_status(), subscribe(client.clone(), op.clone()));
        let status = status.map_err(from_rpc)?;
        if !replaced && !crate::connect::is_current(&status) {
            replaced = true;
            if ep.replace(&status)? {
                drop((sub, client));
                continue;
            }
        }
        return Ok((client, op, sub.map_err(from_rpc)?));
    }
}

/// Prints the subscription's lines (and pull events) until `call` replies.
async fn print_until_done<T>(
    mut lines: Subscription<OpOutput>,
    mut pulls: Option<Subscription<Event>>,
    call: impl Future<Output = Result<T, Error>>,
    json: bool,
) -> Result<T, Error> {
    tokio::pin!(call);
    let mut live = true;
    loop {
        tokio::select! {
            biased;
            item = lines.next(), if live => match item {
                Some(Ok(line)) => render::progress(&line, json),
                Some(Err(_)) => {}
                None => live = false,
            },
            item = next_pull(&mut pulls) => match item {
                Some(Ok(e)) => render::event_line(&e),
                Some(Err(_)) => {}
                None => pulls = None,
            },
            result = &mut call => {
                // Lines sent before the reply are already buffered.
                while let Some(Some(Ok(line))) = lines.next().now_or_never() {
                    render::progress(&line, json);
                }
                // Pull events that came before it, too; the pulls of an
                // operation end long before its reply (containers start after).
                while let Some(Some(Ok(e))) = pulls.as_mut().and_then(|p| p.next().now_or_never()) {
                    render::event_line(&e);
                }
                return result;
            }
        }
    }
}

/// The next pull event, or never without a subscription to them.
async fn next_pull(pulls: &mut Option<Subscription<Event>>) -> Option<Result<Event, serde_json::Error>> {
    match pulls {
        Some(sub) => sub.next().await,
        None => std::future::pending().await,
    }
}
