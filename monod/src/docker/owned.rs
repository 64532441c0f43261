//! The Docker objects of one mono home, found by label: what `mono gc`
//! compares with the state to find orphans (and removes), and the host
//! ports each project publishes (so `mono doctor` can tell an
//! environment's own listeners from other programs').
//!
//! Everything mono creates carries `dev.mono.home` and `dev.mono.env`, so
//! several homes (or a test suite's sandboxes) sharing one Engine never see,
//! let alone remove, each other's objects. Removal is by id: names are not
//! unique on every engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};

use super::engine::{Engine, EngineError, is_not_found};
use super::ownership::EnvLabels;
use crate::compose::{MONO_ENV_LABEL, MONO_HOME_LABEL};

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
        found.push(Owned { kind: ObjectKind::Container, project: project(c.labels.as_ref()), name, id });
    }
    for n in networks.map_err(EngineError::api("list networks"))? {
        let (Some(id), Some(name)) = (n.id, n.name) else { continue };
        found.push(Owned { kind: ObjectKind::Network, project: project(n.labels.as_ref()), name, id });
    }
    for v in volumes.map_err(EngineError::api("list volumes"))?.volumes.unwrap_or_default() {
        found.push(Owned {
            kind: ObjectKind::Volume,
            project: project(Some(&v.labels)),
            id: v.name.clone(),
            name: v.name,
        });
    }
    found.sort();
    Ok(found)
}

/// Removes one object, by id (two networks may share a name); one already
/// gone is not an error. Containers go before the networks and volumes they
/// use, so callers remove in [`ObjectKind`] order.
pub async fn remove(engine: &Engine, object: &Owned) -> Result<(), EngineError> {
    let docker = &engine.docker;
    match object.kind {
        ObjectKind::Container => remove_container(docker, &object.id, &object.name).await,
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

/// Stops a container (with its own stop signal and grace period, set from
/// the compose file at creation), then removes it with its anonymous
/// volumes. A container already gone is not an error.
async fn remove_container(docker: &bollard::Docker, id: &str, name: &str) -> Result<(), EngineError> {
    match docker.stop_container(id, None).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
        Err(e) => return Err(EngineError::api(format!("stop container {name}"))(e)),
    }
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
