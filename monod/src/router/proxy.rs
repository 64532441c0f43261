//! One request through the router: to the environment's port on loopback,
//! with the response streamed back as it comes.
//!
//! HTTP/1.1 semantics are hyper's: the router drops the hop-by-hop headers
//! (RFC 9110 §7.6.1) both ways, keeps `Host` (dev servers build absolute
//! URLs and check allowed hosts from it) and adds `X-Forwarded-For`,
//! `-Host` and `-Proto`. An upgrade (WebSocket: hot reload) is passed
//! through: the request goes upstream with its `Upgrade`, and once the
//! service answers `101 Switching Protocols` the two connections are
//! joined byte for byte until either side closes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

/// Upgraded connections (WebSockets) carried at once.
pub const MAX_TUNNELS: usize = 256;

/// A response body: the service's, streamed, or one of the router's pages.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// The connection to the service that one browser connection's requests
/// reuse. HTTP/1.1 requests on a connection come one after another, so it
/// is never shared and needs no pool: it is opened at the first request,
/// kept while it stays usable and the port stays the same, and closed with
/// the browser's connection.
#[derive(Default)]
pub struct Upstream {
    kept: Option<(u16, SendRequest<Incoming>)>,
}

impl Upstream {
    /// A ready sender to `port`: the kept one, or a new connection.
    async fn sender(&mut self, port: u16) -> Result<&mut SendRequest<Incoming>, Unreachable> {
        let reusable = match &mut self.kept {
            Some((p, sender)) if *p == port => sender.ready().await.is_ok(),
            _ => false,
        };
        if !reusable {
            self.kept = Some((port, connect(port).await?));
        }
        Ok(&mut self.kept.as_mut().expect("set above").1)
    }
}

/// A new HTTP/1.1 connection to `127.0.0.1:port`, driven by its own task
/// (which also carries an upgraded connection on).
async fn connect(port: u16) -> Result<SendRequest<Incoming>, Unreachable> {
    let failed = |e: &dyn std::fmt::Display| Unreachable { port, error: e.to_string() };
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| failed(&e))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| failed(&e))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Why a request did not reach the service.
#[derive(Debug)]
pub struct Unreachable {
    /// The port tried.
    pub port: u16,
    /// What failed.
    pub error: String,
}

/// Sends `req` to `127.0.0.1:port` as it came from `peer` for `host`.
pub async fn forward(
    upstream: &tokio::sync::Mutex<Upstream>,
    tunnels: &Arc<Semaphore>,
    mut req: Request<Incoming>,
    port: u16,
    host: &str,
    peer: SocketAddr,
) -> Result<Response<Body>, Unreachable> {
    let upgrade = upgrade_of(req.headers());
    // An upgraded connection outlives its request: each holds a permit of
    // its own for as long as it is open.
    let tunnel = match &upgrade {
        Some(_) => Some(tunnels.clone().try_acquire_owned().map_err(|_| Unreachable {
            port,
            error: format!("the router already carries {MAX_TUNNELS} upgraded connections; close some"),
        })?),
        None => None,
    };
    let downstream = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    // Origin form (`/path?query`), as a server expects it from a client.
    let path = req.uri().path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    *req.uri_mut() = Uri::from(path);
    let headers = req.headers_mut();
    strip_hop_by_hop(headers);
    if let Some(protocol) = &upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    forwarded(headers, peer.ip(), host);

    let sent = match &upgrade {
        // An upgraded connection is the upgrade's: never kept.
        Some(_) => connect(port).await?.send_request(req).await,
        None => {
            let mut upstream = upstream.lock().await;
            match upstream.sender(port).await?.try_send_request(req).await {
                Ok(resp) => Ok(resp),
                // The service closed the kept connection as the request
                // went out, before any of it was sent: once more, on a new one.
                Err(mut e) => match e.take_message() {
                    Some(req) => {
                        upstream.kept = None;
                        upstream.sender(port).await?.send_request(req).await
                    }
                    None => Err(e.into_error()),
                },
            }
        }
    };
    let mut resp = sent.map_err(|e| Unreachable { port, error: describe(&e) })?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(downstream) = downstream
    {
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let _tunnel = tunnel;
            let (Ok(down), Ok(up)) = tokio::join!(downstream, upstream) else { return };
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(down), &mut TokioIo::new(up)).await;
        });
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, empty()));
    }
    strip_hop_by_hop(resp.headers_mut());
    Ok(resp.map(BodyExt::boxed))
}

/// The protocol a request asks to upgrade to (`Connection: upgrade` with
/// `Upgrade: ...`).
fn upgrade_of(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned()).flatten()
}

/// Removes the headers that concern one connection only, including those
/// `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Appends the peer to `X-Forwarded-For` and sets `-Host` and `-Proto`.
fn forwarded(headers: &mut HeaderMap, peer: IpAddr, host: &str) {
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {peer}"),
        None => peer.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert("x-forwarded-for", v);
    }
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert("x-forwarded-host", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
}

/// The innermost cause, which says what happened (`Connection refused`).
fn describe(e: &hyper::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// An empty body.
pub fn empty() -> Body {
    http_body_util::Empty::new().map_err(|never| match never {}).boxed()
}

/// A body of `text`.
pub fn full(text: String) -> Body {
    http_body_util::Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_go_and_the_rest_stay() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("cookie", "a=1"),
            ("host", "web.a.localhost:19000"),
        ]);
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, vec!["cookie", "host"]);
    }

    #[test]
    fn upgrades_are_recognised_and_forwarding_is_appended() {
        let ws = headers(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")]);
        assert_eq!(upgrade_of(&ws), Some(HeaderValue::from_static("websocket")));
        assert_eq!(upgrade_of(&headers(&[("upgrade", "websocket")])), None);
        let mut h = headers(&[("x-forwarded-for", "10.0.0.1")]);
        forwarded(&mut h, "127.0.0.1".parse().unwrap(), "a.localhost:19000");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "a.localhost:19000");
        assert_eq!(h["x-forwarded-proto"], "http");
    }
}
