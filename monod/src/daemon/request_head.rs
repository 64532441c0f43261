//! The head of a connection's request, read by monod itself (bounded in
//! size; the caller bounds it in time) before hyper serves the connection.
//!
//! Owning this step is what lets a stalled, oversized or malformed head get
//! a JSON-RPC answer instead of hyper's silent close or empty error page,
//! and what tells, before anything is served, whether the connection wants
//! to become a WebSocket and so needs a WebSocket permit. The bytes read are
//! handed on untouched, and hyper parses them again.

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

/// The largest request head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// Headers a request may have.
const MAX_HEADERS: usize = 64;

/// A complete request head.
#[derive(Debug)]
pub struct Head {
    /// Every byte read: the head, and whatever of the body came with it.
    pub bytes: Vec<u8>,
    /// It asks for a WebSocket upgrade.
    pub upgrade: bool,
    /// Its `Content-Length`, if it has one.
    pub content_length: Option<u64>,
}

/// Why there is no head to serve.
#[derive(Debug)]
pub enum HeadError {
    /// The head is larger than [`MAX_HEAD`] or has too many headers.
    TooLarge,
    /// It is not an HTTP/1 request head.
    Malformed(String),
    /// The client closed the connection (or it failed) first.
    Closed,
}

/// Reads until the request head is complete.
pub async fn read(stream: &mut UnixStream) -> Result<Head, HeadError> {
    let mut bytes = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse(&bytes)? {
            let (upgrade, content_length) = head;
            return Ok(Head { bytes, upgrade, content_length });
        }
        if bytes.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Parses a complete head from `bytes`: (upgrade, content length); `None`
/// while it is incomplete.
fn parse(bytes: &[u8]) -> Result<Option<(bool, Option<u64>)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => Err(HeadError::TooLarge),
        Ok(httparse::Status::Complete(_)) => {
            let value = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
            };
            let upgrade = value("upgrade").is_some_and(|v| v == "websocket")
                && value("connection").is_some_and(|v| v.split(',').any(|t| t.trim() == "upgrade"));
            let content_length = match value("content-length") {
                None => None,
                Some(v) => {
                    Some(v.parse().map_err(|_| HeadError::Malformed(format!("Content-Length {v:?}")))?)
                }
            };
            Ok(Some((upgrade, content_length)))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_when_complete() {
        assert!(matches!(parse(b"POST / HTTP/1.1\r\nHost: x\r\n"), Ok(None)));
        let post = b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 12\r\n\r\n{\"a\"";
        assert!(matches!(parse(post), Ok(Some((false, Some(12))))));
        let ws = b"GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        assert!(matches!(parse(ws), Ok(Some((true, None)))));
        assert!(matches!(parse(b"\x16\x03\x01 not http\r\n\r\n"), Err(HeadError::Malformed(_))));
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(many.as_bytes()), Err(HeadError::TooLarge)));
        let bad = b"POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n";
        assert!(matches!(parse(bad), Err(HeadError::Malformed(_))));
    }
}
