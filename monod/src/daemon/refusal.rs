//! What a client hears when the socket refuses it: always a JSON-RPC error
//! object (`id` null; code `limit`, `oversized_request`, `shutting_down` or
//! invalid-request, all from [`mono_proto::error`]) in an HTTP response
//! with a fitting status and `Connection: close`, so any HTTP client, and
//! `mono`, can print the one line that says what happened and what to do.
//!
//! A refusal before hyper has the connection is written as bytes
//! ([`Refusal::http`]); one from inside a request ([`Refusal::response`]) is
//! a response hyper sends.

use std::time::Duration;

use hyper::StatusCode;
use jsonrpsee::server::{HttpBody, HttpResponse};
use mono_proto::{Code, ErrorCode, ProtocolCode};

/// Why a connection or request is refused.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// Every connection permit is taken.
    TooManyConnections {
        /// The limit.
        max: usize,
    },
    /// Every WebSocket permit is taken.
    TooManyWebSockets {
        /// The limit.
        max: usize,
    },
    /// The request (head or body) did not arrive in time.
    Timeout {
        /// The request timeout.
        after: Duration,
    },
    /// The request head is larger than allowed.
    HeadTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The request body is larger than allowed.
    BodyTooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// The request is not HTTP monod can read.
    Malformed {
        /// What is wrong with it.
        detail: String,
    },
    /// An HTTP request that is neither a POST nor a WebSocket upgrade.
    NotPost {
        /// Its method.
        method: String,
    },
    /// The daemon is shutting down while the request still arrives.
    ShuttingDown,
    /// A POST whose body is not declared JSON.
    NotJson {
        /// Its `Content-Type`, if any.
        content_type: Option<String>,
    },
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::TooManyConnections { .. }
            | Refusal::TooManyWebSockets { .. }
            | Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Refusal::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Malformed { .. } => StatusCode::BAD_REQUEST,
            Refusal::NotPost { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::NotJson { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// Its code; a body too large is what jsonrpsee answers to a WebSocket
    /// message too large, so both transports say the same.
    fn code(&self) -> Code {
        match self {
            Refusal::Malformed { .. } | Refusal::NotPost { .. } | Refusal::NotJson { .. } => {
                ProtocolCode::InvalidRequest.into()
            }
            Refusal::BodyTooLarge { .. } => ProtocolCode::OversizedRequest.into(),
            Refusal::ShuttingDown => ErrorCode::ShuttingDown.into(),
            Refusal::TooManyConnections { .. }
            | Refusal::TooManyWebSockets { .. }
            | Refusal::Timeout { .. }
            | Refusal::HeadTooLarge { .. } => ErrorCode::Limit.into(),
        }
    }

    /// The one-line message: what, and what to do.
    pub fn message(&self) -> String {
        match self {
            Refusal::TooManyConnections { max } => format!(
                "monod has {max} connections open, its limit; close idle clients (`mono events` followers, \
                 WebSockets) or raise socket.max_connections in monod.yml"
            ),
            Refusal::TooManyWebSockets { max } => format!(
                "monod has {max} WebSocket connections open, its limit (half of socket.max_connections); \
                 close some (`mono events` followers, dashboards)"
            ),
            Refusal::Timeout { after } => format!(
                "request not received within {}; send the whole request at once (socket.request_timeout \
                 in monod.yml)",
                humantime::format_duration(*after)
            ),
            Refusal::HeadTooLarge { max } => {
                format!("request head is larger than {}; send fewer or shorter headers", size(*max as u64))
            }
            Refusal::BodyTooLarge { max } => format!("request body is larger than {}; send less", size(*max)),
            Refusal::Malformed { detail } => format!(
                "malformed HTTP request ({detail}); send an HTTP/1.1 POST of a JSON-RPC request, or a \
                 WebSocket upgrade"
            ),
            Refusal::ShuttingDown => {
                "monod is shutting down; run the command again (it starts monod)".to_string()
            }
            Refusal::NotPost { method } => format!(
                "HTTP {method} is not a JSON-RPC call; POST a JSON-RPC request (Content-Type: \
                 application/json), or open a WebSocket"
            ),
            Refusal::NotJson { content_type } => format!(
                "the request body is {}, not JSON; send Content-Type: application/json (curl --json)",
                content_type.as_deref().map_or("of no declared type".to_string(), |t| format!("{t:?}"))
            ),
        }
    }

    fn body(&self) -> String {
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": self.code().code(), "message": self.message() },
        })
        .to_string()
    }

    /// The whole HTTP response, for a connection hyper does not serve.
    pub fn http(&self) -> Vec<u8> {
        let body = self.body();
        let status = self.status();
        format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes()
    }

    /// The response, for a request hyper is serving.
    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::new(HttpBody::from(self.body()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
        headers.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
        response
    }
}

fn size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_json_rpc_errors_in_http() {
        let raw = String::from_utf8(Refusal::BodyTooLarge { max: 4 * 1024 * 1024 }.http()).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], ProtocolCode::OversizedRequest.code());
        assert_eq!(v["error"]["message"], "request body is larger than 4.0 MiB; send less");
        assert!(v["id"].is_null());
        let timeout = Refusal::Timeout { after: Duration::from_secs(5) }.message();
        assert!(timeout.starts_with("request not received within 5s;"), "{timeout}");
        assert_eq!(Refusal::Timeout { after: Duration::from_secs(5) }.response().status(), 408);
    }
}
