//! `logs.services`: a docker-mode environment's container logs, one service
//! or all of them merged by timestamp ([`crate::docker::logs`]).
//!
//! The containers are looked up first, so a wrong service name or an
//! environment without services is an error before anything is streamed;
//! then the stream runs until it has sent everything asked for, the
//! followed containers stop, the caller goes away or monod shuts down.

use mono_proto::ServiceLogItem;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{OpError, Ops, docker_mode};
use crate::docker::logs::{LogLine, LogRequest, LogSource, stream_logs};
use crate::docker::{self, Engine};

/// The service name that selects every service.
pub const ALL_SERVICES: &str = "all";

/// Lines in flight between the Engine's streams and the caller.
const LINE_BUFFER: usize = 64;

/// The containers whose logs a caller asked for, ready to stream.
pub struct ServiceLogs {
    env: String,
    engine: Engine,
    sources: Vec<LogSource>,
    shutdown: CancellationToken,
}

/// A docker-mode environment's containers that a caller named.
pub(super) struct Selected {
    /// The environment's row.
    pub row: crate::state::EnvRow,
    /// Its engine.
    pub engine: Engine,
    /// The containers of the service (or of all of them), by service name.
    pub containers: Vec<docker::ContainerState>,
}

impl Ops {
    /// The containers of `service` (or of every service, `all`) of the
    /// environment of the workspace at `path`.
    pub async fn service_logs(&self, path: &str, service: &str) -> Result<ServiceLogs, OpError> {
        let Selected { row, engine, containers } = self.select_service(path, service, true).await?;
        let sources =
            containers.into_iter().map(|c| LogSource { service: c.service, container: c.id }).collect();
        Ok(ServiceLogs { env: row.name, engine, sources, shutdown: self.shutdown.clone() })
    }

    /// The containers of `service` (every service too with `all`, when
    /// `all` is allowed): an unavailable error for a simple-mode
    /// environment, one without containers, or a service it does not have.
    pub(super) async fn select_service(
        &self,
        path: &str,
        service: &str,
        all: bool,
    ) -> Result<Selected, OpError> {
        let row = self.registered(&super::lookup(path)?).await?;
        let unavailable = |reason: String| OpError::Unavailable { env: row.name.clone(), reason };
        let Some(project) = &row.docker_project else {
            return Err(unavailable(
                "it is a simple-mode environment (no compose file), so it has no services; `mono logs` without \
                 --service shows its session's output"
                    .into(),
            ));
        };
        let at = super::teardown::endpoint_of(&row)?;
        let engine = docker_mode::connect(&row.name, &at).await?;
        let home = self.home.root().display().to_string();
        let mut containers = docker::project_containers(&engine, &home)
            .await
            .map_err(|source| OpError::Docker { env: row.name.clone(), source })?
            .remove(project)
            .unwrap_or_default();
        containers.sort_by(|a, b| a.service.cmp(&b.service));
        if containers.is_empty() {
            return Err(unavailable(format!(
                "it has no containers (project {project}); `mono init` creates them"
            )));
        }
        let every = all && service == ALL_SERVICES;
        if !every && !containers.iter().any(|c| c.service == service) {
            let known: Vec<&str> = containers.iter().map(|c| c.service.as_str()).collect();
            let or_all = if all { " (or `all`)" } else { "" };
            return Err(unavailable(format!(
                "no service {service:?}; its services are {}{or_all}",
                known.join(", ")
            )));
        }
        containers.retain(|c| every || c.service == service);
        Ok(Selected { row, engine, containers })
    }
}

impl ServiceLogs {
    /// Sends the services, their lines, and an end item to `out`; returns
    /// when that is done, the caller stopped listening or monod shuts down.
    pub async fn send(self, request: LogRequest, out: mpsc::Sender<ServiceLogItem>) {
        let services = self.sources.iter().map(|s| s.service.clone()).collect();
        if out.send(ServiceLogItem::Services { services }).await.is_err() {
            return;
        }
        let (tx, mut rx) = mpsc::channel::<LogLine>(LINE_BUFFER);
        let forwarding = async {
            while let Some(line) = rx.recv().await {
                let item = ServiceLogItem::Line {
                    service: line.service,
                    stream: line.stream.to_string(),
                    time: format!("{:.9}", line.time),
                    data: line.data,
                };
                if out.send(item).await.is_err() {
                    return false;
                }
            }
            true
        };
        // The stream owns the sender: the forwarding ends when it does.
        let both = async { tokio::join!(stream_logs(&self.engine, &self.sources, request, tx), forwarding) };
        let reason = tokio::select! {
            (result, delivered) = both => match (result, delivered) {
                (_, false) => return,
                (Ok(()), true) if request.follow => "every container stopped".to_string(),
                (Ok(()), true) => "end of the kept logs".to_string(),
                (Err(e), true) => format!("{}: {e}", self.env),
            },
            _ = self.shutdown.cancelled() => "monod is shutting down".to_string(),
        };
        let _ = out.send(ServiceLogItem::End { reason }).await;
    }
}
