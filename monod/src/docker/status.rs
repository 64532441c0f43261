//! The containers of every environment of a home, from one Engine query:
//! their states and the ports they publish (`mono list`, `mono status`),
//! and their ids (`mono logs --service`).

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;

use super::SERVICE_LABEL;
use super::engine::{Engine, EngineError};

use mono_compose::{MONO_ENV_LABEL as MONO_LABEL, MONO_HOME_LABEL};

/// One container's state, as `mono list`/`status` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The container's id.
    pub id: String,
    /// The service.
    pub service: String,
    /// The container name.
    pub name: String,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a health check.
    pub health: String,
    /// Published ports, by host port (a running container's only).
    pub ports: Vec<Published>,
}

/// One published port of a container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    /// The host port.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address.
    pub host_ip: String,
}

/// The published ports of a container summary, each once (an Engine lists
/// a port bound on all addresses once per IP family), by host port.
fn published(ports: Option<Vec<bollard::models::PortSummary>>) -> Vec<Published> {
    let mut out: Vec<Published> = ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            Some(Published {
                host_port: p.public_port?,
                container_port: p.private_port,
                protocol: p
                    .typ
                    .map(|t| t.to_string())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "tcp".into()),
                host_ip: p.ip.unwrap_or_default(),
            })
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| {
        (a.host_port, a.container_port, &a.protocol) == (b.host_port, b.container_port, &b.protocol)
    });
    out
}

/// Engines before API 1.52 report health only inside the status text:
/// `Up 5 seconds (healthy)`, `(unhealthy)`, `(health: starting)`.
fn health_from_status(status: &str) -> String {
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
    .to_string()
}

/// Containers of all of `home`'s environments, grouped by project name
/// (another home's environment of the same name is not this one's).
pub async fn project_containers(
    engine: &Engine,
    home: &str,
) -> Result<HashMap<String, Vec<ContainerState>>, EngineError> {
    let filters =
        HashMap::from([("label", vec![MONO_LABEL.to_string(), format!("{MONO_HOME_LABEL}={home}")])]);
    let list = engine
        .docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .map_err(EngineError::api("list containers"))?;
    let mut out: HashMap<String, Vec<ContainerState>> = HashMap::new();
    for c in list {
        let labels = c.labels.unwrap_or_default();
        let Some(project) = labels.get(MONO_LABEL).cloned() else { continue };
        out.entry(project).or_default().push(ContainerState {
            id: c.id.unwrap_or_default(),
            ports: published(c.ports),
            service: labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            health: c
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| health_from_status(c.status.as_deref().unwrap_or(""))),
        });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.service.cmp(&b.service));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::health_from_status;

    #[test]
    fn health_is_read_from_old_engines_status_text() {
        assert_eq!(health_from_status("Up 5 seconds (healthy)"), "healthy");
        assert_eq!(health_from_status("Up 2 minutes (unhealthy)"), "unhealthy");
        assert_eq!(health_from_status("Up 1 second (health: starting)"), "starting");
        assert_eq!(health_from_status("Exited (0) 3 seconds ago"), "");
    }
}
