//! Named URLs: a reverse proxy on `127.0.0.1:19000` (`monod.yml`
//! `router`), so `http://web.shop-a.localhost:19000/` reaches the `web`
//! service of environment `shop-a` and `http://shop-a.localhost:19000/`
//! its entry point, each an origin of its own in the browser.
//!
//! [`host`] reads the name, [`table`] knows where names lead (rebuilt from
//! the state on every environment event, never polled), [`proxy`] forwards
//! a request and [`page`] answers what leads nowhere. HTTP is hyper's on
//! both sides (keep-alive, streaming, upgrades). A port already taken is
//! reported (`daemon.status`, `monod.log`) and the daemon runs on without
//! the router.

pub mod host;
pub mod page;
pub mod proxy;
pub mod table;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::events::EventBus;
use crate::state::Store;
use table::{Miss, Table};

/// Browser connections served at once (a browser opens six per host);
/// more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;

/// Descriptors the router may hold: each browser connection (and each
/// upgraded one) with the connection to its service.
pub const DESCRIPTORS: usize = 2 * (MAX_CONNECTIONS + proxy::MAX_TUNNELS);

/// A request's head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The running router's shared parts.
pub struct Router {
    table: RwLock<Arc<Table>>,
    tunnels: Arc<Semaphore>,
    port: u16,
}

impl Router {
    /// A router for URLs on `port`, with an empty table.
    pub fn new(port: u16) -> Arc<Router> {
        let tunnels = Arc::new(Semaphore::new(proxy::MAX_TUNNELS));
        Arc::new(Router { table: RwLock::new(Arc::default()), tunnels, port })
    }

    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_table(&self, table: Table) {
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }

    /// Rebuilds the table from the state's rows.
    pub async fn reload(&self, store: &Store) {
        match store.all().await {
            Ok(rows) => self.set_table(Table::from_rows(&rows)),
            Err(e) => tracing::warn!(error = %e, "router: cannot read the environments"),
        }
    }

    /// Answers one request.
    async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        upstream: &tokio::sync::Mutex<proxy::Upstream>,
    ) -> Response<proxy::Body> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let table = self.table();
        let Some(wanted) = host::parse(&host) else {
            let why = format!("{host:?} names no environment: use one of these URLs.");
            return html(StatusCode::NOT_FOUND, page::listing(&table, self.port, &why));
        };
        let port = match table.resolve(&wanted) {
            Ok(port) => port,
            Err(miss) => {
                let why = match miss {
                    Miss::NoEnv => format!("There is no environment {:?}.", wanted.env),
                    Miss::NoService => format!(
                        "Environment {:?} has no service {:?} with a published port.",
                        wanted.env,
                        wanted.service.as_deref().unwrap_or_default()
                    ),
                    Miss::NoDefault => format!(
                        "Environment {:?} has several services and no router.default in mono.yml: name one.",
                        wanted.env
                    ),
                };
                return html(StatusCode::NOT_FOUND, page::listing(&table, self.port, &why));
            }
        };
        match proxy::forward(upstream, &self.tunnels, req, port, &host, peer).await {
            Ok(resp) => resp,
            Err(e) => {
                let what = match &wanted.service {
                    Some(s) => format!("service {s} of {}", wanted.env),
                    None => wanted.env.clone(),
                };
                let text = format!(
                    "{what} does not answer on 127.0.0.1:{} ({}); is it running? `mono status` shows it.",
                    e.port, e.error
                );
                html(StatusCode::BAD_GATEWAY, page::message("502 Bad Gateway", &text))
            }
        }
    }
}

fn html(status: StatusCode, body: String) -> Response<proxy::Body> {
    let mut resp = Response::new(proxy::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Serves `listener` until `stop`; open connections end with it.
pub async fn serve(router: Arc<Router>, listener: TcpListener, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait for a
                    // connection to close rather than spin.
                    tracing::warn!(error = %e, "router: accept failed");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let upstream = Arc::new(tokio::sync::Mutex::new(proxy::Upstream::default()));
            let service = hyper::service::service_fn(move |req| {
                let (router, upstream) = (router.clone(), upstream.clone());
                async move { Ok::<_, Infallible>(router.handle(req, peer, &upstream).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                () = stop.cancelled() => {}
            }
            drop(permit);
        });
    }
}

/// The events after which the state's rows may route differently.
const CHANGES_ROUTES: [&str; 4] = [
    mono_proto::event_kinds::ENV_CREATED,
    mono_proto::event_kinds::ENV_READY,
    mono_proto::event_kinds::ENV_FAILED,
    mono_proto::event_kinds::ENV_DESTROYED,
];

/// Keeps the table current: rebuilt at start and on every environment
/// event (created, ready, failed, destroyed), and after missed events.
pub async fn follow(router: Arc<Router>, store: Store, events: EventBus, stop: CancellationToken) {
    let mut live = events.live();
    router.reload(&store).await;
    loop {
        let changed = tokio::select! {
            () = stop.cancelled() => return,
            event = live.recv() => match event {
                Ok(e) => CHANGES_ROUTES.contains(&e.kind.as_str()),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        if changed {
            router.reload(&store).await;
        }
    }
}
