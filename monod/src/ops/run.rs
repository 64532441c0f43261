//! `mono run`: types the run script into the environment's tmux session.

use std::sync::Arc;

use mono_proto::{CallerEnv, RunStarted};

use super::init::config_file;
use super::{OpError, Ops};
use crate::config::MonoConfig;
use crate::{tmux, workspace};

impl Ops {
    /// Starts the run script of the workspace at `path` in its session.
    pub async fn run(self: &Arc<Self>, path: String, _caller: CallerEnv) -> Result<RunStarted, OpError> {
        self.spawn("run", move |ops| async move { ops.run_task(&path).await }).await
    }

    async fn run_task(&self, raw: &str) -> Result<RunStarted, OpError> {
        let key = workspace::lookup_key(raw)?;
        let key = key.to_string_lossy().into_owned();
        let _guard = self.claim(&key, "run")?;
        let row =
            self.store.by_path(&key).await?.ok_or_else(|| OpError::NotRegistered { path: key.clone() })?;
        let progress = self.progress(&row.name, None);
        let config = MonoConfig::load(std::path::Path::new(&row.path))?;
        let script = config.scripts.run.clone().ok_or_else(|| OpError::Unavailable {
            env: row.name.clone(),
            reason: format!("no run script; add `scripts: {{run: ...}}` to {}", config_file(&config)),
        })?;
        let session = mono_proto::paths::session_name(&row.name);
        let unavailable = |reason: String| OpError::Unavailable { env: row.name.clone(), reason };
        let tmux_err = |source| OpError::Tmux { env: row.name.clone(), source };
        if !tmux::has_session(&session).await.map_err(tmux_err)? {
            return Err(unavailable(format!(
                "tmux session {session} is gone; run `mono destroy {key}` then `mono init {key}` to recreate it"
            )));
        }
        tmux::send_line(&session, &script).await.map_err(tmux_err)?;
        progress.step(format!("mono run: sent run script to {session}: {script}"));
        self.events
            .emit(
                Some(&row.name),
                mono_proto::event_kinds::RUN_STARTED,
                serde_json::json!({"script": script}),
            )
            .await;
        Ok(RunStarted { name: row.name, session, script })
    }
}
