//! The Docker objects of one mono home, found by label: what `mono gc`
//! compares with the state to find orphans (and removes), and the host
//! ports each project publishes (so `mono doctor` can tell an
//! environment's own listeners from other programs').
//!
//! Everything mono creates carries `dev.mono.home` and `dev.mono.env`, so
//! several homes (or a test suite's sandboxes) sharing one Engine never see,
//! let alone remove, each other's objects. Removal is by id: names are not
//! unique on every engine.
//!
//! A container is removed as `docker compose down` would, but without the
//! wait for nothing: its own stop signal, then at most a short grace (its
//! explicit `stop_grace_period` if it has one), then SIGKILL and removal
//! with its anonymous volumes. Its data goes with it, so the Engine's
//! default 10 s for a PID 1 that ignores SIGTERM buys nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bollard::query_parameters::{
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::engine::{Engine, EngineError, is_conflict, is_not_found};
use super::ownership::EnvLabels;
use super::{DEPENDS_ON_LABEL, SERVICE_LABEL};
use mono_compose::{MONO_ENV_LABEL, MONO_HOME_LABEL};

/// The kinds of objects mono creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A container.
    Container,
    /// A network.
    Network,
    /// A volume.
    Volume,
}

impl ObjectKind {
    /// `container`, `network` or `volume`, as `docker` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Container => "container",
            ObjectKind::Network => "network",
            ObjectKind::Volume => "volume",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object of the home's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owned {
    /// What it is.
    pub kind: ObjectKind,
    /// Its environment's compose project (`dev.mono.env`, `mono-<env>`).
    pub project: String,
    /// Its name.
    pub name: String,
    /// Its id (the name for volumes).
    pub id: String,
    /// A container's compose service (`com.docker.compose.service`).
    pub service: Option<String>,
    /// The services a container depends on (`com.docker.compose.depends_on`),
    /// which teardown stops after it.
    pub depends_on: Vec<String>,
    /// Whether a container is running (or paused, restarting): it is sent
    /// its stop signal before removal.
    pub running: bool,
}

fn home_filter(home: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![format!("{MONO_HOME_LABEL}={home}"), MONO_ENV_LABEL.to_string()])])
}

/// Every container, network and volume labelled as `home`'s (and as one of
/// its environments').
pub async fn owned_by(engine: &Engine, home: &str) -> Result<Vec<Owned>, EngineError> {
    listed(engine, &home_filter(home)).await
}

/// Every container, network and volume of one environment, by its labels:
/// what teardown removes, and what is left when it could not.
pub async fn of_env(engine: &Engine, env: EnvLabels<'_>) -> Result<Vec<Owned>, EngineError> {
    listed(engine, &env.filters()).await
}

/// The objects `filters` select, in [`ObjectKind`] order (the three lists
/// are asked for at once).
async fn listed(
    engine: &Engine,
    filters: &HashMap<&'static str, Vec<String>>,
) -> Result<Vec<Owned>, EngineError> {
    let project = |labels: Option<&HashMap<String, String>>| {
        labels.and_then(|l| l.get(MONO_ENV_LABEL)).cloned().unwrap_or_default()
    };
    let docker = &engine.docker;
    let (containers, networks, volumes) = tokio::join!(
        docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(filters).build())),
        docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(filters).build())),
        docker.list_volumes(Some(ListVolumesOptionsBuilder::new().filters(filters).build())),
    );
    let mut found = Vec::new();
    for c in containers.map_err(EngineError::api("list containers"))? {
        let Some(id) = c.id else { continue };
        let name = c.names.and_then(|n| n.first().cloned()).unwrap_or_else(|| id.clone());
        let name = name.trim_start_matches('/').to_string();
        let label = |key| c.labels.as_ref().and_then(|l| l.get(key));
        let depends_on = label(DEPENDS_ON_LABEL).map(|d| dependencies(d)).unwrap_or_default();
        let running = c.state.is_some_and(|s| {
            use bollard::models::ContainerSummaryStateEnum as S;
            matches!(s, S::RUNNING | S::PAUSED | S::RESTARTING)
        });
        found.push(Owned {
            kind: ObjectKind::Container,
            project: project(c.labels.as_ref()),
            service: label(SERVICE_LABEL).cloned(),
            depends_on,
            running,
            name,
            id,
        });
    }
    for n in networks.map_err(EngineError::api("list networks"))? {
        let (Some(id), Some(name)) = (n.id, n.name) else { continue };
        found.push(Owned::other(ObjectKind::Network, project(n.labels.as_ref()), name, id));
    }
    for v in volumes.map_err(EngineError::api("list volumes"))?.volumes.unwrap_or_default() {
        found.push(Owned::other(ObjectKind::Volume, project(Some(&v.labels)), v.name.clone(), v.name));
    }
    found.sort();
    Ok(found)
}

impl Owned {
    /// A network or volume.
    fn other(kind: ObjectKind, project: String, name: String, id: String) -> Owned {
        Owned { kind, project, name, id, service: None, depends_on: Vec::new(), running: false }
    }
}

/// The service names of a `com.docker.compose.depends_on` label
/// (`db:service_healthy:false,cache:service_started:true`).
fn dependencies(label: &str) -> Vec<String> {
    label
        .split(',')
        .filter_map(|d| d.split(':').next())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Removes one object, by id (two networks may share a name); one already
/// gone is not an error. Containers go before the networks and volumes they
/// use, so callers remove in [`ObjectKind`] order. A running container gets
/// `grace` between its stop signal and the kill, unless it has its own
/// `stop_grace_period`.
pub async fn remove(engine: &Engine, object: &Owned, grace: Duration) -> Result<(), EngineError> {
    let docker = &engine.docker;
    match object.kind {
        ObjectKind::Container => {
            stop(engine, object, grace).await?;
            remove_container(docker, &object.id, &object.name).await
        }
        ObjectKind::Network => match docker.remove_network(&object.id).await {
            Err(e) if !is_not_found(&e) => {
                Err(EngineError::api(format!("remove network {}", object.name))(e))
            }
            _ => Ok(()),
        },
        ObjectKind::Volume => {
            let options = RemoveVolumeOptionsBuilder::new().force(true).build();
            match docker.remove_volume(&object.id, Some(options)).await {
                Err(e) if !is_not_found(&e) => {
                    Err(EngineError::api(format!("remove volume {}", object.name))(e))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Stops a running container (see [`remove`]); anything else is left as it
/// is. [`remove`] then takes it away without waiting again.
pub async fn stop(engine: &Engine, object: &Owned, grace: Duration) -> Result<(), EngineError> {
    if object.kind == ObjectKind::Container && object.running {
        stop_container(&engine.docker, &object.id, &object.name, grace).await?;
    }
    Ok(())
}

/// Sends a container its stop signal (`stop_signal`, set from the compose
/// file at creation; SIGTERM by default) and waits until it exits, for at
/// most its explicit `stop_grace_period` (the Engine's `StopTimeout`, set
/// only when the file has one) or else `grace`. Whatever still runs then is
/// killed by the forced removal. Killing with the container's own stop
/// signal marks it as stopped on purpose, so no restart policy revives it.
async fn stop_container(
    docker: &bollard::Docker,
    id: &str,
    name: &str,
    grace: Duration,
) -> Result<(), EngineError> {
    let config = match docker.inspect_container(id, None).await {
        Ok(inspected) => inspected.config.unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(EngineError::api(format!("inspect container {name}"))(e)),
    };
    let grace = config.stop_timeout.and_then(|t| u64::try_from(t).ok()).map_or(grace, Duration::from_secs);
    let signal = config.stop_signal.filter(|s| !s.is_empty()).unwrap_or_else(|| "SIGTERM".to_string());
    if !grace.is_zero() {
        let options = KillContainerOptionsBuilder::new().signal(&signal).build();
        match docker.kill_container(id, Some(options)).await {
            Ok(()) => {}
            // Gone, or no longer running (409): nothing to wait for.
            Err(e) if is_not_found(&e) || is_conflict(&e) => return Ok(()),
            Err(e) => return Err(EngineError::api(format!("stop container {name}"))(e)),
        }
        let options = WaitContainerOptionsBuilder::new().condition("not-running").build();
        let mut exited = docker.wait_container(id, Some(options));
        // Any answer (an exit, a non-zero exit reported as an error, the
        // container gone) ends the wait; the removal tells what matters.
        let _ = tokio::time::timeout(grace, exited.next()).await;
    }
    Ok(())
}

/// Removes a container, killing it if it still runs, with its anonymous
/// volumes. A container already gone is not an error.
async fn remove_container(docker: &bollard::Docker, id: &str, name: &str) -> Result<(), EngineError> {
    let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(EngineError::api(format!("remove container {name}"))(e)),
    }
}

/// The host ports the home's containers publish, by project.
pub async fn published_ports(
    engine: &Engine,
    home: &str,
) -> Result<BTreeMap<String, BTreeSet<u16>>, EngineError> {
    let filters = home_filter(home);
    let containers = engine
        .docker
        .list_containers(Some(ListContainersOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api("list containers"))?;
    let mut ports: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for c in containers {
        let Some(project) = c.labels.as_ref().and_then(|l| l.get(MONO_ENV_LABEL)).cloned() else { continue };
        let published = c.ports.unwrap_or_default().into_iter().filter_map(|p| p.public_port);
        ports.entry(project).or_default().extend(published);
    }
    Ok(ports)
}
