//! Runs of the run window: their state, their stop and their end.
//!
//! A run's end is known from two files its window leaves in the log
//! directory: `run.exit`, the status written by the window's shell, and
//! `run.done`, written by the window's capture after the last byte of
//! output. The exit is reported only once `run.done` is there, so a
//! follower always has all of a run's output before its exit. The run in
//! progress is also written to `run.json`, so a restarted daemon picks it
//! up again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mono_proto::{RunExit, RunInfo, event_kinds};
use rustix::process::{Pid, Signal, kill_process_group};

use super::{EnvLog, Monitor, Signal as MonitorSignal};
use crate::{capture, tmux};

/// The status the run window's shell writes.
const EXIT_FILE: &str = "run.exit";
/// The run in progress.
const RUN_FILE: &str = "run.json";
/// How long a killed run's window gets to close.
const AFTER_KILL: Duration = Duration::from_secs(5);

impl Monitor {
    /// Prepares the log directory for a new run of `log` and returns the
    /// path its window writes its exit status to.
    pub fn begin_run(&self, log: &EnvLog) -> PathBuf {
        for stale in [EXIT_FILE, capture::RUN_DONE, RUN_FILE] {
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
            log.state().interrupted = false;
            let _ = kill_process_group(group, Signal::KILL);
        }
        if let Some(exit) = wait_exit(log, &mut tick, run.run, AFTER_KILL).await {
            return Some(exit);
        }
        // The window never reported; say it was killed.
        finish(self, log).await;
        log.state().last_exit.filter(|e| e.run == run.run)
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
        if let Some(exit) = log.state().last_exit.filter(|e| e.run == id) {
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
/// A run interrupted by `stop_run` so soon after it started that the
/// window's shell had not set its trap yet dies of the interrupt without
/// writing a status; that is reported as 130 (128 + SIGINT), what the
/// shell would have written.
pub(super) async fn finish(monitor: &Monitor, log: &Arc<EnvLog>) {
    let (run, interrupted) = {
        let mut state = log.state();
        let Some(run) = state.run.take() else { return };
        (run, std::mem::take(&mut state.interrupted))
    };
    let code = std::fs::read_to_string(log.dir.join(EXIT_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .or(interrupted.then_some(128 + 2));
    for file in [EXIT_FILE, capture::RUN_DONE, RUN_FILE] {
        let _ = std::fs::remove_file(log.dir.join(file));
    }
    let exit = RunExit { run: run.run, code };
    log.state().last_exit = Some(exit);
    log.bump();
    let data = serde_json::json!({"run": exit.run, "code": exit.code});
    monitor.events.emit(Some(&log.name), event_kinds::RUN_EXITED, data).await;
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
