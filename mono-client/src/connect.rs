//! Reaching monod: find its socket, start it when nothing answers, make sure
//! it speaks our protocol, and open a WebSocket when output must stream.
//!
//! Starting is race-free: clients serialise on `start.lock`, re-check the
//! socket once they hold it, and only then spawn monod, which reports
//! readiness on a pipe instead of being polled for. Ten clients starting at
//! once therefore start one daemon.
//!
//! Connecting comes first, always: when a service manager holds the socket
//! (systemd socket activation), every connect succeeds and the manager
//! starts monod, so the client never spawns a second one beside it. A client
//! spawns monod only when nothing listens at all.
//!
//! A daemon of another version (after an upgrade) is replaced when it is
//! idle (no operation in progress). A busy one is left alone: used, with a
//! note, when it speaks our protocol; refused, saying what to do, when not.
//!
//! A daemon that holds the lock but does not answer (stopped, hung, its
//! backlog full) is named within seconds rather than waited for
//! ([`crate::liveness`]); a connection that ends is reported as a lost
//! daemon only once the daemon is found gone ([`explain`]).

use std::fs::File;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use jsonrpsee::client_transport::ws::{Url, WsHandshakeError, WsTransportClientBuilder};
use jsonrpsee::core::client::{Client, ClientBuilder};
use mono_proto::methods::{self, NoParams};
use mono_proto::{DaemonStatus, PROTOCOL_VERSION, paths};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Lost;
use crate::liveness::{self, PATIENCE, Probe};
use crate::unary;

/// Notifications a subscription may hold before the client reads them.
const SUBSCRIPTION_BUFFER: usize = 65_536;

/// Replies to long operations (init runs `npm install`) may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How long a starting daemon gets to announce readiness.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an old daemon gets to exit when replaced or stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a WebSocket handshake may take while its daemon answers checks.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the daemon lives.
pub struct Endpoint {
    /// `MONO_HOME`.
    pub home: PathBuf,
    /// The socket.
    pub socket: PathBuf,
}

impl Endpoint {
    /// The endpoint of the current `MONO_HOME`, once the home passed
    /// mono's rules ([`mono_proto::home`]): a refused home is one error
    /// line, and nothing is written there.
    pub fn from_env() -> anyhow::Result<Endpoint> {
        let ep = Endpoint::locate()?;
        mono_proto::home::open(&ep.home)?;
        Ok(ep)
    }

    /// The endpoint of the current `MONO_HOME`, unchecked (for `mono
    /// doctor`, which reports what is wrong with it).
    pub fn locate() -> anyhow::Result<Endpoint> {
        let home = paths::mono_home().context("cannot find a home directory: set MONO_HOME or HOME")?;
        let home =
            std::path::absolute(&home).with_context(|| format!("invalid MONO_HOME {}", home.display()))?;
        let socket = paths::socket_path(&home);
        Ok(Endpoint { home, socket })
    }

    /// The single-instance lock file.
    pub fn lock(&self) -> PathBuf {
        self.home.join(paths::LOCK_FILE)
    }

    /// Whether a daemon runs for this home: one holds the lock. Unlike
    /// [`Endpoint::answering`] this never connects, so it does not start a
    /// socket-activated monod.
    pub fn daemon_alive(&self) -> bool {
        let Ok(file) = File::open(self.lock()) else { return false };
        match file.try_lock_shared() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => self.answering(),
        }
    }

    /// Whether a daemon answers a request on the socket (with socket
    /// activation, the service manager accepts and starts monod). A connect
    /// alone is not enough: the socket of a daemon that is being killed
    /// still accepts connections it will never answer.
    pub fn answering(&self) -> bool {
        liveness::probe(&self.socket) == Probe::Answered
    }

    /// One call to a running daemon, without starting it or checking its
    /// version (a hung one is [`liveness::Hung`]).
    pub fn call<R: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> anyhow::Result<R> {
        unary::call(&self.socket, &self.lock(), method, params)
    }

    /// Makes sure a daemon of our protocol runs (starting or replacing one
    /// as needed) and returns its status.
    pub fn ensure(&self) -> anyhow::Result<DaemonStatus> {
        let status: DaemonStatus = match self.call(methods::DAEMON_STATUS, NoParams {}) {
            Err(e) if e.is::<unary::NotRunning>() => {
                self.start()?;
                self.call(methods::DAEMON_STATUS, NoParams {})?
            }
            other => other?,
        };
        if is_current(&status) || !self.replace(&status)? {
            return Ok(status);
        }
        self.call(methods::DAEMON_STATUS, NoParams {})
    }

    /// A read-only call, sent in one round trip together with the protocol
    /// check (a JSON-RPC batch); starts or replaces the daemon as needed.
    pub fn query<R: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> anyhow::Result<R> {
        let params = serde_json::to_value(params)?;
        let calls = [(methods::DAEMON_STATUS, serde_json::json!({})), (method, params.clone())];
        let lock = self.lock();
        let mut replies = match unary::batch(&self.socket, &lock, &calls) {
            Err(e) if e.is::<unary::NotRunning>() => {
                self.start()?;
                unary::batch(&self.socket, &lock, &calls)?
            }
            other => other?,
        };
        let answer = replies.pop().context("monod sent no reply")?;
        let status: DaemonStatus =
            unary::decode(methods::DAEMON_STATUS, replies.pop().context("no status")??)?;
        if is_current(&status) || !self.replace(&status)? {
            return unary::decode(method, answer?);
        }
        unary::call(&self.socket, &lock, method, params)
    }

    /// Opens a WebSocket JSON-RPC client (for calls whose output streams).
    /// Connecting waits in slices of [`PATIENCE`], checking that the daemon
    /// is alive after each silent one; the rest is watched by
    /// [`crate::commands::block_on`].
    pub async fn websocket(&self) -> anyhow::Result<Client> {
        let lock = self.lock();
        let check = || liveness::check(&self.socket, &lock);
        let deadline = std::time::Instant::now() + HANDSHAKE_TIMEOUT;
        let stream = loop {
            match crate::http::connect_within(&self.socket, PATIENCE) {
                Ok(stream) => break stream,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline =>
                {
                    check()?
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot connect to monod at {}", self.socket.display()));
                }
            }
        };
        stream.set_nonblocking(true).context("cannot use the socket")?;
        let stream = tokio::net::UnixStream::from_std(stream).context("cannot use the socket")?;
        let url: Url = "ws://localhost/".parse().expect("static URL");
        let handshake = WsTransportClientBuilder::default()
            // What monod reads: a larger message is refused here, by the
            // client library, rather than answered with an error no call
            // can be matched to (see `crate::error`).
            .max_request_size(mono_proto::error::MAX_REQUEST)
            .max_response_size(64 * 1024 * 1024)
            .connection_timeout(HANDSHAKE_TIMEOUT)
            .build_with_stream(url, stream);
        // The handshake, like everything after it, is watched by the
        // command's `block_on`.
        let (tx, rx) = match handshake.await {
            Ok(pair) => pair,
            Err(WsHandshakeError::Rejected { status_code: 403 }) => bail!(
                "permission denied: monod at {} belongs to another user; set MONO_HOME to a directory of your own",
                self.socket.display()
            ),
            // The socket's limit (the daemon's JSON-RPC error says the same).
            Err(WsHandshakeError::Rejected { status_code: 503 }) => bail!(
                "monod at {} has too many connections open; close idle clients (`mono events` followers, \
                 WebSockets) or raise socket.max_connections in monod.yml",
                self.socket.display()
            ),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("monod at {} refused the connection", self.socket.display()));
            }
        };
        // jsonrpsee drops a subscription whose buffer overflows. The daemon
        // only sends as fast as the socket takes, so what can pile up here is
        // at most what the kernel buffered while this client was not reading
        // (a stopped or slow terminal): well under this many notifications.
        Ok(ClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .max_buffer_capacity_per_subscription(SUBSCRIPTION_BUFFER)
            .build_with_tokio(tx, rx))
    }

    /// Stops an idle daemon of another version and starts ours (`true`).
    /// A busy one of our protocol is kept, with a note (`false`); a busy one
    /// of another protocol is refused, saying what to do.
    pub fn replace(&self, status: &DaemonStatus) -> anyhow::Result<bool> {
        if status.operations > 0 && status.protocol == PROTOCOL_VERSION {
            eprintln!(
                "mono: note: monod {} is busy with {} operation(s), so it stays until idle; this mono is {}",
                status.version,
                status.operations,
                mono_proto::VERSION
            );
            return Ok(false);
        }
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
        let () = self.call(methods::DAEMON_STOP, NoParams {})?;
        self.wait_for_exit()?;
        self.start()?;
        Ok(true)
    }

    /// Waits until no daemon holds the home's lock, i.e. it has exited.
    /// The lock file is only read (a home may have become read-only).
    pub fn wait_for_exit(&self) -> anyhow::Result<()> {
        let lock = self.lock();
        let file = match File::open(&lock) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", lock.display())),
        };
        with_timeout(STOP_TIMEOUT, move || file.lock().and_then(|()| file.unlock()))
            .with_context(|| format!("monod did not exit within {}s", STOP_TIMEOUT.as_secs()))?
            .context("cannot wait for monod to exit")
    }

    /// Starts monod for this home unless another client just did.
    pub fn start(&self) -> anyhow::Result<()> {
        let home = mono_proto::home::open_or_create(&self.home)?;
        let lock = home
            .open_file(paths::START_LOCK_FILE, rustix::fs::OFlags::RDWR)
            .with_context(|| format!("cannot open {}", self.home.join(paths::START_LOCK_FILE).display()))?;
        lock.lock().context("cannot take the start lock")?;
        // Someone may have started it while we waited for the lock.
        if self.answering() || self.wait_for_holder()? {
            return Ok(());
        }
        let monod = find_monod()?;
        let log_path = self.home.join(paths::DAEMON_LOG_FILE);
        let log = home
            .open_file(paths::DAEMON_LOG_FILE, rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::APPEND)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut child = Command::new(&monod)
            .arg("--background")
            .arg("--notify-stdout")
            .env(paths::MONO_HOME_VAR, &self.home)
            // A monod a client starts is nobody's service: were this client
            // run by a service manager, the daemon must not report to it or
            // take its sockets.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", monod.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let line = with_timeout(START_TIMEOUT, move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        match line {
            Some(Ok(l)) if l.trim() == "ready" => Ok(()),
            None => {
                bail!(
                    "monod did not become ready within {}s; see {}",
                    START_TIMEOUT.as_secs(),
                    log_path.display()
                )
            }
            _ => {
                // It exited: maybe another daemon won a race for the lock.
                if self.answering() {
                    return Ok(());
                }
                let last = last_line(&log_path).unwrap_or_else(|| "no output".to_string());
                bail!("monod failed to start: {last} (full log: {})", log_path.display())
            }
        }
    }
}

impl Endpoint {
    /// A daemon that holds the instance lock but does not answer is either
    /// still starting (started by a service manager or by hand; its socket
    /// is not there yet), or dying: a killed daemon's threads may hold its
    /// files a moment after its pid is gone. Waits for it to answer (`true`)
    /// or to release the lock (`false`: start one); one whose socket accepts
    /// but stays silent is hung, and one that does neither is reported.
    fn wait_for_holder(&self) -> anyhow::Result<bool> {
        let lock = self.lock();
        let held = || {
            File::open(&lock)
                .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
        };
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        while held() {
            match liveness::probe(&self.socket) {
                Probe::Answered => return Ok(true),
                Probe::Silent => liveness::check(&self.socket, &lock)?,
                Probe::Absent => {}
            }
            if std::time::Instant::now() >= deadline {
                let pid = std::fs::read_to_string(&lock).unwrap_or_default();
                bail!(
                    "monod (pid {}) holds {} but does not answer on {}; it may be hung: kill it and try again (`mono doctor` checks)",
                    pid.trim(),
                    lock.display(),
                    self.socket.display()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Ok(false)
    }
}

/// The error to show for `e`. A [`Lost`] connection is reported as a lost
/// daemon only when monod is gone: no process holds its lock, or the one
/// that answers now is another (a service manager started it afresh). When
/// the daemon that held the lock still answers, the line says so, and that
/// an operation it had started goes on. Asking never starts a daemon: the socket is only
/// tried while the lock is held.
pub fn explain(e: anyhow::Error) -> anyhow::Error {
    let detail = match e.downcast_ref::<Lost>() {
        Some(lost) => lost.detail.clone(),
        None => return e,
    };
    let gone = || {
        anyhow!(
            "lost the connection to monod ({detail}); an operation it was running is finished or rolled back \
             when it restarts (`mono list` restarts it); see monod.log in MONO_HOME"
        )
    };
    let Ok(ep) = Endpoint::locate() else { return gone() };
    let Some(holder) = liveness::lock_holder(&ep.lock()) else { return gone() };
    match ep.call::<DaemonStatus>(methods::DAEMON_STATUS, NoParams {}) {
        Ok(status) if status.pid == holder => anyhow!(
            "the connection to monod ended ({detail}), but monod (pid {holder}) still runs: an operation it \
             had started goes on; `mono status` shows where the environment stands"
        ),
        Ok(_) => gone(),
        Err(e) if e.is::<liveness::Hung>() || e.is::<crate::error::RpcError>() => {
            anyhow!("the connection to monod ended ({detail}): {e}")
        }
        Err(_) => gone(),
    }
}

/// Whether the daemon is of this very build's version and protocol.
pub fn is_current(status: &DaemonStatus) -> bool {
    status.protocol == PROTOCOL_VERSION && status.version == mono_proto::VERSION
}

/// Runs a blocking `f` on a helper thread, giving up after `timeout`.
fn with_timeout<T: Send + 'static>(timeout: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(timeout).ok()
}

/// monod beside this executable, else on PATH.
pub fn find_monod() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().ok();
    if let Some(beside) = exe.as_ref().and_then(|e| e.parent()).map(|d| d.join("monod"))
        && beside.is_file()
    {
        return Ok(beside);
    }
    if let Some(found) = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("monod")).find(|c| c.is_file()))
    {
        return Ok(found);
    }
    let exe = exe.map_or_else(|| "mono".to_string(), |e| e.display().to_string());
    bail!("cannot find monod beside {exe} or on PATH; install both binaries together")
}

/// The last line monod wrote to its log, without its `monod: error: `
/// prefix (the client's line has its own).
fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(line.strip_prefix("monod: error: ").unwrap_or(line).to_string())
}
