//! One accepted connection, from its first byte to its close.
//!
//! Its request must arrive whole within the request timeout: the head is
//! read here ([`request_head`]), then the body inside the service, both
//! against the same deadline, and either being late, too large or malformed
//! gets a JSON-RPC error ([`Refusal`]). A complete request goes to
//! jsonrpsee's service through hyper (HTTP/1.1, one request per
//! connection). A WebSocket upgrade first takes a WebSocket permit, kept in
//! the connection's I/O with its connection permit, so both last exactly
//! as long as the WebSocket; from then on jsonrpsee's ping closes a
//! WebSocket that stops answering (a dead peer, or one stuck in the middle
//! of a frame).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpRequest, HttpResponse, StopHandle};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::UnixStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::budget::Budget;
use super::refusal::Refusal;
use super::request_head::{self, HeadError};

/// Largest request body accepted (environments are forwarded with
/// requests); the contract's, so clients can check before sending.
pub const MAX_REQUEST: u32 = mono_proto::error::MAX_REQUEST;

/// How a connection is served.
#[derive(Clone)]
pub struct Limits {
    /// The permits (WebSockets take theirs here).
    pub budget: Budget,
    /// A request's head and body must arrive within this.
    pub request_timeout: Duration,
}

/// Serves one connection, holding `permit` until it closes. When `stop`
/// fires (the daemon shuts down), a request still arriving is refused and
/// one being served is finished.
pub async fn serve<S>(
    mut stream: UnixStream,
    permit: OwnedSemaphorePermit,
    rpc: S,
    limits: Limits,
    stop: StopHandle,
) where
    S: tower_service::Service<HttpRequest<Full<Bytes>>, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let deadline = Instant::now() + limits.request_timeout;
    let timeout = Refusal::Timeout { after: limits.request_timeout };
    let admitted = tokio::select! {
        head = tokio::time::timeout_at(deadline, request_head::read(&mut stream)) => admit(head, &limits, &timeout),
        _ = stop.clone().shutdown() => Err(Some(Refusal::ShuttingDown)),
    };
    let (head, websocket) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => {
            // Free before answering: a client that retries at once finds room.
            drop(permit);
            if let Some(refusal) = refusal {
                refuse(stream, refusal).await;
            }
            return;
        }
    };
    let io = ConnectionIo { read_first: Bytes::from(head.bytes), stream, _permits: (permit, websocket) };
    let stopping = stop.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let (rpc, timeout, stop) = (rpc.clone(), timeout.clone(), stopping.clone());
        async move { Ok::<_, std::convert::Infallible>(call(rpc, request, deadline, timeout, stop).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .header_read_timeout(None)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .with_upgrades();
    let stopped = stop.shutdown();
    tokio::pin!(connection, stopped);
    let result = tokio::select! {
        result = &mut connection => result,
        _ = &mut stopped => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Whether a request whose head was read (or not, in time) is served: its
/// head, and its WebSocket permit if it asks to be one; else the refusal to
/// answer (none when the client left).
fn admit(
    head: Result<Result<request_head::Head, HeadError>, tokio::time::error::Elapsed>,
    limits: &Limits,
    timeout: &Refusal,
) -> Result<(request_head::Head, Option<OwnedSemaphorePermit>), Option<Refusal>> {
    let head = match head {
        Ok(Ok(head)) => head,
        Ok(Err(HeadError::Closed)) => return Err(None),
        Ok(Err(HeadError::TooLarge)) => {
            return Err(Some(Refusal::HeadTooLarge { max: request_head::MAX_HEAD }));
        }
        Ok(Err(HeadError::Malformed(detail))) => return Err(Some(Refusal::Malformed { detail })),
        Err(_) => return Err(Some(timeout.clone())),
    };
    if head.content_length.is_some_and(|n| n > u64::from(MAX_REQUEST)) {
        return Err(Some(Refusal::BodyTooLarge { max: MAX_REQUEST.into() }));
    }
    if !head.upgrade {
        return Ok((head, None));
    }
    match limits.budget.websocket() {
        Some(permit) => Ok((head, Some(permit))),
        None => Err(Some(Refusal::TooManyWebSockets { max: limits.budget.max_websockets() })),
    }
}

/// Refuses what jsonrpsee would answer in plain text (not a POST, not
/// JSON), reads the body (by the deadline, within the size limit, unless
/// the daemon stops first), then calls jsonrpsee's service with it.
async fn call<S>(
    mut rpc: S,
    request: hyper::Request<Incoming>,
    deadline: Instant,
    timeout: Refusal,
    stop: StopHandle,
) -> HttpResponse
where
    S: tower_service::Service<HttpRequest<Full<Bytes>>, Response = HttpResponse, Error = BoxError>,
{
    if !jsonrpsee::server::ws::is_upgrade_request(&request) {
        if request.method() != hyper::Method::POST {
            return Refusal::NotPost { method: request.method().to_string() }.response();
        }
        if !jsonrpsee::server::http::content_type_is_json(&request) {
            let content_type = request.headers().get(hyper::header::CONTENT_TYPE);
            let content_type = content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Refusal::NotJson { content_type }.response();
        }
    }
    let (parts, body) = request.into_parts();
    let limited = Limited::new(body, MAX_REQUEST as usize);
    let collected = tokio::select! {
        collected = tokio::time::timeout_at(deadline, limited.collect()) => collected,
        _ = stop.shutdown() => return Refusal::ShuttingDown.response(),
    };
    let body = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Refusal::BodyTooLarge { max: MAX_REQUEST.into() }.response();
        }
        Ok(Err(e)) => return Refusal::Malformed { detail: e.to_string() }.response(),
        Err(_) => return timeout.response(),
    };
    let request = HttpRequest::from_parts(parts, Full::new(body));
    let ready = std::future::poll_fn(|cx| rpc.poll_ready(cx)).await;
    let result = match ready {
        Ok(()) => rpc.call(request).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the JSON-RPC service failed a request");
        Refusal::Malformed { detail: e.to_string() }.response()
    })
}

/// Writes a refusal and closes the connection.
async fn refuse(mut stream: UnixStream, refusal: Refusal) {
    tracing::debug!(reason = %refusal.message(), "refused a request");
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&refusal.http())).await;
    let _ = stream.shutdown().await;
}

/// The connection's stream for hyper: the bytes already read first, then
/// the socket; it carries the connection's permits, so they are released
/// when the connection (or the WebSocket it became) is dropped.
struct ConnectionIo {
    read_first: Bytes,
    stream: UnixStream,
    _permits: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
}

impl AsyncRead for ConnectionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read_first.is_empty() {
            let n = self.read_first.len().min(buf.remaining());
            let first = self.read_first.split_to(n);
            buf.put_slice(&first);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnectionIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
