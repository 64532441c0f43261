//! The daemon's life: serving a home on a socket, and a clean shutdown.
//!
//! The binary does what a process does once (see `main.rs`): it takes the
//! single-instance lock before anything else is touched (a second daemon
//! changes nothing), removes a stale socket only after a failed connect,
//! binds or adopts the socket ([`socket`]) and turns signals into the
//! shutdown future that [`run`] takes. So tests can run a daemon in-process
//! on a socket of their own. Readiness is announced only once the socket
//! accepts. Shutdown (SIGTERM, SIGINT or `daemon.stop`) refuses new
//! operations, cancels running ones (they roll back), lets connections
//! finish their replies, removes the socket and closes the database, in that
//! order, so no state is ever half written.
//!
//! Under a service manager ([`activation`]) the socket may be handed over
//! instead of bound; it then belongs to the manager, so monod neither
//! clears, nor chmods, nor removes it. Readiness and the start of shutdown
//! are also reported to the manager when it asks (`NOTIFY_SOCKET`).

pub mod activation;
mod budget;
mod connection;
mod dispatch;
mod envelope;
pub mod lock;
mod refusal;
mod refusals;
mod request_head;
mod serve;
mod socket;
mod websocket;

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use jsonrpsee::server::stop_channel;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::home::Home;
use crate::ops::{Ops, StartError};
use crate::rpc::Api;
use crate::settings::Settings;

pub use socket::Listener;

/// How long connections get to deliver their last replies at shutdown.
const DRAIN_CONNECTIONS: Duration = Duration::from_secs(5);

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another daemon holds the lock.
    #[error("monod is already running for {home} (pid {pid}); `mono daemon stop` stops it")]
    AlreadyRunning {
        /// The home directory.
        home: PathBuf,
        /// The pid recorded in the lock file.
        pid: String,
    },
    /// The socket answers although the lock was free.
    #[error("{path} answers although no monod holds the lock; another program is using it")]
    SocketInUse {
        /// The socket.
        path: PathBuf,
    },
    /// A file-system step failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A symbolic link sits where the home keeps one of its directories.
    #[error(
        "{path} is a symbolic link (to {target}), which mono does not follow; remove the link (its target is left alone) and start again"
    )]
    Link {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: String,
    },
    /// The operations could not start: the state database, `mono.log` or
    /// the log monitor.
    #[error(transparent)]
    Start(#[from] StartError),
    /// `MONO_HOME` is not a directory mono may use.
    #[error(transparent)]
    Home(#[from] mono_proto::home::HomeError),
}

/// How to run the daemon.
#[derive(Debug)]
pub struct DaemonConfig {
    /// The home directory (`MONO_HOME`), opened and checked.
    pub home: Home,
    /// `monod.yml`, read by the caller (it also sets up the diagnostics,
    /// before this runs).
    pub settings: Settings,
    /// Write `ready` on stdout once the socket accepts (used by the client
    /// that starts the daemon, instead of polling for the socket).
    pub notify_stdout: bool,
    /// Test hook: report this protocol version instead of the real one, to
    /// exercise how clients replace a daemon of another version.
    pub report_protocol: Option<u32>,
    /// Test hook: report this version instead of the real one, to exercise
    /// how clients replace a daemon after an upgrade.
    pub report_version: Option<String>,
    /// Where to report readiness and the start of shutdown, when a service
    /// manager waits for it (`NOTIFY_SOCKET`).
    pub notifier: Option<activation::Notifier>,
}

/// Serves the home on `listener` until `shutdown` completes or a client
/// calls `daemon.stop`, then stops in order (see the module docs).
///
/// The caller holds the home's [`lock::InstanceLock`] and made the
/// listener ([`Listener::bind`] or [`Listener::adopt`]); the binary also
/// turns signals into `shutdown`. Tests run it in-process on a socket of
/// their own.
pub async fn run(
    config: DaemonConfig,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let home = config.home;
    prepare_home(&home)?;
    let settings = config.settings;
    let stop = CancellationToken::new();
    let built = Ops::builder(home.clone()).settings(settings.clone()).stop(stop.clone()).build()?;
    let ops = built.ops.clone();
    if let Err(e) = ops.watch_registered().await {
        tracing::warn!(error = %e, "cannot watch the environments' logs");
    }
    // Before the socket accepts: interrupted environments are claimed first.
    if let Err(e) = ops.recover().await {
        tracing::warn!(error = %e, "cannot recover interrupted operations");
    }
    crate::ssh::init(home.root().join(crate::ssh::DIR));
    // Remote engines' ports come back in the background: ssh may take seconds.
    let forwards = tokio::spawn({
        let ops = ops.clone();
        async move { ops.restore_forwards().await }
    });
    let tmux = crate::tmux::probe().await;
    if !tmux.available {
        tracing::warn!(detail = %tmux.detail, "tmux is not available; init will fail until it is installed");
    }
    let protocol = config.report_protocol.unwrap_or(mono_proto::PROTOCOL_VERSION);
    let version = config.report_version.unwrap_or_else(|| mono_proto::VERSION.to_string());
    let (router, router_tasks) = start_router(&settings, &ops, &stop).await;
    let methods =
        Api::new(ops.clone(), tmux, stop.clone(), protocol, version).with_router(router).into_methods();

    let watched = crate::docker::Watched {
        store: ops.store().clone(),
        events: ops.events().clone(),
        home: home.root().display().to_string(),
    };
    let watcher = tokio::spawn(crate::docker::watch_containers(watched, stop.clone()));
    let shown = listener.shown();
    let Listener { listener, owned: socket_file } = listener;
    let listener = UnixListener::from_std(listener).map_err(|source| DaemonError::Io {
        what: "listen on",
        path: PathBuf::from(&shown),
        source,
    })?;
    let (stop_handle, server_handle) = stop_channel();
    let connections = TaskTracker::new();
    let acceptor = tokio::spawn(serve::accept_loop(
        listener,
        dispatch::Rpc::new(methods, serve::MAX_RESPONSE),
        stop_handle,
        stop.clone(),
        connections.clone(),
        settings.socket,
    ));
    tracing::info!(home = %home.root().display(), pid = std::process::id(), version = mono_proto::VERSION, "monod ready");
    if config.notify_stdout {
        announce_ready();
    }
    let notifier = config.notifier.as_ref();
    if let Some(n) = notifier
        && let Err(e) = n.ready(&format!("listening on {shown}"))
    {
        tracing::warn!(error = %e, socket = n.address(), "cannot report readiness to the service manager");
    }

    tokio::select! {
        () = shutdown => {}
        () = stop.cancelled() => {}
    }
    tracing::info!("shutting down");
    if let Some(n) = notifier
        && let Err(e) = n.stopping("shutting down")
    {
        tracing::warn!(error = %e, socket = n.address(), "cannot report shutdown to the service manager");
    }
    stop.cancel();
    let _ = acceptor.await;
    let _ = watcher.await;
    for task in router_tasks {
        let _ = task.await;
    }
    forwards.abort();
    ops.shutdown().await;
    if let Some(masters) = crate::ssh::masters() {
        masters.stop_all().await;
    }
    let _ = server_handle.stop();
    connections.close();
    if tokio::time::timeout(DRAIN_CONNECTIONS, connections.wait()).await.is_err() {
        tracing::warn!("some connections did not finish in time");
    }
    // The socket goes (when it is monod's) before the database closes.
    drop(socket_file);
    drop(ops);
    built.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the router of named URLs, when `monod.yml` has it on: its
/// status for `daemon.status` and the tasks that end with `stop`. A taken
/// address is reported and the daemon runs on without it.
async fn start_router(
    settings: &Settings,
    ops: &std::sync::Arc<Ops>,
    stop: &CancellationToken,
) -> (mono_proto::Component, Vec<tokio::task::JoinHandle<()>>) {
    use mono_proto::Component;
    let wanted = settings.router;
    if !wanted.enabled {
        return (
            Component { available: false, detail: "off (router.enabled: false in monod.yml)".into() },
            vec![],
        );
    }
    let listener = match tokio::net::TcpListener::bind(wanted.listen).await {
        Ok(l) => l,
        Err(e) => {
            let port = wanted.listen.port();
            let holders = tokio::task::spawn_blocking(move || {
                crate::ports::listening::holders(&std::collections::BTreeSet::from([port]))
            })
            .await
            .unwrap_or_default();
            let who = crate::ports::listening::describe(holders.get(&port));
            let detail = format!(
                "cannot listen on {}: {e} (in use by {who}); named URLs are off until it is free and monod \
                 restarts, or router.listen in monod.yml names another port",
                wanted.listen
            );
            tracing::warn!(%detail, "router not started");
            return (Component { available: false, detail }, vec![]);
        }
    };
    let router = crate::router::Router::new(wanted.listen.port());
    let follow = tokio::spawn(crate::router::follow(
        router.clone(),
        ops.store().clone(),
        ops.events().clone(),
        stop.clone(),
    ));
    let serve = tokio::spawn(crate::router::serve(router, listener, stop.clone()));
    let detail = format!("listening on {} (http://<env>.localhost:{}/)", wanted.listen, wanted.listen.port());
    tracing::info!(listen = %wanted.listen, "router ready");
    (Component { available: true, detail }, vec![follow, serve])
}

/// Creates the data, log and cache directories (0700, never through a
/// link). The home itself was checked, and created if absent, by
/// [`Home::open`].
fn prepare_home(home: &Home) -> Result<(), DaemonError> {
    use mono_proto::paths::{CACHE_DIR, DATA_DIR, LOGS_DIR};
    for dir in [DATA_DIR, LOGS_DIR, CACHE_DIR, crate::ssh::DIR] {
        home.private_dir(&[dir]).map_err(|source| match crate::nofollow::link_found(&source) {
            Some(crate::nofollow::LinkFound { target, .. }) => {
                DaemonError::Link { path: home.root().join(dir), target: target.clone() }
            }
            None => DaemonError::Io { what: "create", path: home.root().join(dir), source },
        })?;
    }
    Ok(())
}

fn announce_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// One JSON-RPC call over HTTP/1.1 on the Unix socket at `path`.
    async fn post(path: &std::path::Path, body: &str) -> String {
        let mut stream = tokio::net::UnixStream::connect(path).await.unwrap();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_daemon_runs_in_process_on_a_socket_of_the_tests_own_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(&dir.path().join("home")).unwrap();
        let socket = dir.path().join("test.sock");
        let listener = Listener::bind(&socket).unwrap();
        let config = DaemonConfig {
            home: home.clone(),
            settings: Settings::default(),
            notify_stdout: false,
            report_protocol: None,
            report_version: None,
            notifier: None,
        };
        let (tell, told) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn(run(config, listener, async move {
            let _ = told.await;
        }));
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            post(&socket, r#"{"jsonrpc":"2.0","id":7,"method":"daemon.status"}"#),
        )
        .await
        .expect("daemon.status answered within 20 s");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains(r#""id":7"#) && reply.contains(&mono_proto::VERSION.to_string()), "{reply}");

        tell.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(20), daemon)
            .await
            .expect("the daemon stopped within 20 s")
            .unwrap()
            .unwrap();
        assert!(!socket.exists(), "the socket it bound is removed when it stops");
        assert!(home.state_db().exists());
    }

    #[test]
    fn a_socket_monod_bound_goes_with_its_listener_and_a_taken_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        let listener = Listener::bind(&socket).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(Listener::bind(&socket), Err(DaemonError::Io { what: "listen on", .. })));
        drop(listener);
        assert!(!socket.exists());
    }
}
