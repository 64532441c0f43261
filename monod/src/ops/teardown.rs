//! Removing what an environment has, by name, whatever state it is in.
//!
//! Every resource of an environment is found from its row alone (session
//! `mono-<name>`, compose project `mono-<name>`, `logs/<name>`,
//! `data/<name>`), so the same teardown finishes a destroy, a destroy or an
//! init that a crash interrupted, and is safe to repeat: whatever is already
//! gone is noted and skipped. The row goes last, so a teardown that fails
//! part-way leaves a row (phase `failed`) that the next destroy finishes.

use std::path::Path;

use super::{OpError, Ops, docker_mode};
use crate::config::{MonoConfig, RunSettings};
use crate::progress::Progress;
use crate::state::{EnvRow, Phase};
use crate::{crashpoint, tmux};

impl Ops {
    /// Kills the session, removes the docker project, the log and data
    /// directories, then the row. What cannot be removed but does not
    /// block the rest is added to `warnings`.
    pub(super) async fn teardown(
        &self,
        row: &EnvRow,
        progress: &Progress,
        warnings: &mut Vec<String>,
    ) -> Result<(), OpError> {
        let mut warn = |w: String| {
            progress.step(format!("warning: {w}"));
            warnings.push(w);
        };
        // The run first, as `mono stop` would: interrupt, then kill after
        // the grace period, so a server gets to shut down cleanly.
        if let Some(log) = self.monitor.get(&row.name)
            && log.run().is_some()
        {
            let grace = MonoConfig::load(Path::new(&row.path))
                .map_or_else(|_| RunSettings::default(), |c| c.run)
                .stop_grace;
            if let Some(exit) = self.monitor.stop_run(&log, grace).await {
                progress.step(format!("stopped run {} ({})", exit.run, exit.describe()));
            }
        }
        let session = mono_proto::paths::session_name(&row.name);
        match tmux::kill_session(&session).await {
            Ok(true) => progress.step(format!("killed tmux session {session}")),
            Ok(false) => progress.step(format!("tmux session {session} was already gone")),
            Err(e) => warn(format!("cannot kill tmux session {session}: {e}")),
        }
        crashpoint::reached("destroy.session-killed");

        if let Some(project) = &row.docker_project
            && let Err(e) = docker_mode::down(&row.name, project, progress).await
        {
            self.store.set_phase(row.id, Phase::Failed).await?;
            return Err(e);
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
                self.store.set_phase(row.id, Phase::Failed).await?;
                return Err(OpError::Io {
                    env: row.name.clone(),
                    action: "remove",
                    path: data_dir.display().to_string(),
                    source,
                });
            }
        }
        crashpoint::reached("destroy.data-removed");

        self.store.remove(row.id).await?;
        Ok(())
    }
}
