//! The daemon's life: home directory, single-instance lock, socket,
//! serving, signals and a clean shutdown.
//!
//! Start-up order matters: the lock is taken before anything else is
//! touched (a second daemon changes nothing), a stale socket is removed only
//! after a failed connect, and readiness is announced only once the socket
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
mod websocket;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonrpsee::server::stop_channel;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::EventBus;
use crate::home::Home;
use crate::monitor::{Monitor, MonitorError};
use crate::monolog::MonoLog;
use crate::ops::Ops;
use crate::rpc::Api;
use crate::settings::Settings;
use crate::state::{StateError, Store};

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
    /// The state database could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The log directories could not be watched.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// `MONO_HOME` is not a directory mono may use.
    #[error(transparent)]
    Home(#[from] mono_proto::home::HomeError),
}

/// How to run the daemon.
#[derive(Debug)]
pub struct DaemonConfig {
    /// The home directory (`MONO_HOME`).
    pub home: PathBuf,
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
    /// What a service manager handed over: a listening socket (socket
    /// activation) and where to report readiness.
    pub activation: activation::Activation,
}

/// Runs the daemon until it is asked to stop.
pub async fn run(mut config: DaemonConfig) -> Result<(), DaemonError> {
    let home = Home::open(&config.home)?;
    let _lock = lock::InstanceLock::acquire(&home.lock(), home.root())?;
    prepare_home(&home)?;
    let socket = home.socket();
    for note in config.activation.notes() {
        tracing::warn!("{note}");
    }
    // A handed socket is the service manager's: it is live, not stale.
    let handed = config.activation.take_listener();
    if handed.is_none() {
        lock::clear_stale_socket(&socket)?;
    }

    crate::state::refuse_truncated(&home.state_db(), || home.environment_dirs())?;
    let (store, store_thread) = Store::open(&home.state_db())?;
    let settings = config.settings.clone();
    let log = MonoLog::open_with(&home.mono_log(), settings.log).map_err(|source| DaemonError::Io {
        what: "open",
        path: home.mono_log(),
        source,
    })?;
    let stop = CancellationToken::new();
    let events = EventBus::new(store.clone(), settings.events);
    let monitor = Monitor::start(home.logs_root(), events.clone(), stop.clone())?;
    let ops = Ops::new(home.clone(), store, log, events, monitor, &settings);
    if let Err(e) = ops.watch_registered().await {
        tracing::warn!(error = %e, "cannot watch the environments' logs");
    }
    // Before the socket accepts: interrupted environments are claimed first.
    if let Err(e) = ops.recover().await {
        tracing::warn!(error = %e, "cannot recover interrupted operations");
    }
    let tmux = crate::tmux::probe().await;
    if !tmux.available {
        tracing::warn!(detail = %tmux.detail, "tmux is not available; init will fail until it is installed");
    }
    let protocol = config.report_protocol.unwrap_or(mono_proto::PROTOCOL_VERSION);
    let version = config.report_version.clone().unwrap_or_else(|| mono_proto::VERSION.to_string());
    let methods = Api::new(ops.clone(), tmux, stop.clone(), protocol, version).into_methods();

    let watcher = tokio::spawn(crate::docker::watch_containers(ops.clone(), stop.clone()));
    let listener = match handed {
        Some(handed) => adopt(handed, &socket)?,
        None => bind(&socket)?,
    };
    let owns_socket = !listener.handed;
    let listener = listener.listener;
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
    let notifier = config.activation.notifier();
    if let Some(n) = notifier
        && let Err(e) = n.ready(&format!("listening on {}", socket.display()))
    {
        tracing::warn!(error = %e, socket = n.address(), "cannot report readiness to the service manager");
    }

    wait_for_stop(&stop).await;
    tracing::info!("shutting down");
    if let Some(n) = notifier
        && let Err(e) = n.stopping("shutting down")
    {
        tracing::warn!(error = %e, socket = n.address(), "cannot report shutdown to the service manager");
    }
    stop.cancel();
    let _ = acceptor.await;
    let _ = watcher.await;
    ops.shutdown().await;
    let _ = server_handle.stop();
    connections.close();
    if tokio::time::timeout(DRAIN_CONNECTIONS, connections.wait()).await.is_err() {
        tracing::warn!("some connections did not finish in time");
    }
    if owns_socket {
        let _ = std::fs::remove_file(&socket);
    }
    drop(ops);
    store_thread.join();
    tracing::info!("stopped");
    Ok(())
}

/// Creates the data, log and cache directories (0700, never through a
/// link). The home itself was checked, and created if absent, by
/// [`Home::open`].
fn prepare_home(home: &Home) -> Result<(), DaemonError> {
    use mono_proto::paths::{CACHE_DIR, DATA_DIR, LOGS_DIR};
    for dir in [DATA_DIR, LOGS_DIR, CACHE_DIR] {
        home.private_dir(&[dir]).map_err(|source| match crate::nofollow::link_found(&source) {
            Some(crate::nofollow::LinkFound { target, .. }) => {
                DaemonError::Link { path: home.root().join(dir), target: target.clone() }
            }
            None => DaemonError::Io { what: "create", path: home.root().join(dir), source },
        })?;
    }
    Ok(())
}

/// The listening socket, and whether a service manager handed it over
/// (then it is the manager's to keep, chmod and remove).
struct Listener {
    listener: UnixListener,
    handed: bool,
}

/// Binds the socket and makes it owner-only.
fn bind(path: &Path) -> Result<Listener, DaemonError> {
    let io = |what| move |source| DaemonError::Io { what, path: path.to_path_buf(), source };
    let listener = UnixListener::bind(path).map_err(io("listen on"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("set permissions of"))?;
    Ok(Listener { listener, handed: false })
}

/// Serves the socket a service manager handed over (socket activation),
/// warning when it is not the one clients look for.
fn adopt(handed: std::os::unix::net::UnixListener, expected: &Path) -> Result<Listener, DaemonError> {
    let io = |what| move |source| DaemonError::Io { what, path: expected.to_path_buf(), source };
    let bound = handed.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf));
    match &bound {
        Some(path) if activation::same_socket(path, expected) => {}
        Some(path) => tracing::warn!(
            handed = %path.display(),
            expected = %expected.display(),
            "the service manager handed a socket at another path than $MONO_HOME/monod.sock, where clients look"
        ),
        None => {
            tracing::warn!(expected = %expected.display(), "the service manager handed a socket without a path")
        }
    }
    handed.set_nonblocking(true).map_err(io("use the socket handed over for"))?;
    let listener = UnixListener::from_std(handed).map_err(io("use the socket handed over for"))?;
    let shown = bound.as_deref().unwrap_or(expected).display().to_string();
    tracing::info!(socket = %shown, "listening on the socket handed by the service manager (LISTEN_FDS)");
    Ok(Listener { listener, handed: true })
}

fn announce_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

/// Waits for SIGTERM, SIGINT or `daemon.stop`. SIGHUP is ignored: the
/// daemon outlives the terminal that started it.
async fn wait_for_stop(stop: &CancellationToken) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("cannot install signal handlers; stop monod with `mono daemon stop`");
        stop.cancelled().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM"); return; }
            _ = int.recv() => { tracing::info!("SIGINT"); return; }
            _ = hup.recv() => tracing::info!("SIGHUP ignored"),
            _ = stop.cancelled() => return,
        }
    }
}
