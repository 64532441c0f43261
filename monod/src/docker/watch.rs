//! `container.state` events: the Engine's own event stream, filtered to the
//! containers of this home's environments (labels `dev.mono.home` and
//! `dev.mono.env`), turned into events of the environments they belong to
//! (start, die with exit code, health changes, OOM kills, ...).
//!
//! The stream is followed for the daemon's whole life. When the Engine is
//! not reachable there is no event that says it came back, so reconnecting
//! waits with a backoff (1 s doubling to 60 s): negligible when idle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use mono_proto::event_kinds;
use tokio_util::sync::CancellationToken;

use super::{Engine, SERVICE_LABEL};
use crate::compose::{MONO_ENV_LABEL, MONO_HOME_LABEL};
use crate::ops::Ops;

/// Engine actions worth an event.
const ACTIONS: [&str; 8] = ["create", "start", "die", "stop", "kill", "oom", "destroy", "restart"];

/// Follows the Engine's container events until `stop` is cancelled.
pub async fn watch_containers(ops: Arc<Ops>, stop: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let followed = tokio::select! {
            r = follow(&ops) => r,
            _ = stop.cancelled() => return,
        };
        match followed {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(e) => tracing::debug!(error = %e, "cannot follow engine events"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

async fn follow(ops: &Ops) -> Result<(), super::EngineError> {
    let engine = Engine::connect_own().await?;
    // Both labels: the Engine may be shared with other mono homes (another
    // user, a test suite, another machine), whose containers are not ours.
    let home = format!("{MONO_HOME_LABEL}={}", ops.home().root().display());
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("label", vec![MONO_ENV_LABEL.to_string(), home]),
    ]);
    let mut stream = engine.docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    while let Some(item) = stream.next().await {
        let event = item.map_err(super::EngineError::api("follow engine events"))?;
        let action = event.action.unwrap_or_default();
        let (action, health) = match action.strip_prefix("health_status: ") {
            Some(h) => ("health_status".to_string(), Some(h.to_string())),
            None => (action, None),
        };
        if health.is_none() && !ACTIONS.contains(&action.as_str()) {
            continue;
        }
        let attrs = event.actor.and_then(|a| a.attributes).unwrap_or_default();
        let Some(project) = attrs.get(MONO_ENV_LABEL) else { continue };
        let env = project.strip_prefix("mono-").unwrap_or(project);
        let mut data = serde_json::json!({
            "service": attrs.get(SERVICE_LABEL),
            "container": attrs.get("name"),
            "action": action,
        });
        if let Some(code) = attrs.get("exitCode").and_then(|c| c.parse::<i64>().ok()) {
            data["exit_code"] = code.into();
        }
        if let Some(h) = health {
            data["health"] = h.into();
        }
        ops.events().emit(Some(env), event_kinds::CONTAINER_STATE, data).await;
    }
    Ok(())
}
