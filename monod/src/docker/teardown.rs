//! Taking a project down, by label: containers (stopped with their own stop
//! signal and grace period, then removed with their anonymous volumes),
//! then networks, then named volumes. Whatever is already gone is skipped,
//! so teardown also finishes what a crash, a failed init or a person left.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use tokio::task::JoinSet;

use super::PROJECT_LABEL;
use super::engine::{Engine, EngineError, is_not_found};
use crate::progress::Progress;

/// Stops a container (with its own stop signal and grace period, set from
/// the compose file at creation), then removes it with its anonymous
/// volumes. A container already gone is not an error.
pub(super) async fn remove_container(
    docker: &bollard::Docker,
    id: &str,
    name: &str,
) -> Result<(), EngineError> {
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

/// Removes every container, network and volume labelled as `project`'s.
pub async fn teardown(engine: &Engine, project: &str, progress: &Progress) -> Result<(), EngineError> {
    let filters = HashMap::from([("label", vec![format!("{PROJECT_LABEL}={project}")])]);

    let containers = engine
        .docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .map_err(EngineError::api(format!("list containers of {project}")))?;
    let mut removals = JoinSet::new();
    for c in containers {
        let Some(id) = c.id else { continue };
        let name = c.names.and_then(|n| n.first().cloned()).unwrap_or_else(|| id.clone());
        let name = name.trim_start_matches('/').to_string();
        let docker = engine.docker.clone();
        removals.spawn(async move { remove_container(&docker, &id, &name).await.map(|()| name) });
    }
    let mut first_error = None;
    while let Some(joined) = removals.join_next().await {
        match joined {
            Ok(Ok(name)) => progress.step(format!("removed container {name}")),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(EngineError::Conflict {
                    what: format!("container removal panicked: {e}"),
                });
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    let networks = engine
        .docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api(format!("list networks of {project}")))?;
    for net in networks {
        let Some(name) = net.name else { continue };
        match engine.docker.remove_network(&name).await {
            Ok(()) => progress.step(format!("removed network {name}")),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(EngineError::api(format!("remove network {name}"))(e)),
        }
    }

    let volumes = engine
        .docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api(format!("list volumes of {project}")))?;
    for vol in volumes.volumes.unwrap_or_default() {
        let options = RemoveVolumeOptionsBuilder::new().force(true).build();
        match engine.docker.remove_volume(&vol.name, Some(options)).await {
            Ok(()) => progress.step(format!("removed volume {}", vol.name)),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(EngineError::api(format!("remove volume {}", vol.name))(e)),
        }
    }
    Ok(())
}
