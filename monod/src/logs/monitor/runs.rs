//! Runs of the run window: their state, their stop and their end.
//!
//! A run's end is known from two files its window leaves in the log
//! directory: `run.exit`, the status written by the window's shell, and
//! `run.done`, written by the window's capture after the last byte of
//! output. The exit is reported only once `run.done` is there, so a
//! follower always has all of a run's output before its exit. The run in
//! progress is also written to `run.json`, so a restarted daemon picks it
//! up again.
//!
//! The status also travels without the disk: when `run.exit` cannot be
//! written (a full disk), the window's shell hands it to tmux as a session
//! option (see [`tmux::run_exit`]).
//! When neither tells, the exit is reported as unknown, with the reason,
//! never as a made-up status.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mono_proto::{RunExit, RunInfo, event_kinds};
use rustix::process::{Pid, Signal, kill_process_group};

use super::{EnvLog, Monitor, Signal as MonitorSignal};
use crate::logs::capture;
use crate::tmux;

/// The status the run window's shell writes.
const EXIT_FILE: &str = "run.exit";
/// The run in progress.
const RUN_FILE: &str = "run.json";
/// How long a killed run's window gets to close.
const AFTER_KILL: Duration = Duration::from_secs(5);
/// What the shell left when it could not write [`EXIT_FILE`].
const EXIT_TMP: &str = "run.exit.tmp";

impl Monitor {
    /// Prepares the log directory for a new run of `log` and returns the
    /// path its window writes its exit status to.
    pub fn begin_run(&self, log: &EnvLog) -> PathBuf {
        for stale in [EXIT_FILE, EXIT_TMP, capture::RUN_DONE, RUN_FILE] {
            let _ = std::fs::remove_file(log.dir.join(stale));
        }
        log.dir.join(EXIT_FILE)
    }

    /// Records a run whose window was opened.
    pub fn run_started(&self, log: &Arc<EnvLog>, run: RunInfo) {
        if let Ok(text) = serde_json::to_vec(&run) {
            let _ = crate::nofollow::write_private(&log.dir.join(RUN_FILE), &text);
        }
        {
            let mut state = log.state();
            state.run = Some(run);
            state.interrupted = false;
            state.killed = false;
        }
        // It may have ended before it was recorded.
        if log.dir.join(capture::RUN_DONE).exists() {
            let _ = self.signals.try_send(MonitorSignal::RunDone(log.clone()));
        }
    }

    /// Stops the run in progress: an interrupt to its process group, a kill
    /// after `grace`; returns how it ended, `None` when nothing ran.
    pub async fn stop_run(&self, log: &Arc<EnvLog>, grace: Duration) -> Option<RunExit> {
        let run = log.run()?;
        let mut tick = log.tick.subscribe();
        let group = Pid::from_raw(run.pid);
        if let Some(group) = group {
            log.state().interrupted = true;
            let _ = kill_process_group(group, Signal::INT);
        }
        if let Some(exit) = wait_exit(log, &mut tick, run.run, grace).await {
            return Some(exit);
        }
        if let Some(group) = group {
            let mut state = log.state();
            state.interrupted = false;
            state.killed = true;
            drop(state);
            let _ = kill_process_group(group, Signal::KILL);
        }
        if let Some(exit) = wait_exit(log, &mut tick, run.run, AFTER_KILL).await {
            return Some(exit);
        }
        // The window never reported; say it was killed.
        finish(self, log).await;
        log.state().last_exit.clone().filter(|e| e.run == run.run)
    }
}

/// Waits up to `limit` for run `id` to be reported ended.
async fn wait_exit(
    log: &EnvLog,
    tick: &mut tokio::sync::watch::Receiver<u64>,
    id: u64,
    limit: Duration,
) -> Option<RunExit> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(exit) = log.state().last_exit.clone().filter(|e| e.run == id) {
            return Some(exit);
        }
        match tokio::time::timeout_at(deadline, tick.changed()).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
    }
}

/// Reports the end of the run in progress (once): reads its status, clears
/// its files, tells followers, then emits `run.exited`.
///
/// The status is the one the window's shell wrote, else the one it handed
/// to tmux (the disk refused the file). A run stopped by `stop_run` whose
/// shell could tell neither (killed, or interrupted so soon after it
/// started that the shell had not set its trap yet) is reported as 137
/// (128 + SIGKILL) or 130 (128 + SIGINT), what a shell would say.
/// Otherwise the status is unknown, and the reason is given.
pub(super) async fn finish(monitor: &Monitor, log: &Arc<EnvLog>) {
    let (run, interrupted, killed) = {
        let mut state = log.state();
        let Some(run) = state.run.take() else { return };
        (run, std::mem::take(&mut state.interrupted), std::mem::take(&mut state.killed))
    };
    let written = std::fs::read_to_string(log.dir.join(EXIT_FILE)).ok().and_then(|t| t.trim().parse().ok());
    let kept = match written {
        Some(_) => None,
        None => tmux::run_exit(&mono_proto::paths::session_name(&log.name), &run.pane).await.ok().flatten(),
    };
    let code = written.or(kept).or(interrupted.then_some(128 + 2)).or(killed.then_some(128 + 9));
    let reason = code.is_none().then(|| unknown_reason(&log.dir));
    for file in [EXIT_FILE, EXIT_TMP, capture::RUN_DONE, RUN_FILE] {
        let _ = std::fs::remove_file(log.dir.join(file));
    }
    let exit = RunExit { run: run.run, code, reason };
    let mut data = serde_json::json!({"run": exit.run, "code": exit.code});
    if let Some(reason) = &exit.reason {
        data["reason"] = reason.as_str().into();
    }
    log.state().last_exit = Some(exit);
    log.bump();
    monitor.events.emit(Some(&log.name), event_kinds::RUN_EXITED, data).await;
}

/// Why neither the file nor tmux told a run's status.
fn unknown_reason(dir: &std::path::Path) -> String {
    if dir.join(EXIT_TMP).exists() {
        format!(
            "the run window's shell could not write {} (is the disk full? `mono doctor` checks), nor hand the status to tmux",
            dir.join(EXIT_FILE).display()
        )
    } else {
        "the run window was closed (or its tmux server ended) before the run's shell could report its status"
            .to_string()
    }
}

/// Picks up a run recorded before a restart: ended while the daemon was
/// away (reported now), or still going (followed as usual).
pub(super) fn recover(monitor: &Monitor, log: &Arc<EnvLog>) {
    let Some(run) =
        std::fs::read(log.dir.join(RUN_FILE)).ok().and_then(|b| serde_json::from_slice::<RunInfo>(&b).ok())
    else {
        return;
    };
    let pane = run.pane.clone();
    log.state().run = Some(run);
    if log.dir.join(capture::RUN_DONE).exists() {
        let _ = monitor.signals.try_send(MonitorSignal::RunDone(log.clone()));
        return;
    }
    // A window that vanished without a marker (its tmux server was killed)
    // will never write one.
    let (signals, log) = (monitor.signals.clone(), log.clone());
    tokio::spawn(async move {
        if let Ok(false) = tmux::pane_alive(&pane).await {
            let _ = signals.send(MonitorSignal::RunDone(log)).await;
        }
    });
}
