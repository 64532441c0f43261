//! `mono destroy`: destroy script, tmux session, data directory, row.
//!
//! Teardown always completes: whatever is already gone (a session killed by
//! hand, a deleted workspace or data directory) is noted and skipped, and a
//! failing destroy script is reported as a warning, because the workspace is
//! being archived either way. The environment is marked `destroying` first,
//! so a crash part-way leaves a row that the next destroy finishes.

use std::sync::Arc;

use mono_proto::{CallerEnv, Destroyed};

use super::{OpError, Ops};
use crate::config::MonoConfig;
use crate::crashpoint;
use crate::logs::progress::Progress;
use crate::script::Outcome;
use crate::state::Phase;
use crate::vars::{self, MonoVars};

impl Ops {
    /// Tears down the environment of the workspace at `path`.
    pub async fn destroy(
        self: &Arc<Self>,
        path: String,
        caller: CallerEnv,
        op_id: Option<String>,
    ) -> Result<Destroyed, OpError> {
        self.spawn(
            "destroy",
            move |ops| async move { ops.destroy_task(&path, &caller, op_id.as_deref()).await },
        )
        .await
    }

    async fn destroy_task(
        &self,
        raw: &str,
        caller: &CallerEnv,
        op_id: Option<&str>,
    ) -> Result<Destroyed, OpError> {
        let mut progress = self.progress("mono", op_id);
        let result = self.destroy_with(raw, caller, &mut progress).await;
        progress.finish().await;
        result
    }

    async fn destroy_with(
        &self,
        raw: &str,
        caller: &CallerEnv,
        progress: &mut Progress,
    ) -> Result<Destroyed, OpError> {
        let key = super::lookup(raw)?;
        let _guard = self.claim(&key, "destroy")?;
        let row = self.registered(&key).await?;
        progress.set_env(&row.name);
        progress.step(format!("mono destroy {key}"));
        self.store.set_phase(row.id, Phase::Destroying).await?;
        crashpoint::reached("destroy.marked");

        let mut warnings = Vec::new();
        let warn = |warnings: &mut Vec<String>, progress: &Progress, w: String| {
            progress.step(format!("warning: {w}"));
            warnings.push(w);
        };
        let ws = std::path::Path::new(&row.path);
        let data_dir = self.home.data_dir(&row.name);

        if ws.is_dir() {
            match MonoConfig::load_blocking(ws).await {
                Ok(config) => {
                    if let Some(script) = &config.scripts.destroy {
                        let urls = self.url_vars(&row);
                        let mono = MonoVars {
                            name: &row.name,
                            id: row.id,
                            path: &row.path,
                            data_dir: &data_dir,
                            ports: &[],
                            urls: &urls,
                        };
                        match vars::environment(caller, &mono, &config) {
                            Ok(env) => match self
                                .run_script(&row.name, "destroy", script, ws, &env, progress)
                                .await?
                            {
                                o if o.success() => {}
                                Outcome::Cancelled => {
                                    let failure = "destroy was interrupted (monod shut down) during its destroy \
                                                   script; nothing was torn down yet";
                                    self.store.set_failed(row.id, failure.to_string()).await?;
                                    return Err(OpError::Cancelled { env: row.name.clone(), op: "destroy" });
                                }
                                o => warn(
                                    &mut warnings,
                                    progress,
                                    format!("destroy script failed ({o}); continuing teardown"),
                                ),
                            },
                            Err(e) => warn(
                                &mut warnings,
                                progress,
                                format!("destroy script skipped: env.{}: {}", e.key, e.source),
                            ),
                        }
                    }
                }
                Err(e) => warn(&mut warnings, progress, format!("destroy script skipped: {e}")),
            }
        } else {
            warn(&mut warnings, progress, format!("workspace {} is gone; destroy script skipped", row.path));
        }

        self.teardown(&row, "destroy", progress, &mut warnings).await?;
        progress.step("destroyed");
        self.events
            .emit(
                Some(&row.name),
                mono_proto::event_kinds::ENV_DESTROYED,
                serde_json::json!({"warnings": warnings}),
            )
            .await;
        Ok(Destroyed { name: row.name, warnings })
    }
}
