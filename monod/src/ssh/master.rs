//! One engine's SSH control master and the port forwards it carries.
//!
//! A supervisor task keeps `ssh -M -N` running (restarting it with backoff
//! after a network drop, which `ServerAliveInterval` notices within
//! seconds) and keeps the wanted forwards in place over it with
//! `ssh -O forward`/`-O cancel`: after every reconnect all of them are
//! added again. Each forward is `127.0.0.1:P` here to `127.0.0.1:P` there,
//! the environment's block port on both machines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{COMMON_OPTIONS, SshTarget};

/// How long a caller waits for the master and its forwards.
const FORWARD_WAIT: Duration = Duration::from_secs(30);
/// How long a new master may take to log in.
const LOGIN_WAIT: Duration = Duration::from_secs(20);
/// The longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What the supervisor has in place, published on every change.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    up: bool,
    active: BTreeSet<u16>,
    failed: BTreeMap<u16, String>,
    error: Option<String>,
}

/// How one forward is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardState {
    /// Local `127.0.0.1:P` leads to the remote `127.0.0.1:P`.
    Up,
    /// Not in place, and why.
    Down(String),
}

/// Why a forward is not in place.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// ssh refused the forward (the local port is taken, ...).
    #[error("cannot forward 127.0.0.1:{port} to {target}: {reason}")]
    Refused {
        /// The port.
        port: u16,
        /// The engine.
        target: String,
        /// ssh's message.
        reason: String,
    },
    /// The SSH connection is not up.
    #[error("no SSH connection to {target}: {reason}; check `ssh {dest}` works without a prompt")]
    Down {
        /// The engine.
        target: String,
        /// `[user@]host`.
        dest: String,
        /// ssh's last message.
        reason: String,
    },
}

/// The control master of one SSH target.
pub struct Master {
    target: SshTarget,
    control: PathBuf,
    log: PathBuf,
    /// Wanted forwards: port, and the environment it belongs to.
    wanted: std::sync::Mutex<BTreeMap<u16, String>>,
    changed: Notify,
    state: watch::Sender<Snapshot>,
    cancel: CancellationToken,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Master {
    /// A master for `target` with its control socket and log at those
    /// paths, its supervisor started.
    pub(super) fn start(target: SshTarget, control: PathBuf, log: PathBuf) -> Arc<Master> {
        let master = Arc::new(Master {
            target,
            control,
            log,
            wanted: std::sync::Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
            state: watch::Sender::new(Snapshot::default()),
            cancel: CancellationToken::new(),
            task: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(master.clone().supervise());
        *master.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        master
    }

    /// Whether its supervisor has ended (stopped, or gave up logging in
    /// with no forward to keep).
    pub fn ended(&self) -> bool {
        self.task.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_none_or(|t| t.is_finished())
    }

    /// The control socket, for [`super::dial::Dial`].
    pub fn control(&self) -> PathBuf {
        self.control.clone()
    }

    /// The target.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Wants `ports` of `env` forwarded, and waits until they are (or
    /// fail, or the connection does not come up in time).
    pub async fn forward(&self, env: &str, ports: &[u16]) -> Result<(), ForwardError> {
        {
            let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
            for port in ports {
                wanted.insert(*port, env.to_string());
            }
        }
        // A port that failed before is tried again.
        self.state.send_modify(|s| {
            for p in ports {
                s.failed.remove(p);
            }
        });
        self.changed.notify_one();
        let mut rx = self.state.subscribe();
        let settled =
            |s: &Snapshot| s.up && ports.iter().all(|p| s.active.contains(p) || s.failed.contains_key(p));
        let waited = tokio::time::timeout(FORWARD_WAIT, rx.wait_for(settled)).await;
        let snapshot = self.state.borrow().clone();
        if waited.is_err() || !snapshot.up {
            return Err(ForwardError::Down {
                target: self.target.to_string(),
                dest: self.target.dest.clone(),
                reason: snapshot.error.unwrap_or_else(|| "it did not come up in time".into()),
            });
        }
        match ports.iter().find_map(|p| snapshot.failed.get(p).map(|r| (*p, r.clone()))) {
            Some((port, reason)) => {
                Err(ForwardError::Refused { port, target: self.target.to_string(), reason })
            }
            None => Ok(()),
        }
    }

    /// Drops the forwards of `env` and waits (briefly) until they are gone.
    pub async fn release(&self, env: &str) {
        let ports: Vec<u16> = {
            let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
            let ports = wanted.iter().filter(|(_, e)| e.as_str() == env).map(|(p, _)| *p).collect();
            wanted.retain(|_, e| e != env);
            ports
        };
        if ports.is_empty() {
            return;
        }
        self.changed.notify_one();
        let mut rx = self.state.subscribe();
        let gone = |s: &Snapshot| !s.up || ports.iter().all(|p| !s.active.contains(p));
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(gone)).await;
    }

    /// How `port` is doing, if it is wanted here.
    pub fn state_of(&self, port: u16) -> Option<ForwardState> {
        if !self.wanted.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&port) {
            return None;
        }
        let s = self.state.borrow();
        Some(if s.active.contains(&port) {
            ForwardState::Up
        } else if let Some(reason) = s.failed.get(&port) {
            ForwardState::Down(reason.clone())
        } else if !s.up {
            ForwardState::Down(s.error.clone().unwrap_or_else(|| "the SSH connection is down".into()))
        } else {
            ForwardState::Down("being set up".into())
        })
    }

    /// Every wanted forward: port, environment, state.
    pub fn forwards(&self) -> Vec<(u16, String, ForwardState)> {
        let wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner()).clone();
        wanted.into_iter().filter_map(|(port, env)| Some((port, env, self.state_of(port)?))).collect()
    }

    /// Whether the connection is up, or ssh's last word.
    pub fn connection(&self) -> Result<(), String> {
        let s = self.state.borrow();
        match s.up {
            true => Ok(()),
            false => Err(s.error.clone().unwrap_or_else(|| "connecting".into())),
        }
    }

    /// Ends the master and its supervisor.
    pub async fn stop(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn supervise(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            self.exit_stale().await;
            match self.login().await {
                Ok(mut child) => {
                    backoff = Duration::from_secs(1);
                    self.state.send_modify(|s| *s = Snapshot { up: true, ..Snapshot::default() });
                    tracing::info!(target = %self.target, "ssh master up");
                    loop {
                        self.apply().await;
                        tokio::select! {
                            _ = child.wait() => break,
                            _ = self.changed.notified() => {}
                            _ = self.cancel.cancelled() => {
                                let _ = child.start_kill();
                                let _ = child.wait().await;
                                let _ = std::fs::remove_file(&self.control);
                                self.state.send_modify(|s| *s = Snapshot::default());
                                return;
                            }
                        }
                    }
                    let reason = self.last_words().unwrap_or_else(|| "the SSH connection ended".into());
                    tracing::warn!(target = %self.target, %reason, "ssh master down; reconnecting");
                    self.state.send_modify(|s| *s = Snapshot { error: Some(reason), ..Snapshot::default() });
                }
                Err(reason) => {
                    tracing::warn!(target = %self.target, %reason, "ssh master cannot log in");
                    self.state.send_modify(|s| *s = Snapshot { error: Some(reason), ..Snapshot::default() });
                    // Nothing to keep up (a mistyped DOCKER_HOST, say): no
                    // retrying for ever; the next use starts a new master.
                    if self.wanted.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                        return;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.cancel.cancelled() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-o")
            .arg(format!("ControlPath={}", self.control.display()))
            .args(COMMON_OPTIONS)
            .args(self.target.port_args())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Ends a master a previous monod left running (it holds the ports).
    async fn exit_stale(&self) {
        if self.control.exists() {
            let _ = self.ssh().args(["-O", "exit", "--", &self.target.dest]).output().await;
            let _ = std::fs::remove_file(&self.control);
        }
    }

    /// Starts `ssh -M -N` and waits until its control socket answers.
    async fn login(&self) -> Result<Child, String> {
        let _ = std::fs::remove_file(&self.log);
        let mut child = self
            .ssh()
            .args(["-M", "-N", "-o", "ControlPersist=no", "-o", "ExitOnForwardFailure=no", "-E"])
            .arg(&self.log)
            .arg("--")
            .arg(&self.target.dest)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        let deadline = tokio::time::Instant::now() + LOGIN_WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(self.last_words().unwrap_or_else(|| format!("ssh exited ({status})")));
            }
            // No event says "authenticated": the control socket answering does.
            let check = self.ssh().args(["-O", "check", "--", &self.target.dest]).output().await;
            if check.is_ok_and(|o| o.status.success()) {
                return Ok(child);
            }
            if tokio::time::Instant::now() >= deadline || self.cancel.is_cancelled() {
                let _ = child.start_kill();
                return Err(self.last_words().unwrap_or_else(|| "ssh did not log in within 20 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last line of the master's log.
    fn last_words(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
    }

    /// Adds the wanted forwards that are missing, cancels the unwanted.
    async fn apply(&self) {
        let wanted: BTreeSet<u16> =
            self.wanted.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect();
        let (active, failed) = {
            let s = self.state.borrow();
            (s.active.clone(), s.failed.clone())
        };
        for port in wanted.iter().filter(|p| !active.contains(p) && !failed.contains_key(p)) {
            match self.mux("forward", *port).await {
                Ok(()) => self.state.send_modify(|s| {
                    s.active.insert(*port);
                }),
                Err(reason) => self.state.send_modify(|s| {
                    s.failed.insert(*port, reason);
                }),
            }
        }
        for port in active.iter().filter(|p| !wanted.contains(p)) {
            let _ = self.mux("cancel", *port).await;
            self.state.send_modify(|s| {
                s.active.remove(port);
            });
        }
        self.state.send_modify(|s| s.failed.retain(|p, _| wanted.contains(p)));
    }

    /// `ssh -O forward|cancel -L 127.0.0.1:P:127.0.0.1:P`.
    async fn mux(&self, op: &str, port: u16) -> Result<(), String> {
        let spec = format!("127.0.0.1:{port}:127.0.0.1:{port}");
        let out = self
            .ssh()
            .args(["-O", op, "-L", &spec, "--", &self.target.dest])
            .output()
            .await
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stderr);
        Err(text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("ssh failed").to_string())
    }
}
