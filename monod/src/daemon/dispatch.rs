//! Running checked messages ([`envelope`](super::envelope)) against the
//! registered methods, for either transport.
//!
//! monod calls jsonrpsee's method callbacks itself rather than through
//! jsonrpsee's server, because that server parses (and misreads) each
//! message before any hook can see it. What it does here is what the
//! specification asks: a request is answered with its id echoed exactly
//! (an id jsonrpsee cannot hold is swapped for null and put back in the
//! reply), a notification is run and never answered, a batch is answered
//! with one array of the replies it has, and a subscription over plain
//! HTTP, which has no channel for its notifications, is told to use the
//! WebSocket.

use std::sync::Arc;

use jsonrpsee::core::id_providers::RandomIntegerIdProvider;
use jsonrpsee::types::error::{INVALID_PARAMS_CODE, METHOD_NOT_FOUND_CODE};
use jsonrpsee::types::{ErrorObjectOwned, Id, Params};
use jsonrpsee::{
    BoundedSubscriptions, ConnectionId, Extensions, MethodCallback, MethodResponse, MethodSink, Methods,
    SubscriptionState,
};
use mono_proto::ProtocolCode;
use serde_json::value::RawValue;

use super::envelope::{self, Entry, Message};

/// Subscriptions one WebSocket may hold at once.
pub const MAX_SUBSCRIPTIONS: u32 = 1024;

/// The methods and the limits every call is run with; shared by all
/// connections.
pub struct Rpc {
    methods: Methods,
    max_response: usize,
}

/// What a WebSocket adds to a call: where notifications go and the
/// subscriptions it holds.
pub struct Channel {
    /// The WebSocket's outgoing messages.
    pub sink: MethodSink,
    /// Its subscription permits.
    pub subscriptions: BoundedSubscriptions,
}

/// The transport a message came on.
#[derive(Clone, Copy)]
pub enum Transport<'a> {
    /// Plain HTTP: one reply per request, no subscriptions.
    Http,
    /// A WebSocket.
    WebSocket(&'a Channel),
}

/// What to do with the first message a subscription sends (its reply).
enum FirstReply {
    /// Put this id back (jsonrpsee held null for it).
    Id(Box<RawValue>),
    /// Drop it: the call was a notification.
    Drop,
}

impl Rpc {
    /// Runs `methods`, with results of at most `max_response` bytes.
    pub fn new(methods: Methods, max_response: usize) -> Arc<Rpc> {
        Arc::new(Rpc { methods, max_response })
    }

    /// Runs one message from connection `conn`; its reply, if it has one
    /// (notifications, and subscriptions whose reply went out on the
    /// WebSocket already, have none).
    pub async fn handle(
        &self,
        message: Message,
        conn: ConnectionId,
        transport: Transport<'_>,
    ) -> Option<String> {
        match message {
            Message::Single(entry) => self.entry(entry, conn, transport).await,
            Message::Batch(entries) => {
                // The replies are bounded as they come, as one reply is: past
                // the limit the rest of the batch does not run.
                let mut replies = String::from("[");
                for entry in entries {
                    let Some(reply) = self.entry(entry, conn, transport).await else { continue };
                    if replies.len() + reply.len() + 1 > self.max_response {
                        let error = ErrorObjectOwned::owned(
                            ProtocolCode::TooBigBatchResponse.code(),
                            format!(
                                "the batch's replies are larger than {} MiB, the limit; send smaller batches",
                                self.max_response >> 20
                            ),
                            None::<()>,
                        );
                        return Some(envelope::error_reply(None, &error));
                    }
                    if replies.len() > 1 {
                        replies.push(',');
                    }
                    replies.push_str(&reply);
                }
                if replies.len() == 1 {
                    return None;
                }
                replies.push(']');
                Some(replies)
            }
        }
    }

    async fn entry(&self, entry: Entry, conn: ConnectionId, transport: Transport<'_>) -> Option<String> {
        match entry {
            Entry::Invalid { id, error } => Some(envelope::error_reply(id.as_deref(), &error)),
            Entry::Call { id, method, params } => self.call(Some(id), &method, params, conn, transport).await,
            Entry::Notification { method, params } => {
                self.call(None, &method, params, conn, transport).await;
                None
            }
        }
    }

    /// Calls `method`; `id` is `None` for a notification.
    async fn call(
        &self,
        id: Option<Box<RawValue>>,
        method: &str,
        params: Option<Box<RawValue>>,
        conn: ConnectionId,
        transport: Transport<'_>,
    ) -> Option<String> {
        let fail = |error: ErrorObjectOwned| id.as_deref().map(|id| envelope::error_reply(Some(id), &error));
        let Some((_, callback)) = self.methods.method_with_name(method) else {
            return fail(ErrorObjectOwned::owned(
                METHOD_NOT_FOUND_CODE,
                format!("Method not found: {method:?}; rpc.discover lists the methods"),
                None::<()>,
            ));
        };
        // jsonrpsee holds ids it can represent; any other is put back after.
        let held = id.as_deref().and_then(held_id);
        let swapped = if held.is_none() { id.clone() } else { None };
        let jid = held.unwrap_or(Id::Null);
        let max = self.max_response;
        let response = match callback {
            MethodCallback::Sync(callback) => {
                callback(jid, Params::new(params.as_deref().map(RawValue::get)), max, Extensions::new())
            }
            MethodCallback::Async(callback) => {
                let params = Params::new(params.as_deref().map(RawValue::get)).into_owned();
                callback(jid.into_owned(), params, conn, max, Extensions::new()).await
            }
            MethodCallback::Subscription(callback) => {
                let Transport::WebSocket(channel) = transport else {
                    return fail(needs_websocket(method));
                };
                let Some(permit) = channel.subscriptions.acquire() else {
                    return fail(ErrorObjectOwned::owned(
                        ProtocolCode::TooManySubscriptions.code(),
                        format!(
                            "this WebSocket holds {MAX_SUBSCRIPTIONS} subscriptions, its limit; \
                             unsubscribe some or open another WebSocket"
                        ),
                        None::<()>,
                    ));
                };
                let sink = match (&id, &swapped) {
                    (None, _) => forwarding(&channel.sink, FirstReply::Drop),
                    (Some(_), Some(raw)) => forwarding(&channel.sink, FirstReply::Id(raw.clone())),
                    (Some(_), None) => channel.sink.clone(),
                };
                let state = SubscriptionState {
                    conn_id: conn,
                    id_provider: &RandomIntegerIdProvider,
                    subscription_permit: permit,
                };
                let params = Params::new(params.as_deref().map(RawValue::get));
                let response = callback(jid, params, sink, state, Extensions::new()).await;
                if response.is_subscription() {
                    // Its reply went out on the sink, before any notification.
                    return None;
                }
                response
            }
            MethodCallback::Unsubscription(callback) => {
                if matches!(transport, Transport::Http) {
                    return fail(needs_websocket(method));
                }
                let params = match by_position(method, params) {
                    Ok(params) => params,
                    Err(error) => return fail(error),
                };
                let call = || {
                    callback(
                        jid.clone(),
                        Params::new(params.as_deref().map(RawValue::get)),
                        conn,
                        max,
                        Extensions::new(),
                    )
                };
                let mut response = call();
                // jsonrpsee sends a subscription's reply before it records
                // the subscription, so an unsubscribe sent on that reply can
                // find nothing yet: asked again for a moment before `false`.
                let deadline = tokio::time::Instant::now() + UNSUBSCRIBE_GRACE;
                while found_nothing(&response) && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    response = call();
                }
                response
            }
        };
        id.as_ref()?;
        Some(reply(response, swapped.as_deref()))
    }
}

/// The reply's text; `swapped`: the id jsonrpsee held as null, put back.
fn reply(response: MethodResponse, swapped: Option<&RawValue>) -> String {
    let json = response.into_json();
    match swapped {
        Some(id) => envelope::with_id(json.get(), id),
        None => json.get().to_string(),
    }
}

/// The id as jsonrpsee holds it, when it can hold it exactly: a string,
/// null, or an integer written as such within u64.
fn held_id(raw: &RawValue) -> Option<Id<'static>> {
    match serde_json::from_str::<Id>(raw.get()).ok()? {
        Id::Number(n) if n.to_string() == raw.get() => Some(Id::Number(n)),
        Id::Number(_) => None,
        id => Some(id.into_owned()),
    }
}

/// How long an unsubscribe waits for a subscription whose reply just went
/// out to be recorded (see the unsubscription arm of the dispatch).
const UNSUBSCRIBE_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether an unsubscribe's response says there was no such subscription.
fn found_nothing(response: &MethodResponse) -> bool {
    serde_json::from_str::<serde_json::Value>(response.as_json().get())
        .is_ok_and(|v| v.get("result") == Some(&serde_json::Value::Bool(false)))
}

/// The error for a subscription asked over plain HTTP.
fn needs_websocket(method: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        METHOD_NOT_FOUND_CODE,
        format!(
            "{method} is a subscription method, which needs a WebSocket: plain HTTP carries one reply per \
             request and no notifications; open a WebSocket on the same socket and call it there"
        ),
        None::<()>,
    )
}

/// An unsubscribe's params as jsonrpsee reads them, by position: named
/// `{"subscription": id}` becomes `[id]`.
fn by_position(
    method: &str,
    params: Option<Box<RawValue>>,
) -> Result<Option<Box<RawValue>>, ErrorObjectOwned> {
    let Some(params) = params else { return Ok(None) };
    if !params.get().starts_with('{') {
        return Ok(Some(params));
    }
    let invalid = |m: String| ErrorObjectOwned::owned(INVALID_PARAMS_CODE, m, None::<()>);
    let mut named: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(params.get()).map_err(|e| invalid(format!("Invalid params: {e}")))?;
    if let Some(unknown) = named.keys().find(|k| *k != "subscription") {
        return Err(invalid(format!(
            "Invalid params: {method} takes only \"subscription\", not {unknown:?}"
        )));
    }
    let Some(id) = named.remove("subscription") else {
        return Err(invalid(format!("Invalid params: {method} needs \"subscription\", the id to end")));
    };
    RawValue::from_string(format!("[{}]", id.get()))
        .map(Some)
        .map_err(|e| invalid(format!("Invalid params: {e}")))
}

/// A sink for one subscription that treats its first message (the reply)
/// as `first` says and forwards everything to `out`; it closes when `out`
/// does.
fn forwarding(out: &MethodSink, first: FirstReply) -> MethodSink {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Box<RawValue>>(1);
    let out = out.clone();
    tokio::spawn(async move {
        let mut first = Some(first);
        loop {
            let message = tokio::select! {
                message = rx.recv() => message,
                _ = out.closed() => None,
            };
            let Some(message) = message else { break };
            let message = match first.take() {
                None => message,
                Some(FirstReply::Drop) => continue,
                Some(FirstReply::Id(id)) => {
                    match RawValue::from_string(envelope::with_id(message.get(), &id)) {
                        Ok(message) => message,
                        Err(_) => message,
                    }
                }
            };
            if out.send(message).await.is_err() {
                break;
            }
        }
    });
    MethodSink::new(tx)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jsonrpsee::RpcModule;

    use super::*;

    fn rpc() -> (Arc<Rpc>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut module = RpcModule::new(calls.clone());
        module.register_method("count", |_, calls, _| calls.fetch_add(1, Ordering::SeqCst) + 1).unwrap();
        module
            .register_subscription("sub", "sub.note", "unsub", |_, pending, _, _| async move {
                pending.accept().await?;
                Ok(())
            })
            .unwrap();
        (Rpc::new(module.into(), 1 << 20), calls)
    }

    async fn run(rpc: &Rpc, text: &str) -> Option<serde_json::Value> {
        let reply = rpc.handle(envelope::parse(text.as_bytes()), ConnectionId(1), Transport::Http).await;
        reply.map(|r| serde_json::from_str(&r).unwrap())
    }

    #[tokio::test]
    async fn calls_echo_ids_and_notifications_run_unanswered() {
        let (rpc, calls) = rpc();
        assert_eq!(run(&rpc, r#"{"jsonrpc":"2.0","method":"count"}"#).await, None);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the notification ran");
        let raw = rpc
            .handle(
                envelope::parse(br#"{"jsonrpc":"2.0","id":-1.5,"method":"count"}"#),
                ConnectionId(1),
                Transport::Http,
            )
            .await
            .unwrap();
        assert_eq!(raw, r#"{"jsonrpc":"2.0","id":-1.5,"result":2}"#);
        let reply =
            run(&rpc, r#"[{"jsonrpc":"2.0","method":"count"},{"jsonrpc":"2.0","id":"a","method":"count"}]"#)
                .await
                .unwrap();
        assert_eq!(reply, serde_json::json!([{"jsonrpc": "2.0", "id": "a", "result": 4}]));
        let missing = run(&rpc, r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#).await.unwrap();
        assert_eq!(missing["error"]["code"], METHOD_NOT_FOUND_CODE);
    }

    #[tokio::test]
    async fn subscriptions_over_http_are_refused_and_unsubscribe_takes_a_name() {
        let (rpc, _) = rpc();
        for method in ["sub", "unsub"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#);
            let reply = run(&rpc, &text).await.unwrap();
            assert_eq!(reply["error"]["code"], METHOD_NOT_FOUND_CODE, "{reply}");
            assert!(reply["error"]["message"].as_str().unwrap().contains("WebSocket"), "{reply}");
        }
        let named = RawValue::from_string(r#"{"subscription":"x"}"#.into()).unwrap();
        assert_eq!(by_position("unsub", Some(named)).unwrap().unwrap().get(), r#"["x"]"#);
        let extra = RawValue::from_string(r#"{"subscription":"x","y":1}"#.into()).unwrap();
        assert_eq!(by_position("unsub", Some(extra)).unwrap_err().code(), INVALID_PARAMS_CODE);
        let positional = RawValue::from_string(r#"["x"]"#.into()).unwrap();
        assert_eq!(by_position("unsub", Some(positional)).unwrap().unwrap().get(), r#"["x"]"#);
    }

    #[test]
    fn only_ids_jsonrpsee_holds_exactly_are_passed_on() {
        let id = |s: &str| held_id(&RawValue::from_string(s.into()).unwrap());
        assert_eq!(id("7"), Some(Id::Number(7)));
        assert_eq!(id(r#""s""#), Some(Id::Str("s".into())));
        assert_eq!(id("null"), Some(Id::Null));
        for odd in ["-1", "1.0", "1e3", "18446744073709551616"] {
            assert_eq!(id(odd), None, "{odd}");
        }
    }
}
