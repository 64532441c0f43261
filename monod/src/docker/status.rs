//! The containers of every mono project, from one Engine query.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;

use super::engine::{Engine, EngineError};
use super::{PROJECT_LABEL, SERVICE_LABEL};

/// Label mono puts on everything it creates, valued with the project name.
pub const MONO_LABEL: &str = "dev.mono.env";

/// One container's state, as `mono list`/`status` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The service.
    pub service: String,
    /// The container name.
    pub name: String,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a health check.
    pub health: String,
}

/// Containers of all mono projects, grouped by project name.
pub async fn project_containers(
    engine: &Engine,
) -> Result<HashMap<String, Vec<ContainerState>>, EngineError> {
    let filters = HashMap::from([("label", vec![MONO_LABEL.to_string()])]);
    let list = engine
        .docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .map_err(EngineError::api("list containers"))?;
    let mut out: HashMap<String, Vec<ContainerState>> = HashMap::new();
    for c in list {
        let labels = c.labels.unwrap_or_default();
        let Some(project) = labels.get(PROJECT_LABEL).cloned() else { continue };
        out.entry(project).or_default().push(ContainerState {
            service: labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            health: c.health.and_then(|h| h.status).map(|s| s.to_string()).unwrap_or_default(),
        });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.service.cmp(&b.service));
    }
    Ok(out)
}
