//! Watching what environments' sessions do: their rolling logs, whether
//! they are active or idle, and the run window's runs.
//!
//! Output reaches disk without the daemon (tmux pipes every pane into a
//! `monod capture` process, see [`crate::logs::capture`]); the daemon only
//! watches the log directories. One file-system watcher (inotify, FSEvents)
//! reports every write: it stamps the environment's last output, wakes its
//! followers through a `watch` channel (which coalesces, so a burst of
//! writes costs followers one read) and, on the first write after a quiet
//! period, tells the monitor task. That task emits `activity` events and
//! keeps one timer per active environment, so nothing runs while every
//! environment is quiet. The run window's capture leaves a marker once the
//! run's last byte is on disk; the task then reports the run's exit, after
//! its output, both to followers and as a `run.exited` event (its status
//! travels through a file, or through tmux when the disk refuses it).

mod activity;
mod runs;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mono_proto::{Activity, ActivityState, RunExit, RunInfo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::EventBus;
use crate::logs::capture::{self, Limits};

/// Messages from the file watcher to the monitor task.
enum Signal {
    /// The environment printed after a quiet period.
    Active(Arc<EnvLog>),
    /// The run window's capture finished.
    RunDone(Arc<EnvLog>),
}

/// Signals in flight before the watcher thread waits for the task.
const SIGNAL_BUFFER: usize = 1024;

/// Why watching could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The log directory could not be created.
    #[error("cannot create log directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file-system watcher refused.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The watcher's error.
        source: notify::Error,
    },
}

/// One environment's log and what is known of its session.
pub struct EnvLog {
    name: String,
    dir: PathBuf,
    idle_after: Duration,
    /// Bumped on every change in the directory; followers wait on it.
    tick: tokio::sync::watch::Sender<u64>,
    state: Mutex<EnvState>,
}

#[derive(Default)]
struct EnvState {
    last_output: Option<(Instant, SystemTime)>,
    active: bool,
    run: Option<RunInfo>,
    last_exit: Option<RunExit>,
    /// `stop_run` interrupted the run in progress (and has not killed it).
    interrupted: bool,
    /// `stop_run` killed the run in progress.
    killed: bool,
}

impl EnvLog {
    pub(in crate::logs) fn new(name: &str, dir: PathBuf, idle_after: Duration) -> EnvLog {
        let last = std::fs::metadata(dir.join(capture::CURRENT))
            .and_then(|m| m.modified())
            .ok()
            .map(|t| (Instant::now() - t.elapsed().unwrap_or_default(), t));
        EnvLog {
            name: name.to_string(),
            dir,
            idle_after,
            tick: tokio::sync::watch::Sender::new(0),
            state: Mutex::new(EnvState { last_output: last, ..EnvState::default() }),
        }
    }

    /// The environment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory of its log files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state(&self) -> std::sync::MutexGuard<'_, EnvState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver of the change signal, bumped on every change in the
    /// directory (followers wait on it).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tick.subscribe()
    }

    /// How the last run ended, once its output is on disk.
    pub fn last_exit(&self) -> Option<RunExit> {
        self.state().last_exit.clone()
    }

    pub(in crate::logs) fn bump(&self) {
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// Active or idle, and the time of the last output.
    pub fn activity(&self) -> Activity {
        let state = self.state();
        Activity {
            state: if state.active { ActivityState::Active } else { ActivityState::Idle },
            last_output: state
                .last_output
                .and_then(|(_, t)| jiff::Timestamp::try_from(t).ok())
                .map(|t| t.to_string()),
            quiet_ms: state
                .last_output
                .map(|(i, _)| u64::try_from(i.elapsed().as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// The run in progress.
    pub fn run(&self) -> Option<RunInfo> {
        self.state().run.clone()
    }
}

/// The monitor: environments' logs, activity and runs.
pub struct Monitor {
    logs_root: PathBuf,
    capture_exe: PathBuf,
    events: EventBus,
    envs: Mutex<HashMap<String, Arc<EnvLog>>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    signals: mpsc::Sender<Signal>,
}

impl Monitor {
    /// Starts watching under `logs_root` (created if missing) and the task
    /// that turns what the watcher sees into events; it ends on `shutdown`.
    pub fn start(
        logs_root: PathBuf,
        events: EventBus,
        shutdown: CancellationToken,
    ) -> Result<Arc<Monitor>, MonitorError> {
        create_private_dir(&logs_root)?;
        let (tx, rx) = mpsc::channel(SIGNAL_BUFFER);
        let monitor = Arc::new(Monitor {
            logs_root,
            capture_exe: capture_exe(),
            events,
            envs: Mutex::new(HashMap::new()),
            watcher: Mutex::new(None),
            signals: tx,
        });
        let watcher = watch::start(Arc::downgrade(&monitor))
            .map_err(|source| MonitorError::Watch { path: monitor.logs_root.clone(), source })?;
        *monitor.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
        tokio::spawn(activity::run_task(monitor.clone(), rx, shutdown));
        Ok(monitor)
    }

    /// The log directory of an environment.
    pub fn dir_of(&self, env: &str) -> PathBuf {
        self.logs_root.join(env)
    }

    /// Starts watching an environment, creating its log directory. Call
    /// before its session exists, so its first output is seen.
    pub fn add(&self, env: &str, idle_after: Duration) -> Result<Arc<EnvLog>, MonitorError> {
        let dir = self.dir_of(env);
        create_private_dir(&dir)?;
        let log = Arc::new(EnvLog::new(env, dir.clone(), idle_after));
        self.lock_envs().insert(env.to_string(), log.clone());
        if let Some(w) = self.watcher.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            use notify::Watcher;
            w.watch(&dir, notify::RecursiveMode::NonRecursive)
                .map_err(|source| MonitorError::Watch { path: dir.clone(), source })?;
        }
        runs::recover(self, &log);
        Ok(log)
    }

    /// Stops watching an environment and removes its log directory;
    /// followers see the end.
    pub fn remove(&self, env: &str) -> std::io::Result<()> {
        let dir = self.dir_of(env);
        if self.lock_envs().remove(env).is_some()
            && let Some(w) = self.watcher.lock().unwrap_or_else(|p| p.into_inner()).as_mut()
        {
            use notify::Watcher;
            let _ = w.unwatch(&dir);
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The watched environment of this name.
    pub fn get(&self, env: &str) -> Option<Arc<EnvLog>> {
        self.lock_envs().get(env).cloned()
    }

    /// The shell command tmux runs to capture a pane of `env` into its log:
    /// only quoted paths and numbers, nothing taken from the workspace.
    pub fn capture_command(&self, env: &str, limits: Limits) -> String {
        let exe = self.capture_exe.to_string_lossy();
        let dir = self.dir_of(env);
        format!(
            "exec {} capture --dir {} --max-bytes {} --keep {}",
            shell_words::quote(&exe),
            shell_words::quote(&dir.to_string_lossy()),
            limits.max_bytes,
            limits.keep
        )
    }

    fn lock_envs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<EnvLog>>> {
        self.envs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After lost watcher events: wakes every follower and re-checks every
    /// run window's end marker.
    fn rescan(&self) {
        let envs: Vec<Arc<EnvLog>> = self.lock_envs().values().cloned().collect();
        for log in envs {
            log.bump();
            if log.dir.join(capture::RUN_DONE).exists() {
                let _ = self.signals.blocking_send(Signal::RunDone(log));
            }
        }
    }

    /// Called by the watcher for every change under the logs root.
    fn on_change(&self, path: &Path, output: bool, created: bool) {
        let Some(env) = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()) else { return };
        let Some(log) = self.get(env) else { return };
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if output && file.starts_with(capture::CURRENT) {
            let woke = {
                let mut state = log.state();
                state.last_output = Some((Instant::now(), SystemTime::now()));
                !std::mem::replace(&mut state.active, true)
            };
            if woke {
                let _ = self.signals.blocking_send(Signal::Active(log.clone()));
            }
        }
        log.bump();
        if created && file == capture::RUN_DONE {
            let _ = self.signals.blocking_send(Signal::RunDone(log));
        }
    }
}

/// monod's own executable, which tmux runs as `monod capture`. A binary
/// replaced on disk while the daemon runs is found again by its path.
fn capture_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("monod"));
    let text = exe.to_string_lossy();
    match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    }
}

/// Creates a log directory (0700) unless it exists, never through a link.
fn create_private_dir(path: &Path) -> Result<(), MonitorError> {
    crate::nofollow::create_private_dir(path)
        .map(drop)
        .map_err(|source| MonitorError::Dir { path: path.to_path_buf(), source })
}
