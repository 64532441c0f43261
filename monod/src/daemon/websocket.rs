//! A WebSocket connection, from the upgrade to its close.
//!
//! monod runs the WebSocket itself (frames by soketto) so that every
//! message goes through the same checks and dispatch as an HTTP body
//! ([`envelope`](super::envelope), [`dispatch`](super::dispatch)). Each
//! message runs in its own task, so a long call never holds up the next
//! (up to a bound, past which the client's messages wait to be read).
//! Everything for the client (replies and notifications) goes through one
//! bounded queue, and a subscription waits while it is full. monod pings
//! the client and closes the connection once no pong has come for the
//! inactivity limit: a dead peer, or one stuck in the middle of a frame
//! (its pongs cannot come through). When the daemon stops, reading ends,
//! the calls still running finish and their replies are sent, then the
//! WebSocket is closed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::io::{BufReader, BufWriter};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use jsonrpsee::server::{HttpBody, HttpResponse, StopHandle};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{BoundedSubscriptions, ConnectionId, MethodSink};
use mono_proto::ProtocolCode;
use serde_json::value::RawValue;
use soketto::connection::Error as WsError;
use soketto::data::ByteSlice125;
use tokio::sync::Semaphore;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dispatch::{Channel, MAX_SUBSCRIPTIONS, Rpc, Transport};
use super::envelope;
use super::refusal::Refusal;

/// Calls one WebSocket may have running at once.
const IN_FLIGHT: usize = 64;

type Stream = BufReader<BufWriter<Compat<TokioIo<Upgraded>>>>;
type Sender = soketto::Sender<Stream>;
type Receiver = soketto::Receiver<Stream>;

/// How one WebSocket is served.
#[derive(Clone)]
pub struct WsConfig {
    /// Messages queued towards the client (replies and notifications).
    pub send_buffer: usize,
    /// The largest message accepted from the client.
    pub max_message: usize,
    /// How often the client is pinged.
    pub ping_interval: Duration,
    /// The connection is closed once no pong came for this long.
    pub inactive_limit: Duration,
    /// How long a closing WebSocket may take to send what is queued.
    pub close_grace: Duration,
}

/// Answers a WebSocket upgrade request: the 101 response, with the
/// connection then served on `tasks` (so shutdown waits for it).
pub fn upgrade(
    request: hyper::Request<hyper::body::Incoming>,
    rpc: Arc<Rpc>,
    conn: ConnectionId,
    config: WsConfig,
    stop: StopHandle,
    tasks: &TaskTracker,
) -> HttpResponse {
    let mut server = soketto::handshake::http::Server::new();
    let response = match server.receive_request(&request) {
        Ok(response) => response,
        Err(e) => return Refusal::Malformed { detail: format!("WebSocket handshake: {e}") }.response(),
    };
    tasks.spawn(async move {
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "the WebSocket upgrade failed");
                return;
            }
        };
        let stream = BufReader::new(BufWriter::new(TokioIo::new(upgraded).compat()));
        let mut builder = server.into_builder(stream);
        builder.set_max_message_size(config.max_message);
        let (sender, receiver) = builder.finish();
        serve(sender, receiver, rpc, conn, config, stop).await;
    });
    response.map(|()| HttpBody::default())
}

/// Serves an open WebSocket until the client leaves, stops answering
/// pings, or the daemon stops.
async fn serve(
    sender: Sender,
    receiver: Receiver,
    rpc: Arc<Rpc>,
    conn: ConnectionId,
    config: WsConfig,
    stop: StopHandle,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Box<RawValue>>(config.send_buffer);
    let channel = Arc::new(Channel {
        sink: MethodSink::new(tx),
        subscriptions: BoundedSubscriptions::new(MAX_SUBSCRIPTIONS),
    });
    let last_pong = Arc::new(Mutex::new(Instant::now()));
    let calls = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut writer = tokio::spawn(write(sender, rx, config.ping_interval, closing.clone()));
    let mut reader = tokio::spawn(read(receiver, rpc, conn, channel, calls.clone(), last_pong.clone()));
    let mut watchdog = tokio::time::interval(config.ping_interval);
    let stopped = stop.shutdown();
    tokio::pin!(stopped);
    let mut stopping = false;
    let mut written = false;
    loop {
        tokio::select! {
            _ = &mut writer => {
                written = true;
                break;
            }
            _ = &mut reader, if !stopping => break,
            _ = watchdog.tick() => {
                let quiet = last_pong.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
                if quiet > config.inactive_limit {
                    tracing::debug!(?quiet, "a WebSocket answered no ping; closing it");
                    break;
                }
            }
            _ = &mut stopped, if !stopping => {
                stopping = true;
                reader.abort();
                calls.close();
            }
            _ = calls.wait(), if stopping => break,
        }
    }
    reader.abort();
    closing.cancel();
    if !written && tokio::time::timeout(config.close_grace, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Reads the client's messages, each run in a task of `calls`, at most
/// [`IN_FLIGHT`] at once: past that, reading waits for one to finish.
async fn read(
    mut receiver: Receiver,
    rpc: Arc<Rpc>,
    conn: ConnectionId,
    channel: Arc<Channel>,
    calls: TaskTracker,
    last_pong: Arc<Mutex<Instant>>,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut data = Vec::new();
        match receiver.receive(&mut data).await {
            Ok(soketto::Incoming::Data(_)) => {
                let (rpc, channel) = (rpc.clone(), channel.clone());
                calls.spawn(async move {
                    let _permit = permit;
                    let message = envelope::parse(&data);
                    let reply = tokio::select! {
                        reply = rpc.handle(message, conn, Transport::WebSocket(&channel)) => reply,
                        // Nobody to answer: stop the call.
                        _ = channel.sink.closed() => return,
                    };
                    if let Some(reply) = reply.and_then(|r| RawValue::from_string(r).ok()) {
                        let _ = channel.sink.send(reply).await;
                    }
                });
            }
            Ok(soketto::Incoming::Pong(_)) => {
                *last_pong.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            }
            Ok(soketto::Incoming::Closed(_)) | Err(WsError::Closed) => return,
            Err(WsError::MessageTooLarge { maximum, .. }) => {
                let refusal = Refusal::BodyTooLarge { max: maximum as u64 };
                let error = ErrorObjectOwned::owned(
                    ProtocolCode::OversizedRequest.code(),
                    refusal.message(),
                    None::<()>,
                );
                let reply = envelope::error_reply(None, &error);
                if let Ok(reply) = RawValue::from_string(reply)
                    && channel.sink.send(reply).await.is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "a WebSocket failed; closing it");
                return;
            }
        }
    }
}

/// Sends what is queued for the client and the pings; once `closing`,
/// sends what is already queued and closes.
async fn write(
    mut sender: Sender,
    mut rx: tokio::sync::mpsc::Receiver<Box<RawValue>>,
    ping_interval: Duration,
    closing: CancellationToken,
) {
    let mut ping = tokio::time::interval(ping_interval);
    loop {
        tokio::select! {
            message = rx.recv() => {
                let Some(message) = message else { break };
                // What is queued meanwhile goes out in the same write: one
                // flush for many small replies, so a client that sends many
                // requests before it reads finds them in few socket buffers.
                let mut next = Some(message);
                while let Some(message) = next {
                    if sender.send_text_owned(String::from(Box::<str>::from(message))).await.is_err() {
                        return;
                    }
                    next = rx.try_recv().ok();
                }
                if sender.flush().await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                let nothing: &[u8] = &[];
                let empty = ByteSlice125::try_from(nothing).expect("an empty ping fits");
                if sender.send_ping(empty).await.is_err() || sender.flush().await.is_err() {
                    return;
                }
            }
            _ = closing.cancelled() => {
                while let Ok(message) = rx.try_recv() {
                    if send(&mut sender, message).await.is_err() {
                        return;
                    }
                }
                break;
            }
        }
    }
    let _ = sender.close().await;
}

async fn send(sender: &mut Sender, message: Box<RawValue>) -> Result<(), WsError> {
    sender.send_text_owned(String::from(Box::<str>::from(message))).await?;
    sender.flush().await
}
