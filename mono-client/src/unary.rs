//! One-shot JSON-RPC calls over plain HTTP (see [`crate::http`]).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{RpcError, TooLarge};
use crate::{http, liveness};

/// Replies to one-shot calls come quickly; one that takes longer than this
/// (while its daemon answers checks, see [`liveness`]) is given up on.
const TIMEOUT: Duration = Duration::from_secs(60);

/// No daemon listens on the socket (it does not exist or refuses).
#[derive(Debug, thiserror::Error)]
#[error("monod is not running")]
pub struct NotRunning;

/// Whether `e` (or what it wraps) says no daemon serves the socket.
pub fn is_absent_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(http::is_absent))
}

/// Sends one request per `(method, params)` as a single JSON-RPC batch to
/// the daemon of `socket` and `lock` and returns each reply in order, as its
/// result or its error. A daemon that holds `lock` but does not answer is
/// [`liveness::Hung`], within seconds.
pub fn batch(
    socket: &Path,
    lock: &Path,
    calls: &[(&str, Value)],
) -> anyhow::Result<Vec<Result<Value, RpcError>>> {
    let requests: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(id, (method, params))| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .collect();
    let body = if requests.len() == 1 { requests[0].to_string() } else { Value::Array(requests).to_string() };
    if body.len() > mono_proto::error::MAX_REQUEST as usize {
        return Err(TooLarge { size: Some(body.len()) }.into());
    }
    let mut check = || liveness::check(socket, lock).map_err(std::io::Error::other);
    let response = http::post(socket, body.as_bytes(), TIMEOUT, &mut check).map_err(|e| {
        if http::is_absent(&e) {
            return anyhow::Error::new(NotRunning);
        }
        if liveness::as_hung(&e).is_some() {
            let hung = e.into_inner().and_then(|inner| inner.downcast::<liveness::Hung>().ok());
            return anyhow::Error::new(*hung.expect("checked"));
        }
        anyhow::Error::new(e).context(format!("cannot talk to monod at {}", socket.display()))
    })?;
    let reply: Value = serde_json::from_slice(&response.body).map_err(|e| {
        anyhow!("monod at {} answered HTTP {} with no JSON ({e})", socket.display(), response.status)
    })?;
    let mut replies = match reply {
        Value::Array(v) => v,
        single => vec![single],
    };
    if replies.len() == 1 && replies[0].get("id").is_some_and(Value::is_null) {
        // A reply to no request: the connection itself was refused.
        return Err(error_of(&replies[0]).into());
    }
    replies.sort_by_key(|r| r.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX));
    if replies.len() != calls.len() {
        bail!("monod answered {} of {} requests", replies.len(), calls.len());
    }
    Ok(replies
        .into_iter()
        .map(|r| match r.get("result") {
            Some(v) => Ok(v.clone()),
            None => Err(error_of(&r)),
        })
        .collect())
}

/// Calls one method and decodes its result.
pub fn call<R: DeserializeOwned>(
    socket: &Path,
    lock: &Path,
    method: &str,
    params: impl Serialize,
) -> anyhow::Result<R> {
    let params = serde_json::to_value(params)?;
    let result = batch(socket, lock, &[(method, params)])?.pop().expect("one reply")?;
    decode(method, result)
}

/// Decodes one result.
pub fn decode<R: DeserializeOwned>(method: &str, result: Value) -> anyhow::Result<R> {
    serde_json::from_value(result)
        .with_context(|| format!("unexpected reply to {method} (is monod the same version?)"))
}

fn error_of(reply: &Value) -> RpcError {
    let e = reply.get("error");
    RpcError {
        code: e.and_then(|e| e.get("code")).and_then(Value::as_i64).unwrap_or(0),
        message: e
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("monod sent a malformed reply")
            .to_string(),
        data: e.and_then(|e| e.get("data")).map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string)),
    }
}
