//! Running an operation while printing its live output.

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use jsonrpsee::core::client::{Client, Error, Subscription};
use mono_proto::api::MonoApiClient;
use mono_proto::{Event, OpOutput, OpStream, event_kinds};

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
/// (`ops.watch`).
///
/// The protocol check and the subscription to the operation's output go out
/// together; `start` then begins the operation under the subscribed id. A
/// daemon of another protocol is replaced first (when idle).
pub fn run_op<T, F, Fut>(ep: &Endpoint, json: bool, start: F) -> anyhow::Result<T>
where
    F: Fn(Arc<Client>, String) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    super::block_on(async {
        let (client, op, sub) =
            subscribed(ep, |client, op| async move { client.ops_watch(op).await }).await?;
        print_until_done(sub, start(client, op), json).await.map_err(from_rpc)
    })
}

/// How long after its reply an operation's final event may take to arrive.
const FINAL_EVENT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a long operation, printing its progress from the event stream
/// (`env.progress` events of its `op` id), the way any dashboard sees it;
/// with `json`, its `image.pull` events too, one JSON object a line on stderr.
///
/// The subscription is made before the call, so nothing is missed; after the
/// reply the client waits for the operation's final event (`env.ready` or
/// `env.failed`), which the daemon publishes after every progress line.
pub fn run_op_events<T, F, Fut>(ep: &Endpoint, json: bool, start: F) -> anyhow::Result<T>
where
    F: Fn(Arc<Client>, String) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    super::block_on(async {
        let (client, op, sub) = subscribed(ep, |client, op| async move {
            let kinds = vec![
                event_kinds::ENV_PROGRESS.to_string(),
                event_kinds::IMAGE_PULL.into(),
                event_kinds::ENV_READY.into(),
                event_kinds::ENV_FAILED.into(),
            ];
            client.events_subscribe(None, None, Some(kinds), Some(true), Some(op)).await
        })
        .await?;
        print_events_until_done(sub, start(client, op), json).await.map_err(from_rpc)
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

/// Prints progress events until `call` has replied and the final event came.
async fn print_events_until_done<T>(
    mut sub: Subscription<Event>,
    call: impl Future<Output = Result<T, Error>>,
    json: bool,
) -> Result<T, Error> {
    tokio::pin!(call);
    let mut reply: Option<Result<T, Error>> = None;
    let mut deadline = None;
    let mut progressed = false;
    let mut finished = false;
    loop {
        if let Some(r) = &reply {
            // Before registration nothing is published and no final event comes.
            if finished || (r.is_err() && !progressed) {
                return reply.expect("checked");
            }
        }
        tokio::select! {
            biased;
            item = sub.next(), if !finished => match item {
                Some(Ok(e)) if e.kind == event_kinds::ENV_PROGRESS => {
                    progressed = true;
                    let text = |k: &str| e.data.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                    let stream = match text("stream").as_str() {
                        "out" => OpStream::Out,
                        "err" => OpStream::Err,
                        _ => OpStream::Log,
                    };
                    render::progress(&OpOutput { stream, line: text("line") }, json);
                }
                // Pull progress is in the lines already; `--json` consumers get the events too.
                Some(Ok(e)) if e.kind == event_kinds::IMAGE_PULL => {
                    progressed = true;
                    if json {
                        render::event_line(&e);
                    }
                }
                Some(Ok(_)) | None => finished = true,
                Some(Err(_)) => {}
            },
            result = &mut call, if reply.is_none() => {
                reply = Some(result);
                deadline = Some(tokio::time::Instant::now() + FINAL_EVENT_WAIT);
            }
            () = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                finished = true;
            }
        }
    }
}

/// Prints the subscription's lines until `call` replies.
async fn print_until_done<T>(
    mut sub: Subscription<OpOutput>,
    call: impl Future<Output = Result<T, Error>>,
    json: bool,
) -> Result<T, Error> {
    tokio::pin!(call);
    let mut live = true;
    loop {
        tokio::select! {
            biased;
            item = sub.next(), if live => match item {
                Some(Ok(line)) => render::progress(&line, json),
                Some(Err(_)) => {}
                None => live = false,
            },
            result = &mut call => {
                // Lines sent before the reply are already buffered.
                while let Some(Some(Ok(line))) = sub.next().now_or_never() {
                    render::progress(&line, json);
                }
                return result;
            }
        }
    }
}
