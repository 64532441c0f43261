//! Start-up recovery: what a crash interrupted is finished or rolled back.
//!
//! An environment whose row says `creating` was being initialised when
//! monod died; its client has lost the connection and will never see it
//! finish, so init is rolled back (as a failed init would be) and the
//! workspace can be initialised again. One whose row says `destroying` was
//! being destroyed; the destroy is finished (without its destroy script,
//! which may have half-run and whose caller's environment is gone).
//!
//! Both run as operations holding their workspace, claimed before the
//! socket accepts, so no client can race them; they may take a while
//! (containers get their stop grace period), so the daemon serves meanwhile.
//! Resources no row owns are reported (mono.log and a `daemon.orphans`
//! event); `mono gc --yes` removes them. The scan waits until every
//! recovery has finished: a teardown in progress removes a session and
//! directories before the row, so a scan running beside it would take what
//! it is removing for orphans.

use std::sync::Arc;

use mono_proto::event_kinds;

use super::{OpError, Ops};
use crate::state::{EnvRow, Phase};

impl Ops {
    /// Claims every interrupted environment and starts its recovery; once
    /// every recovery has finished, looks for orphans. Returns once the
    /// claims are held.
    pub async fn recover(self: &Arc<Self>) -> Result<(), OpError> {
        let mut recoveries = tokio::task::JoinSet::new();
        for row in self.store.all().await? {
            let op = match row.phase {
                Phase::Creating => "init",
                Phase::Destroying => "destroy",
                Phase::Ready | Phase::Failed => continue,
            };
            let guard = self.claim(&row.path, op)?;
            let ops = self.clone();
            recoveries.spawn(async move {
                ops.recover_one(row, op).await;
                drop(guard);
            });
        }
        let ops = self.clone();
        self.tasks.spawn(async move {
            while recoveries.join_next().await.is_some() {}
            ops.report_orphans().await;
        });
        Ok(())
    }

    async fn recover_one(&self, row: EnvRow, op: &'static str) {
        let mut progress = self.progress("recover", None);
        progress.set_env(&row.name);
        let doing = if op == "init" { "rolling it back" } else { "finishing it" };
        progress.step(format!("monod stopped during `mono {op}` of {}; {doing}", row.path));
        let mut warnings = Vec::new();
        let what = format!("start-up recovery of the interrupted {op}");
        let outcome = self.teardown(&row, &what, &progress, &mut warnings).await;
        let summary = match &outcome {
            Ok(()) if op == "init" => format!("{}: interrupted init rolled back", row.name),
            Ok(()) => format!("{}: interrupted destroy finished", row.name),
            Err(e) => {
                // A teardown that stopped part-way has recorded what is
                // left; anything else is recorded here.
                if !matches!(e, OpError::Unfinished { .. }) {
                    let _ = self.store.set_failed(row.id, format!("{what} failed: {e}")).await;
                }
                format!("{}: {what} failed ({e})", row.name)
            }
        };
        progress.step(summary.clone());
        if outcome.is_ok() {
            let (kind, data) = if op == "init" {
                let error =
                    "init was interrupted (monod stopped) and has been rolled back; run `mono init` again";
                (event_kinds::ENV_FAILED, serde_json::json!({"error": error, "recovered": true}))
            } else {
                (event_kinds::ENV_DESTROYED, serde_json::json!({"warnings": warnings, "recovered": true}))
            };
            self.events.emit(Some(&row.name), kind, data).await;
        }
        self.recovered.lock().expect("recovered lock").push(summary);
        progress.finish().await;
    }

    /// Logs and publishes the orphans found at start-up, if any.
    async fn report_orphans(&self) {
        let Ok((orphans, _)) = self.orphans().await else { return };
        if orphans.is_empty() {
            return;
        }
        for o in &orphans {
            tracing::warn!(kind = ?o.kind, name = %o.name, owner = %o.owner, "orphaned resource; `mono gc --yes` removes it");
        }
        let line = format!(
            "{} orphaned resource(s) found; `mono gc` lists them, `mono gc --yes` removes them",
            orphans.len()
        );
        self.log.write(std::time::Instant::now(), "recover", &line);
        self.events.emit(None, event_kinds::ORPHANS, serde_json::json!({ "orphans": orphans })).await;
    }

    /// What start-up recovery did, one line per environment.
    pub fn recovered(&self) -> Vec<String> {
        self.recovered.lock().expect("recovered lock").clone()
    }
}
