//! One accepted connection, from its first byte to its close.
//!
//! Its request must arrive whole within the request timeout: the head is
//! read here ([`request_head`]), then the body inside the service, both
//! against the same deadline, and either being late, too large or malformed
//! gets a JSON-RPC error ([`Refusal`]). hyper serves the connection
//! (HTTP/1.1, one request per connection): a POST's body is checked
//! ([`envelope`](super::envelope)) and run ([`dispatch`](super::dispatch)),
//! its reply the response body (none for notifications: 204). A WebSocket
//! upgrade first takes a WebSocket permit, kept in the connection's I/O
//! with its connection permit, so both last exactly as long as the
//! WebSocket ([`websocket`](super::websocket) serves it).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use jsonrpsee::ConnectionId;
use jsonrpsee::server::{HttpBody, HttpResponse, StopHandle};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::UnixStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::budget::Budget;
use super::dispatch::{Rpc, Transport};
use super::envelope;
use super::refusal::Refusal;
use super::request_head::{self, HeadError};
use super::websocket::{self, WsConfig};

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
    /// How WebSockets are served.
    pub websocket: WsConfig,
    /// Where WebSockets run (shutdown waits for them).
    pub tasks: TaskTracker,
}

/// Serves connection `conn`, holding `permit` until it closes. When `stop`
/// fires (the daemon shuts down), a request still arriving is refused and
/// one being served is finished.
pub async fn serve(
    mut stream: UnixStream,
    conn: ConnectionId,
    permit: OwnedSemaphorePermit,
    rpc: Arc<Rpc>,
    limits: Limits,
    stop: StopHandle,
) {
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
        let (rpc, limits, timeout, stop) = (rpc.clone(), limits.clone(), timeout.clone(), stopping.clone());
        let at = Deadline { at: deadline, timeout };
        async move { Ok::<_, std::convert::Infallible>(call(rpc, conn, request, &limits, at, stop).await) }
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

/// When a request's body must have arrived, and the refusal if it has not.
struct Deadline {
    at: Instant,
    timeout: Refusal,
}

/// Answers one request: a WebSocket upgrade, or a POST whose body is read
/// (by the deadline, within the size limit, unless the daemon stops
/// first), checked and run. Anything else is refused with a JSON-RPC error.
async fn call(
    rpc: Arc<Rpc>,
    conn: ConnectionId,
    request: hyper::Request<Incoming>,
    limits: &Limits,
    deadline: Deadline,
    stop: StopHandle,
) -> HttpResponse {
    if jsonrpsee::server::ws::is_upgrade_request(&request) {
        return websocket::upgrade(request, rpc, conn, limits.websocket.clone(), stop, &limits.tasks);
    }
    if request.method() != hyper::Method::POST {
        return Refusal::NotPost { method: request.method().to_string() }.response();
    }
    if !jsonrpsee::server::http::content_type_is_json(&request) {
        let content_type = request.headers().get(hyper::header::CONTENT_TYPE);
        let content_type = content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        return Refusal::NotJson { content_type }.response();
    }
    let limited = Limited::new(request.into_body(), MAX_REQUEST as usize);
    let collected = tokio::select! {
        collected = tokio::time::timeout_at(deadline.at, limited.collect()) => collected,
        _ = stop.shutdown() => return Refusal::ShuttingDown.response(),
    };
    let body: Bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Refusal::BodyTooLarge { max: MAX_REQUEST.into() }.response();
        }
        Ok(Err(e)) => return Refusal::Malformed { detail: e.to_string() }.response(),
        Err(_) => return deadline.timeout.response(),
    };
    let reply = rpc.handle(envelope::parse(&body), conn, Transport::Http).await;
    let mut response = match reply {
        Some(reply) => HttpResponse::new(HttpBody::from(reply)),
        None => {
            let mut response = HttpResponse::new(HttpBody::default());
            *response.status_mut() = hyper::StatusCode::NO_CONTENT;
            return response;
        }
    };
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
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
