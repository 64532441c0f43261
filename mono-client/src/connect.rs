//! Reaching monod: connect to its socket, start it when nothing answers,
//! and make sure it speaks our protocol.
//!
//! Starting is race-free: clients serialise on `start.lock`, re-check the
//! socket once they hold it, and only then spawn monod, which reports
//! readiness on a pipe instead of being polled for. Ten clients starting at
//! once therefore start one daemon.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use jsonrpsee::client_transport::ws::{Url, WsHandshakeError, WsTransportClientBuilder};
use jsonrpsee::core::client::{Client, ClientBuilder};
use mono_proto::api::MonoApiClient;
use mono_proto::{DaemonStatus, PROTOCOL_VERSION, paths};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Replies to long operations (init runs `npm install`) may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How long a starting daemon gets to announce readiness.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an old daemon gets to exit when replaced or stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the daemon lives.
pub struct Endpoint {
    /// `MONO_HOME`.
    pub home: PathBuf,
    /// The socket.
    pub socket: PathBuf,
}

impl Endpoint {
    /// The endpoint of the current `MONO_HOME`.
    pub fn from_env() -> anyhow::Result<Endpoint> {
        let home = paths::mono_home().context("cannot find a home directory: set MONO_HOME or HOME")?;
        let home =
            std::path::absolute(&home).with_context(|| format!("invalid MONO_HOME {}", home.display()))?;
        let socket = paths::socket_path(&home);
        Ok(Endpoint { home, socket })
    }
}

/// Connects to a running daemon; `Ok(None)` when none answers.
pub async fn connect_existing(ep: &Endpoint) -> anyhow::Result<Option<Client>> {
    let stream = match tokio::net::UnixStream::connect(&ep.socket).await {
        Ok(s) => s,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot connect to monod at {}", ep.socket.display()));
        }
    };
    let url: Url = "ws://localhost/".parse().expect("static URL");
    let (tx, rx) = match WsTransportClientBuilder::default()
        .max_request_size(64 * 1024 * 1024)
        .max_response_size(64 * 1024 * 1024)
        .build_with_stream(url, stream)
        .await
    {
        Ok(pair) => pair,
        Err(WsHandshakeError::Rejected { status_code: 403 }) => bail!(
            "permission denied: monod at {} belongs to another user; set MONO_HOME to a directory of your own",
            ep.socket.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("monod at {} refused the connection", ep.socket.display()));
        }
    };
    Ok(Some(ClientBuilder::default().request_timeout(REQUEST_TIMEOUT).build_with_tokio(tx, rx)))
}

/// Connects, starting monod if none answers, and checks the protocol.
pub async fn connect(ep: &Endpoint) -> anyhow::Result<Client> {
    let client = match connect_existing(ep).await? {
        Some(c) => c,
        None => {
            start_daemon(ep).await?;
            connect_existing(ep)
                .await?
                .context("monod started but does not answer; see monod.log in MONO_HOME")?
        }
    };
    let status = client.daemon_status().await.map_err(crate::error::from_rpc)?;
    if status.protocol == PROTOCOL_VERSION {
        return Ok(client);
    }
    replace_daemon(ep, client, &status).await?;
    connect_existing(ep).await?.context("the new monod does not answer; see monod.log in MONO_HOME")
}

/// Stops a daemon of another protocol version when it is idle and starts
/// ours; refuses (with what to do) while it is busy.
async fn replace_daemon(ep: &Endpoint, old: Client, status: &DaemonStatus) -> anyhow::Result<()> {
    if status.operations > 0 {
        bail!(
            "monod {} (protocol {}) is running with {} operation(s) in progress, and this mono {} speaks protocol {}; \
             run `mono daemon stop` once they finish",
            status.version,
            status.protocol,
            status.operations,
            mono_proto::VERSION,
            PROTOCOL_VERSION
        );
    }
    eprintln!(
        "mono: replacing idle monod {} (protocol {}) with {}",
        status.version,
        status.protocol,
        mono_proto::VERSION
    );
    old.daemon_stop().await.map_err(crate::error::from_rpc)?;
    drop(old);
    wait_for_exit(ep).await?;
    start_daemon(ep).await
}

/// Waits until no daemon holds the home's lock.
pub async fn wait_for_exit(ep: &Endpoint) -> anyhow::Result<()> {
    let lock = ep.home.join(paths::LOCK_FILE);
    let wait = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&lock)?;
        // Blocks until the daemon's lock is released, i.e. it has exited.
        file.lock()?;
        file.unlock()
    });
    match tokio::time::timeout(STOP_TIMEOUT, wait).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e).context("cannot wait for monod to exit"),
        Ok(Err(e)) => Err(e).context("cannot wait for monod to exit"),
        Err(_) => bail!("monod did not exit within {}s", STOP_TIMEOUT.as_secs()),
    }
}

/// Starts monod for this home unless another client just did.
pub async fn start_daemon(ep: &Endpoint) -> anyhow::Result<()> {
    create_home(&ep.home)?;
    let lock_path = ep.home.join(paths::START_LOCK_FILE);
    let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)?;
        f.lock()?;
        Ok(f)
    })
    .await?
    .context("cannot take the start lock")?;
    // Someone may have started it while we waited for the lock.
    if std::os::unix::net::UnixStream::connect(&ep.socket).is_ok() {
        return Ok(());
    }
    let monod = find_monod()?;
    let log_path = ep.home.join(paths::DAEMON_LOG_FILE);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut child = tokio::process::Command::new(&monod)
        .arg("--background")
        .arg("--notify-stdout")
        .env(paths::MONO_HOME_VAR, &ep.home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", monod.display()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    let read = tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line)).await;
    drop(lock);
    match read {
        Ok(Ok(_)) if line.trim() == "ready" => Ok(()),
        Err(_) => bail!(
            "monod did not become ready within {}s; see {}",
            START_TIMEOUT.as_secs(),
            log_path.display()
        ),
        _ => {
            // It exited: maybe another daemon won a race for the lock.
            if std::os::unix::net::UnixStream::connect(&ep.socket).is_ok() {
                return Ok(());
            }
            let last = last_line(&log_path).unwrap_or_else(|| "no output".to_string());
            bail!("monod failed to start: {last} (full log: {})", log_path.display())
        }
    }
}

fn create_home(home: &Path) -> anyhow::Result<()> {
    if !home.is_dir() {
        std::fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot set permissions of {}", home.display()))?;
    }
    Ok(())
}

/// monod beside this executable, else on PATH.
fn find_monod() -> anyhow::Result<PathBuf> {
    if let Some(beside) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join("monod")))
        && beside.is_file()
    {
        return Ok(beside);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("monod");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("cannot find monod beside {} or on PATH; install both binaries together", current_exe_name())
}

fn current_exe_name() -> String {
    std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "mono".to_string())
}

fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string)
}

fn is_absent(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused)
}
