//! `service.restart`: restarting one docker-mode service, for an agent or a
//! person who changed its configuration or wedged it.
//!
//! The Engine's own restart is used: it stops each container with the stop
//! signal and grace period it was created with (the compose file's
//! `stop_signal` and `stop_grace_period`) and starts it again, so ports,
//! volumes and networks stay as init made them. The environment is claimed
//! for the time, so a restart never overlaps an init, a destroy or another
//! restart of it.

use mono_proto::ServiceRestarted;

use super::service_logs::Selected;
use super::{OpError, Ops};
use crate::docker::EngineError;

impl Ops {
    /// Restarts every container of `service` of the environment of the
    /// workspace at `path`; replies once each has started again.
    pub async fn restart_service(&self, path: &str, service: &str) -> Result<ServiceRestarted, OpError> {
        let _claimed = self.claim(&super::lookup(path)?, "restart a service")?;
        let Selected { row, engine, containers } = self.select_service(path, service, false).await?;
        let mut restarted = Vec::with_capacity(containers.len());
        for container in containers {
            engine
                .docker
                .restart_container(&container.id, None)
                .await
                .map_err(EngineError::api(format!("restart container {}", container.name)))
                .map_err(|source| OpError::Docker { env: row.name.clone(), source })?;
            restarted.push(container.name);
        }
        Ok(ServiceRestarted { name: row.name, service: service.to_string(), containers: restarted })
    }
}
