//! `env.list` and `env.status`: rows joined with one tmux query.

use std::collections::HashSet;
use std::sync::Arc;

use mono_proto::{EnvInfo, EnvStatus};

use super::{OpError, Ops};
use crate::state::{EnvRow, Phase};
use crate::{ports, tmux, workspace};

impl Ops {
    /// Every environment with its current status.
    pub async fn list(self: &Arc<Self>) -> Result<Vec<EnvInfo>, OpError> {
        let (rows, sessions) = tokio::join!(self.store.all(), live_sessions());
        Ok(rows?.iter().map(|row| self.info(row, &sessions)).collect())
    }

    /// One environment, by workspace path.
    pub async fn status(self: &Arc<Self>, path: &str) -> Result<EnvInfo, OpError> {
        let key = workspace::lookup_key(path)?;
        let key = key.to_string_lossy();
        let row = self
            .store
            .by_path(&key)
            .await?
            .ok_or_else(|| OpError::NotRegistered { path: key.to_string() })?;
        let sessions = live_sessions().await;
        Ok(self.info(&row, &sessions))
    }

    /// The public view of a row.
    pub(super) fn info(&self, row: &EnvRow, sessions: &HashSet<String>) -> EnvInfo {
        let session = mono_proto::paths::session_name(&row.name);
        let status = match row.phase {
            Phase::Creating => EnvStatus::Creating,
            Phase::Destroying => EnvStatus::Destroying,
            Phase::Failed => EnvStatus::Failed,
            Phase::Ready if sessions.contains(&session) => EnvStatus::Running,
            Phase::Ready => EnvStatus::Stopped,
        };
        EnvInfo {
            id: row.id,
            name: row.name.clone(),
            path: row.path.clone(),
            status,
            mode: row.mode,
            project: row.project.clone(),
            workspace: row.workspace.clone(),
            session,
            data_dir: self.home.data_dir(&row.name).to_string_lossy().into_owned(),
            port_base: ports::block_start(row.id),
            created_at: row.created_at.clone(),
        }
    }
}

/// Sessions that exist now; none when tmux is missing or has no server.
async fn live_sessions() -> HashSet<String> {
    match tmux::list_sessions().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list tmux sessions");
            HashSet::new()
        }
    }
}
