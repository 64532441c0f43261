//! Serving JSON-RPC on the Unix socket: HTTP POST and WebSocket on the same
//! connection type, each accepted connection served by
//! [`connection`](super::connection) with the shared [`Rpc`].
//!
//! Each connection's peer credentials are checked first: a process of
//! another user gets a 403 with a JSON-RPC error and is disconnected, even
//! if file permissions were loosened by hand. Then it takes a permit from
//! the [`Budget`]; with none left it is answered at once with a JSON-RPC
//! error saying so, never left waiting in the backlog.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::ConnectionId;
use jsonrpsee::server::StopHandle;
use mono_proto::ErrorCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::budget::Budget;
use super::connection::{self, Limits, MAX_REQUEST};
use super::dispatch::Rpc;
use super::refusal::Refusal;
use super::websocket::WsConfig;
use crate::settings::SocketSettings;

/// Messages queued per WebSocket towards its client (replies and
/// notifications together); a subscription waits while it is full, and
/// a client that lets replies pile up unread is no longer read (it is
/// closed once it answers no ping): a few hundred non-reading subscribers
/// cost a few MiB, not a hundred.
const SEND_BUFFER: usize = 64;

/// The largest reply or notification sent.
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Accepts connections until `stop` is cancelled; connection tasks (and
/// the WebSockets they become) are spawned on `connections` and finish
/// gracefully once `stop_handle` fires.
pub async fn accept_loop(
    listener: UnixListener,
    rpc: Arc<Rpc>,
    stop_handle: StopHandle,
    stop: CancellationToken,
    connections: TaskTracker,
    settings: SocketSettings,
) {
    let budget = Budget::sized(settings.max_connections);
    let timeout = settings.websocket_timeout;
    let websocket = WsConfig {
        send_buffer: SEND_BUFFER,
        max_message: MAX_REQUEST as usize,
        ping_interval: timeout / 3,
        inactive_limit: timeout * 2 / 3,
        close_grace: Duration::from_secs(1),
    };
    let limits = Limits {
        budget: budget.clone(),
        request_timeout: settings.request_timeout,
        websocket,
        tasks: connections.clone(),
    };
    let mut next_conn = 0usize;
    tracing::debug!(max = budget.max(), websockets = budget.max_websockets(), "connection budget");
    let owner = rustix::process::geteuid().as_raw();
    let mut saturated = false;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, typically: the backlog keeps the
                    // connection until some are free again.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let peer = stream.peer_cred().map(|c| c.uid());
        if peer.as_ref().ok() != Some(&owner) {
            connections.spawn(refuse(stream, peer.ok(), owner));
            continue;
        }
        let Some(permit) = budget.connection() else {
            if !saturated {
                tracing::warn!(
                    max = budget.max(),
                    "every connection permit is taken; refusing new connections"
                );
                saturated = true;
            }
            turn_away(stream, &budget, &connections);
            continue;
        };
        saturated = false;
        next_conn = next_conn.wrapping_add(1);
        connections.spawn(connection::serve(
            stream,
            ConnectionId(next_conn),
            permit,
            rpc.clone(),
            limits.clone(),
            stop_handle.clone(),
        ));
    }
}

/// Answers a connection over the budget and closes it. The answer fits a
/// fresh socket's buffer, so it is written without waiting; the request is
/// then read (briefly, by a bounded number of tasks) so the client's send
/// completes and it reads the answer.
fn turn_away(stream: UnixStream, budget: &Budget, connections: &TaskTracker) {
    let _ = stream.try_write(&Refusal::TooManyConnections { max: budget.max() }.http());
    if let Some(permit) = budget.refuser() {
        connections.spawn(async move {
            let mut stream = stream;
            let _ = tokio::time::timeout(Duration::from_secs(1), read_request(&mut stream)).await;
            drop(permit);
        });
    }
}

/// Reads (and discards) one request's head and body, at most 64 KiB.
async fn read_request(stream: &mut UnixStream) {
    const LIMIT: usize = 64 * 1024;
    let mut data = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let mut wanted = None;
    while data.len() < LIMIT && wanted.is_none_or(|n| data.len() < n) {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        if wanted.is_none()
            && let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            wanted = Some(end + 4 + length);
        }
    }
}

/// Answers a connection from another user with 403 and closes it. The
/// request is read first (bounded in size and time), so the client is not
/// cut off while still sending and always sees the answer.
async fn refuse(mut stream: UnixStream, peer: Option<u32>, owner: u32) {
    let _ = tokio::time::timeout(Duration::from_secs(1), read_request(&mut stream)).await;
    let who = peer.map_or_else(|| "unknown uid".to_string(), |u| format!("uid {u}"));
    super::refusals::log_refused(&who);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": ErrorCode::PermissionDenied.code(),
            "message": format!("permission denied: this monod belongs to uid {owner}, the caller is {who}; use your own MONO_HOME"),
        }
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
