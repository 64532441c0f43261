//! Removing what an environment has, by name, whatever state it is in.
//!
//! Every resource of an environment is found from its row alone (session
//! `mono-<name>`, compose project `mono-<name>`, `logs/<name>`,
//! `data/<name>`), so the same teardown finishes a destroy, a destroy or an
//! init that a crash interrupted, and is safe to repeat: whatever is already
//! gone is noted and skipped. The row goes last, so a teardown that fails
//! part-way leaves a row (phase `failed`, with what failed and what it left)
//! that the next destroy, or `mono gc --yes`, finishes.
//!
//! A failed init's rollback is the same teardown limited to the [`Parts`]
//! that init made: a data or log path it never got to make (a link planted
//! there, say) is not its to remove, nor are the Docker objects of a
//! project it never applied (leftovers that `mono gc` owns).

use std::path::{Path, PathBuf};

use super::{OpError, Ops, docker_mode};
use crate::cache::tree;
use crate::config::{ComposeSettings, MonoConfig, RunSettings};
use crate::docker::Endpoint;
use crate::logs::progress::Progress;
use crate::state::EnvRow;
use crate::{crashpoint, nofollow, tmux};

/// Which parts of an environment a teardown removes.
#[derive(Debug, Default)]
pub(super) struct Parts {
    /// The run in the session, stopped with its grace first.
    pub run: bool,
    /// The tmux session.
    pub session: bool,
    /// The Docker project's containers, networks and volumes.
    pub docker: bool,
    /// `logs/<name>`.
    pub logs: bool,
    /// `data/<name>`.
    pub data: bool,
    /// Workspace paths an init restored from the dependency cache,
    /// relative to the workspace.
    pub restored: Vec<PathBuf>,
}

impl Parts {
    /// Everything a row leads to (destroy, recovery, gc). Workspace paths
    /// are the user's: none.
    pub(super) fn all() -> Parts {
        Parts { run: true, session: true, docker: true, logs: true, data: true, restored: Vec::new() }
    }
}

/// Why a teardown stopped before the row, and what it left.
#[derive(Debug)]
pub(super) struct Stopped {
    /// The failure that stopped it.
    pub cause: OpError,
    /// What is left, for the user.
    pub left: String,
}

impl Ops {
    /// Tears down all of `row` ([`Parts::all`]). When it stops before the
    /// row, the row is kept, `failed`, with what is left; `what`
    /// (`destroy`, ...) names the operation in it.
    pub(super) async fn teardown(
        &self,
        row: &EnvRow,
        what: &str,
        progress: &Progress,
        warnings: &mut Vec<String>,
    ) -> Result<(), OpError> {
        match self.tear_down(row, &Parts::all(), progress, warnings).await {
            Ok(()) => Ok(()),
            Err(Stopped { cause, left }) => Err(self.unfinished(row, what, cause, left).await),
        }
    }

    /// Stops the run, kills the session, removes the docker project, the
    /// log directory, restored paths and the data directory, then the row:
    /// those of `parts`. What cannot be removed but does not block the rest
    /// is added to `warnings`. When the docker project, a restored path or
    /// the data directory cannot be removed, it stops there and the row
    /// stays; the caller records why.
    pub(super) async fn tear_down(
        &self,
        row: &EnvRow,
        parts: &Parts,
        progress: &Progress,
        warnings: &mut Vec<String>,
    ) -> Result<(), Stopped> {
        let mut warn = |w: String| {
            progress.step(format!("warning: {w}"));
            warnings.push(w);
        };
        // The workspace's settings, for the graces below; read only when
        // needed (a gone or broken mono.yml means the defaults).
        let run = self.monitor.get(&row.name).filter(|log| parts.run && log.run().is_some());
        let docker_project = row.docker_project.as_ref().filter(|_| parts.docker);
        let (run_settings, compose_settings) = if run.is_some() || docker_project.is_some() {
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
        if parts.session {
            let session = mono_proto::paths::session_name(&row.name);
            match tmux::kill_session(&session).await {
                Ok(true) => progress.step(format!("killed tmux session {session}")),
                Ok(false) => progress.step(format!("tmux session {session} was already gone")),
                Err(e) => warn(format!("cannot kill tmux session {session}: {e}")),
            }
        }
        crashpoint::reached("destroy.session-killed");

        if let Some(project) = docker_project {
            self.release_forwards(&row.name).await;
            let at = endpoint_of(row).map_err(|cause| Stopped {
                cause,
                left: format!("the containers, networks and volumes of {project}"),
            })?;
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
                return Err(Stopped { cause: e, left });
            }
        }
        crashpoint::reached("destroy.docker-removed");

        if parts.logs {
            match self.monitor.remove(&row.name) {
                Ok(()) => progress.step("removed log directory"),
                Err(e) => warn(format!("cannot remove the log directory: {e}")),
            }
        }

        let ws = Path::new(&row.path);
        for rel in &parts.restored {
            let path = ws.join(rel);
            match remove_in_workspace(ws, rel) {
                Ok(()) => progress.step(format!("removed the restored {}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    let left = format!("the restored {}", path.display());
                    return Err(Stopped { cause: OpError::io(&row.name, "remove", &path, source), left });
                }
            }
        }

        if parts.data {
            let data_dir = self.home.data_dir(&row.name);
            match std::fs::remove_dir_all(&data_dir) {
                Ok(()) => progress.step("removed data directory"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    progress.step("data directory was already gone")
                }
                Err(source) => {
                    let left = format!("the data directory {}", data_dir.display());
                    return Err(Stopped { cause: OpError::io(&row.name, "remove", &data_dir, source), left });
                }
            }
        }
        crashpoint::reached("destroy.data-removed");

        self.store
            .remove(row.id)
            .await
            .map_err(|e| Stopped { cause: e.into(), left: "its row in the state database".to_string() })
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

/// Removes `rel` below the workspace `ws`, never through a link: a parent
/// that became a link since the restore (`x -> /elsewhere`) is an error,
/// and nothing outside the workspace is touched.
fn remove_in_workspace(ws: &Path, rel: &Path) -> std::io::Result<()> {
    let Some(name) = rel.file_name() else { return Ok(()) };
    let root = nofollow::open_dir(ws)?;
    let parent = nofollow::walk_dirs(&root, rel.parent().unwrap_or(Path::new("")), None)?;
    tree::remove_tree_at(&parent, Path::new(name))
}

/// The Engine endpoint a docker-mode environment was created on (monod's
/// own for environments older than the record).
pub(super) fn endpoint_of(row: &EnvRow) -> Result<Endpoint, OpError> {
    Endpoint::recorded(row.docker_endpoint.as_deref())
        .map_err(|e| OpError::Docker { env: row.name.clone(), source: e.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_path_is_removed_but_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("a/nm/pkg")).unwrap();
        std::fs::write(ws.join("a/nm/pkg/index.js"), "x").unwrap();
        remove_in_workspace(&ws, Path::new("a/nm")).unwrap();
        assert!(!ws.join("a/nm").exists() && ws.join("a").is_dir());

        // The parent became a link to a folder outside since the restore.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("nm")).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("x")).unwrap();
        let e = remove_in_workspace(&ws, Path::new("x/nm")).unwrap_err();
        assert!(nofollow::link_found(&e).is_some(), "{e}");
        assert!(outside.join("nm").is_dir(), "nothing outside the workspace is removed");

        // A path that is gone is NotFound, which teardown skips.
        let gone = remove_in_workspace(&ws, Path::new("b/nm")).unwrap_err();
        assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
    }
}
