//! The JSON-RPC 2.0 envelope of every message monod receives, checked by
//! monod itself before any method runs, the same way for an HTTP body and
//! a WebSocket message.
//!
//! jsonrpsee's own parsing strays from the specification where integrators
//! notice: an `id` it cannot represent (negative, fractional, beyond u64,
//! or not a string, number or null) turns the request into a silent
//! notification, `params` of any JSON type is let through, and valid JSON
//! that is no request is called a parse error. Here every message becomes
//! a [`Message`] of [`Entry`]s whose `id` is kept as the raw JSON text the
//! client sent, so the reply echoes it exactly, and whose faults carry the
//! code the specification gives them: -32700 only for what is not JSON
//! (or not UTF-8), -32600 for JSON that is no request.

use std::collections::BTreeMap;

use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::types::error::{INVALID_REQUEST_CODE, PARSE_ERROR_CODE};
use serde_json::value::RawValue;

/// One message: a request or notification, a batch of them, or a fault
/// of the whole message (answered with `"id": null`).
#[derive(Debug)]
pub enum Message {
    /// A single request object.
    Single(Entry),
    /// A non-empty batch, each element checked on its own.
    Batch(Vec<Entry>),
}

/// One element of a message.
#[derive(Debug)]
pub enum Entry {
    /// A request: it is answered, with `id` echoed.
    Call {
        /// The id exactly as sent (a string, a number or null).
        id: Box<RawValue>,
        /// The method.
        method: String,
        /// The params (an object or an array), if any.
        params: Option<Box<RawValue>>,
    },
    /// A notification (no `id`): it is run and never answered.
    Notification {
        /// The method.
        method: String,
        /// The params (an object or an array), if any.
        params: Option<Box<RawValue>>,
    },
    /// Not a request: answered with this error, and the request's id when
    /// it had a valid one (else null).
    Invalid {
        /// The id to echo, if one could be read.
        id: Option<Box<RawValue>>,
        /// What is wrong.
        error: ErrorObjectOwned,
    },
}

/// Reads one message (an HTTP body, a WebSocket message).
pub fn parse(bytes: &[u8]) -> Message {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return fault(parse_error("the message is not UTF-8"));
    };
    let value: &RawValue = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return fault(parse_error(&e.to_string())),
    };
    match value.get().as_bytes().first() {
        Some(b'{') => Message::Single(entry(value)),
        Some(b'[') => {
            let items: Vec<&RawValue> = match serde_json::from_str(value.get()) {
                Ok(items) => items,
                Err(e) => return fault(parse_error(&e.to_string())),
            };
            if items.is_empty() {
                return fault(invalid_request("an empty batch; send at least one request"));
            }
            Message::Batch(items.into_iter().map(entry).collect())
        }
        _ => fault(invalid_request(
            "a JSON-RPC message is a request object or a batch (an array of them), not another JSON value",
        )),
    }
}

/// Reads one element: a request, a notification or neither.
fn entry(raw: &RawValue) -> Entry {
    let Ok(fields) = serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()) else {
        return Entry::Invalid { id: None, error: invalid_request("a request is a JSON object") };
    };
    let id = fields.get("id").copied();
    if let Some(id) = id
        && !valid_id(id)
    {
        return Entry::Invalid {
            id: None,
            error: invalid_request(&format!("\"id\" {} is not a string, a number or null", id.get())),
        };
    }
    let echo = id.map(RawValue::to_owned);
    let invalid = |message: &str| Entry::Invalid { id: echo.clone(), error: invalid_request(message) };
    if fields.get("jsonrpc").and_then(|v| serde_json::from_str::<&str>(v.get()).ok()) != Some("2.0") {
        return invalid("\"jsonrpc\" must be \"2.0\"");
    }
    let Some(method) = fields.get("method").and_then(|v| serde_json::from_str::<String>(v.get()).ok()) else {
        return invalid("\"method\" must be a string");
    };
    let params = fields.get("params").copied();
    if params.is_some_and(|p| !matches!(p.get().as_bytes().first(), Some(b'{' | b'['))) {
        return invalid("\"params\" must be an object or an array, or be left out");
    }
    let params = params.map(RawValue::to_owned);
    match echo {
        Some(id) => Entry::Call { id, method, params },
        None => Entry::Notification { method, params },
    }
}

/// Whether `id` is one the specification allows: a string, a number or null.
fn valid_id(id: &RawValue) -> bool {
    matches!(id.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9' | b'n'))
}

fn fault(error: ErrorObjectOwned) -> Message {
    Message::Single(Entry::Invalid { id: None, error })
}

fn parse_error(detail: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(PARSE_ERROR_CODE, format!("Parse error: {detail}"), None::<()>)
}

/// A -32600 error saying what is wrong with the request.
pub fn invalid_request(detail: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_REQUEST_CODE, format!("Invalid request: {detail}"), None::<()>)
}

/// The reply carrying `error`, for `id` (null when there is none).
pub fn error_reply(id: Option<&RawValue>, error: &ErrorObjectOwned) -> String {
    let error = serde_json::to_string(error)
        .unwrap_or_else(|_| r#"{"code":-32603,"message":"Internal error"}"#.into());
    format!(r#"{{"jsonrpc":"2.0","id":{},"error":{error}}}"#, id.map_or("null", RawValue::get))
}

/// `reply` (one jsonrpsee wrote for id null) with `id` in its place.
pub fn with_id(reply: &str, id: &RawValue) -> String {
    const PREFIX: &str = r#"{"jsonrpc":"2.0","id":null,"#;
    if let Some(rest) = reply.strip_prefix(PREFIX) {
        return format!(r#"{{"jsonrpc":"2.0","id":{},{rest}"#, id.get());
    }
    // Not the shape jsonrpsee writes: rebuild it.
    match serde_json::from_str::<BTreeMap<String, &RawValue>>(reply) {
        Ok(mut fields) => {
            fields.insert("id".into(), id);
            serde_json::to_string(&fields).unwrap_or_else(|_| reply.to_string())
        }
        Err(_) => reply.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Entry {
        match parse(text.as_bytes()) {
            Message::Single(e) => e,
            Message::Batch(b) => panic!("a batch: {b:?}"),
        }
    }

    fn fault_of(text: &str) -> (Option<String>, i32, String) {
        match single(text) {
            Entry::Invalid { id, error } => {
                (id.map(|i| i.get().to_string()), error.code(), error.message().to_string())
            }
            other => panic!("{text} is valid: {other:?}"),
        }
    }

    #[test]
    fn ids_are_kept_as_sent() {
        for id in ["1", "-1", "1.5", "1e3", "18446744073709551616", "\"a\"", "null", "0"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#);
            match single(&text) {
                Entry::Call { id: got, method, params } => {
                    assert_eq!((got.get(), method.as_str(), params.is_none()), (id, "m", true));
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        for id in ["{}", "[1]", "true", "false"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#);
            let (echo, code, message) = fault_of(&text);
            assert_eq!((echo, code), (None, INVALID_REQUEST_CODE), "{text}");
            assert!(message.contains("\"id\""), "{message}");
        }
    }

    #[test]
    fn faults_get_the_specifications_codes() {
        assert!(matches!(single(r#"{"jsonrpc":"2.0","method":"m"}"#), Entry::Notification { .. }));
        for text in [r#""hello""#, "42", "null", "true"] {
            assert_eq!(fault_of(text).1, INVALID_REQUEST_CODE, "{text}");
        }
        for params in [r#""bar""#, "1", "true", "null"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"m","params":{params}}}"#);
            let (echo, code, message) = fault_of(&text);
            assert_eq!((echo.as_deref(), code), (Some("7"), INVALID_REQUEST_CODE), "{text}");
            assert!(message.contains("\"params\""), "{message}");
        }
        let (echo, code, _) = fault_of(r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#);
        assert_eq!((echo, code), (None, INVALID_REQUEST_CODE));
        assert_eq!(fault_of(r#"{"jsonrpc":"1.0","id":1,"method":"m"}"#).1, INVALID_REQUEST_CODE);
        assert_eq!(fault_of(r#"{"id":1,"method":"m"}"#).1, INVALID_REQUEST_CODE);
        assert_eq!(fault_of("[]").1, INVALID_REQUEST_CODE);
        assert_eq!(fault_of("{not json").1, PARSE_ERROR_CODE);
        assert_eq!(fault_of("").1, PARSE_ERROR_CODE);
        match parse(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}") {
            Message::Single(Entry::Invalid { error, .. }) => assert_eq!(error.code(), PARSE_ERROR_CODE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batch_elements_are_checked_one_by_one() {
        let Message::Batch(entries) =
            parse(br#"[1, {"jsonrpc":"2.0","id":2,"method":"m"}, {"jsonrpc":"2.0","method":"n"}]"#)
        else {
            panic!("not a batch")
        };
        assert!(
            matches!(&entries[0], Entry::Invalid { id: None, error } if error.code() == INVALID_REQUEST_CODE)
        );
        assert!(matches!(&entries[1], Entry::Call { id, .. } if id.get() == "2"));
        assert!(matches!(&entries[2], Entry::Notification { method, .. } if method == "n"));
    }

    #[test]
    fn replies_carry_the_raw_id() {
        let id = RawValue::from_string("-1.5".into()).unwrap();
        assert_eq!(
            with_id(r#"{"jsonrpc":"2.0","id":null,"result":true}"#, &id),
            r#"{"jsonrpc":"2.0","id":-1.5,"result":true}"#
        );
        let rebuilt: serde_json::Value =
            serde_json::from_str(&with_id(r#"{"id":null,"result":1}"#, &id)).unwrap();
        assert_eq!(rebuilt["id"], -1.5);
        let reply = error_reply(None, &invalid_request("x"));
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert!(v["id"].is_null() && v["error"]["code"] == INVALID_REQUEST_CODE, "{reply}");
    }
}
