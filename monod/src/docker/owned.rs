//! The Docker objects of one mono home, found by label: what `mono gc`
//! compares with the state to find orphans (and removes), and the host
//! ports each project publishes (so `mono doctor` can tell an
//! environment's own listeners from other programs').
//!
//! Everything mono creates carries `dev.mono.home`, so several homes (or a
//! test suite's sandboxes) sharing one Engine never see each other's
//! objects as orphans.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};

use super::PROJECT_LABEL;
use super::engine::{Engine, EngineError, is_not_found};
use crate::compose::MONO_HOME_LABEL;

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

/// One object of the home's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owned {
    /// What it is.
    pub kind: ObjectKind,
    /// Its compose project (`mono-<env>`).
    pub project: String,
    /// Its name.
    pub name: String,
    /// Its id (the name for volumes).
    pub id: String,
}

fn home_filter(home: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![format!("{MONO_HOME_LABEL}={home}")])])
}

/// Every container, network and volume labelled as `home`'s.
pub async fn owned_by(engine: &Engine, home: &str) -> Result<Vec<Owned>, EngineError> {
    let filters = home_filter(home);
    let project = |labels: Option<&HashMap<String, String>>| {
        labels.and_then(|l| l.get(PROJECT_LABEL)).cloned().unwrap_or_default()
    };
    let mut found = Vec::new();
    let containers = engine
        .docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .map_err(EngineError::api("list containers"))?;
    for c in containers {
        let Some(id) = c.id else { continue };
        let name = c.names.and_then(|n| n.first().cloned()).unwrap_or_else(|| id.clone());
        let name = name.trim_start_matches('/').to_string();
        found.push(Owned { kind: ObjectKind::Container, project: project(c.labels.as_ref()), name, id });
    }
    let networks = engine
        .docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api("list networks"))?;
    for n in networks {
        let (Some(id), Some(name)) = (n.id, n.name) else { continue };
        found.push(Owned { kind: ObjectKind::Network, project: project(n.labels.as_ref()), name, id });
    }
    let volumes = engine
        .docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api("list volumes"))?;
    for v in volumes.volumes.unwrap_or_default() {
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

/// Removes one object; one already gone is not an error. Containers go
/// before the networks and volumes they use, so callers remove in
/// [`ObjectKind`] order.
pub async fn remove(engine: &Engine, object: &Owned) -> Result<(), EngineError> {
    let docker = &engine.docker;
    match object.kind {
        ObjectKind::Container => super::teardown::remove_container(docker, &object.id, &object.name).await,
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
        let Some(project) = c.labels.as_ref().and_then(|l| l.get(PROJECT_LABEL)).cloned() else { continue };
        let published = c.ports.unwrap_or_default().into_iter().filter_map(|p| p.public_port);
        ports.entry(project).or_default().extend(published);
    }
    Ok(ports)
}
