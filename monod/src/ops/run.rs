//! `mono run` and `mono stop`: the run script in the session's run window.
//!
//! The run gets a window of its own so its exit status is known (the
//! window's shell records it) and it can be stopped without touching the
//! user's shell: an interrupt to its process group, as Ctrl-C would send,
//! then a kill after the grace period. Starting a run stops the previous
//! one first, so there is never more than one.

use std::path::Path;
use std::sync::Arc;

use mono_proto::{CallerEnv, RunInfo, RunStarted, Stopped, event_kinds};

use super::{OpError, Ops};
use crate::config::{MonoConfig, RunSettings};
use crate::logs::monitor::EnvLog;
use crate::state::EnvRow;
use crate::tmux;

impl Ops {
    /// Starts the run script of the workspace at `path` in its run window.
    pub async fn run(self: &Arc<Self>, path: String, _caller: CallerEnv) -> Result<RunStarted, OpError> {
        self.spawn("run", move |ops| async move { ops.run_task(&path).await }).await
    }

    /// Stops the run of the workspace at `path`, if one is in progress.
    pub async fn stop(self: &Arc<Self>, path: String) -> Result<Stopped, OpError> {
        self.spawn("stop", move |ops| async move { ops.stop_task(&path).await }).await
    }

    async fn run_task(&self, raw: &str) -> Result<RunStarted, OpError> {
        let (row, _guard) = self.claim_registered(raw, "run").await?;
        let config = MonoConfig::load_blocking(Path::new(&row.path)).await?;
        let script = config.scripts.run.clone().ok_or_else(|| OpError::Unavailable {
            env: row.name.clone(),
            reason: format!("no run script; add `scripts: {{run: ...}}` to {}", config.file_for_messages()),
        })?;
        let session = mono_proto::paths::session_name(&row.name);
        let tmux_err = |source| OpError::Tmux { env: row.name.clone(), source };
        if !tmux::has_session(&session).await.map_err(tmux_err)? {
            return Err(OpError::Unavailable {
                env: row.name.clone(),
                reason: format!(
                    "tmux session {session} is gone; run `mono destroy {0}` then `mono init {0}` to recreate it",
                    row.path
                ),
            });
        }
        let log = self.env_log(&row)?;
        let stopped = self.monitor.stop_run(&log, config.run.stop_grace).await;

        let exit_file = self.monitor.begin_run(&log);
        let pane = tmux::new_run_window(&session, Path::new(&row.path), &script, &exit_file)
            .await
            .map_err(tmux_err)?;
        let data = serde_json::json!({"script": script, "pid": pane.pid, "pane": pane.pane});
        // The run's id is this event's seq: a run that cannot be recorded
        // (a full disk) is not started, rather than run under no id.
        let id = match self.events.try_emit(Some(&row.name), event_kinds::RUN_STARTED, data).await {
            Ok(id) => id,
            Err(e) => {
                if let Some(group) = rustix::process::Pid::from_raw(pane.pid) {
                    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                return Err(OpError::Unavailable {
                    env: row.name.clone(),
                    reason: format!(
                        "the run was not started: it cannot be recorded ({e}); is the disk full? `mono doctor` checks"
                    ),
                });
            }
        };
        let run = RunInfo { run: id, pid: pane.pid, pane: pane.pane };
        self.monitor.run_started(&log, run.clone());
        self.progress(&row.name, None).step(format!("mono run: started run {id} in {session}: {script}"));
        Ok(RunStarted { name: row.name, session, window: tmux::RUN_WINDOW.to_string(), run, script, stopped })
    }

    async fn stop_task(&self, raw: &str) -> Result<Stopped, OpError> {
        let (row, _guard) = self.claim_registered(raw, "stop").await?;
        // A broken or missing mono.yml must not prevent stopping.
        let grace = MonoConfig::load_blocking(Path::new(&row.path))
            .await
            .map_or_else(|_| RunSettings::default(), |c| c.run);
        let log = self.env_log(&row)?;
        let exit = self.monitor.stop_run(&log, grace.stop_grace).await;
        if let Some(exit) = &exit {
            self.progress(&row.name, None)
                .step(format!("mono stop: run {} ended ({:?})", exit.run, exit.code));
        }
        Ok(Stopped { name: row.name, exit })
    }

    /// The log of the environment registered at `raw`.
    pub async fn env_log_at(&self, raw: &str) -> Result<Arc<EnvLog>, OpError> {
        let row = self.registered(&super::lookup(raw)?).await?;
        self.env_log(&row)
    }

    /// The registered environment of `raw`, claimed for `op`.
    async fn claim_registered(
        &self,
        raw: &str,
        op: &'static str,
    ) -> Result<(EnvRow, crate::busy::BusyGuard), OpError> {
        let key = super::lookup(raw)?;
        let guard = self.claim(&key, op)?;
        Ok((self.registered(&key).await?, guard))
    }

    fn env_log(&self, row: &EnvRow) -> Result<Arc<EnvLog>, OpError> {
        self.monitor.get(&row.name).ok_or_else(|| OpError::Monitor {
            env: row.name.clone(),
            detail: "its log is not watched; restart monod (`mono daemon stop`)".to_string(),
        })
    }
}
