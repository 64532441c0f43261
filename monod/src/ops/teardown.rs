//! Removing what an environment has, by name, whatever state it is in.
//!
//! Every resource of an environment is found from its row alone (session
//! `mono-<name>`, compose project `mono-<name>`, `logs/<name>`,
//! `data/<name>`), so the same teardown finishes a destroy, a destroy or an
//! init that a crash interrupted, and is safe to repeat: whatever is already
//! gone is noted and skipped. The row goes last, so a teardown that fails
//! part-way leaves a row (phase `failed`, with what failed and what it left)
//! that the next destroy, or `mono gc --yes`, finishes.

use std::path::Path;

use super::{OpError, Ops, docker_mode};
use crate::config::{ComposeSettings, MonoConfig, RunSettings};
use crate::docker::Endpoint;
use crate::logs::progress::Progress;
use crate::state::EnvRow;
use crate::{crashpoint, tmux};

impl Ops {
    /// Kills the session, removes the docker project, the log and data
    /// directories, then the row. What cannot be removed but does not
    /// block the rest is added to `warnings`. When the docker project or the
    /// data directory cannot be removed, the row is kept, `failed`, with
    /// what is left; `what` (`destroy`, ...) names the operation in it.
    pub(super) async fn teardown(
        &self,
        row: &EnvRow,
        what: &str,
        progress: &Progress,
        warnings: &mut Vec<String>,
    ) -> Result<(), OpError> {
        let mut warn = |w: String| {
            progress.step(format!("warning: {w}"));
            warnings.push(w);
        };
        // The workspace's settings, for the graces below; read only when
        // needed (a gone or broken mono.yml means the defaults).
        let run = self.monitor.get(&row.name).filter(|log| log.run().is_some());
        let (run_settings, compose_settings) = if run.is_some() || row.docker_project.is_some() {
            MonoConfig::load_blocking(Path::new(&row.path))
                .await
                .map_or_else(|_| Default::default(), |c| (c.run, c.compose))
        } else {
            (RunSettings::default(), ComposeSettings::default())
        };
        // The run first, as `mono stop` would: interrupt, then kill after
        // the grace period, so a server gets to shut down cleanly.
        if let Some(log) = run
            && let Some(exit) = self.monitor.stop_run(&log, run_settings.stop_grace).await
        {
            progress.step(format!("stopped run {} ({})", exit.run, exit.describe()));
        }
        let session = mono_proto::paths::session_name(&row.name);
        match tmux::kill_session(&session).await {
            Ok(true) => progress.step(format!("killed tmux session {session}")),
            Ok(false) => progress.step(format!("tmux session {session} was already gone")),
            Err(e) => warn(format!("cannot kill tmux session {session}: {e}")),
        }
        crashpoint::reached("destroy.session-killed");

        if let Some(project) = &row.docker_project {
            let at = match endpoint_of(row) {
                Ok(at) => at,
                Err(e) => {
                    let left = format!("the containers, networks and volumes of {project}");
                    return Err(self.unfinished(row, what, e, left).await);
                }
            };
            if let Err(e) = docker_mode::down(
                &row.name,
                project,
                self.home.root(),
                &at,
                compose_settings.destroy_grace,
                progress,
            )
            .await
                && let Some(left) = docker_mode::left_after(project, self.home.root(), &at, Some(&e)).await
            {
                return Err(self.unfinished(row, what, e, left).await);
            }
        }
        crashpoint::reached("destroy.docker-removed");

        match self.monitor.remove(&row.name) {
            Ok(()) => progress.step("removed log directory"),
            Err(e) => warn(format!("cannot remove the log directory: {e}")),
        }

        let data_dir = self.home.data_dir(&row.name);
        match std::fs::remove_dir_all(&data_dir) {
            Ok(()) => progress.step("removed data directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                progress.step("data directory was already gone")
            }
            Err(source) => {
                let left = format!("the data directory {}", data_dir.display());
                let e = OpError::Io {
                    env: row.name.clone(),
                    action: "remove",
                    path: data_dir.display().to_string(),
                    source,
                };
                return Err(self.unfinished(row, what, e, left).await);
            }
        }
        crashpoint::reached("destroy.data-removed");

        self.store.remove(row.id).await?;
        Ok(())
    }

    /// Keeps the environment, `failed`, recording why `what` stopped and
    /// what is left; the error says so and how to finish.
    async fn unfinished(&self, row: &EnvRow, what: &str, cause: OpError, left: String) -> OpError {
        let failure = format!("{what} failed: {cause}. Left: {left}");
        if let Err(e) = self.store.set_failed(row.id, failure).await {
            tracing::warn!(env = %row.name, error = %e, "cannot record the failure");
        }
        OpError::Unfinished {
            cause: Box::new(cause),
            env: row.name.clone(),
            path: super::shell_quote(&row.path),
            left,
        }
    }
}

/// The Engine endpoint a docker-mode environment was created on (monod's
/// own for environments older than the record).
pub(super) fn endpoint_of(row: &EnvRow) -> Result<Endpoint, OpError> {
    Endpoint::recorded(row.docker_endpoint.as_deref())
        .map_err(|e| OpError::Docker { env: row.name.clone(), source: e.into() })
}
