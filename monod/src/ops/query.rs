//! `env.list` and `env.status`: rows joined with one tmux query.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use mono_proto::{ContainerInfo, EnvInfo, EnvStatus, PublishedPort};

use super::{OpError, Ops};
use crate::docker::{self, ContainerState, Engine};
use crate::state::{EnvRow, Phase};
use crate::{ports, tmux};

impl Ops {
    /// Every environment with its current status.
    pub async fn list(self: &Arc<Self>) -> Result<Vec<EnvInfo>, OpError> {
        let (rows, sessions) = tokio::join!(self.store.all(), live_sessions());
        let rows = rows?;
        let containers = containers_if_any(&rows, self.home.root()).await;
        Ok(rows.iter().map(|row| self.info_with(row, &sessions, &containers)).collect())
    }

    /// One environment, by workspace path.
    pub async fn status(self: &Arc<Self>, path: &str) -> Result<EnvInfo, OpError> {
        let row = self.registered(&super::lookup(path)?).await?;
        let rows = [row];
        let (sessions, containers) =
            tokio::join!(live_sessions(), containers_if_any(&rows, self.home.root()));
        Ok(self.info_with(&rows[0], &sessions, &containers))
    }

    fn info_with(
        &self,
        row: &EnvRow,
        sessions: &HashSet<String>,
        containers: &HashMap<String, Vec<ContainerState>>,
    ) -> EnvInfo {
        let mut info = self.info(row, sessions);
        if let Some(list) = row.docker_project.as_ref().and_then(|p| containers.get(p)) {
            let mut vars = port_vars(list);
            info.containers = list
                .iter()
                .map(|c| ContainerInfo {
                    service: c.service.clone(),
                    name: c.name.clone(),
                    state: c.state.clone(),
                    health: c.health.clone(),
                    ports: c
                        .ports
                        .iter()
                        .map(|p| PublishedPort {
                            container_port: p.container_port,
                            protocol: p.protocol.clone(),
                            host_ip: p.host_ip.clone(),
                            host_port: p.host_port,
                            vars: vars.remove(&p.host_port).unwrap_or_default(),
                            forward: super::forwards::forward_of(row, p.host_port),
                        })
                        .collect(),
                })
                .collect();
        }
        info
    }

    /// The public view of a row.
    pub(super) fn info(&self, row: &EnvRow, sessions: &HashSet<String>) -> EnvInfo {
        let session = mono_proto::paths::session_name(&row.name);
        let status = match row.phase {
            Phase::Creating => EnvStatus::Creating,
            Phase::Destroying => EnvStatus::Destroying,
            Phase::Failed => EnvStatus::Failed,
            Phase::Ready if sessions.contains(&session) => EnvStatus::Running,
            Phase::Ready => EnvStatus::Stopped,
        };
        let log = self.monitor.get(&row.name);
        EnvInfo {
            id: row.id,
            name: row.name.clone(),
            path: row.path.clone(),
            status,
            mode: row.mode,
            project: row.project.clone(),
            workspace: row.workspace.clone(),
            session,
            data_dir: self.home.data_dir(&row.name).to_string_lossy().into_owned(),
            port_base: ports::block_start(row.id),
            created_at: row.created_at.clone(),
            docker_project: row.docker_project.clone(),
            containers: Vec::new(),
            failure: row.failure.clone(),
            activity: log.as_ref().map(|l| l.activity()).unwrap_or_default(),
            run: log.and_then(|l| l.run()),
            urls: self.urls(row),
        }
    }

    /// `MONO_PORT` (simple mode: the block's first port), `MONO_URL` and
    /// `MONO_<SERVICE>_URL` of `row`, for its scripts and session.
    pub(super) fn url_vars(&self, row: &EnvRow) -> Vec<(String, String)> {
        let mut vars = Vec::new();
        if row.mode == mono_proto::Mode::Simple {
            vars.push(("MONO_PORT".to_string(), ports::block_start(row.id).to_string()));
        }
        let routes = crate::router::table::routes_of(row);
        vars.extend(crate::router::table::url_vars(&row.name, &routes, self.router_port));
        vars
    }

    /// The environment's named URLs (none when the router is off).
    pub(super) fn urls(&self, row: &EnvRow) -> Vec<mono_proto::EnvUrl> {
        let Some(port) = self.router_port else { return Vec::new() };
        let routes = crate::router::table::routes_of(row);
        crate::router::table::urls(&row.name, &routes, port)
    }
}

/// The `MONO_<SERVICE>_PORT*` variables of an environment's published
/// ports, by host port, named as init named them ([`mono_compose::port_vars`]):
/// the planner hands out host ports in plan order, so ordering by host port
/// gives each service's first port and lets the first of two colliding
/// names keep it, as there.
fn port_vars(containers: &[ContainerState]) -> HashMap<u16, Vec<String>> {
    let mut bindings: Vec<(&str, &docker::Published)> =
        containers.iter().flat_map(|c| c.ports.iter().map(move |p| (c.service.as_str(), p))).collect();
    bindings.sort_by_key(|(_, p)| p.host_port);
    let mut taken = HashSet::new();
    let mut seen_services = HashSet::new();
    let mut out: HashMap<u16, Vec<String>> = HashMap::new();
    for (service, p) in bindings {
        let stem = mono_compose::port_var_stem(service);
        let suffix = if p.protocol == "udp" { "_UDP" } else { "" };
        let mut names = Vec::new();
        if seen_services.insert(service) {
            names.push(stem.clone());
        }
        names.push(format!("{stem}_{}{suffix}", p.container_port));
        for name in names {
            if taken.insert(name.clone()) {
                out.entry(p.host_port).or_default().push(name);
            }
        }
    }
    out
}

/// Containers of every docker-mode environment, one Engine query per
/// engine they were created on (one, usually); none for an engine that
/// does not answer.
async fn containers_if_any(rows: &[EnvRow], home: &Path) -> HashMap<String, Vec<ContainerState>> {
    let mut engines: Vec<(docker::Endpoint, Vec<&str>)> = Vec::new();
    for row in rows {
        let (Some(project), Ok(at)) = (&row.docker_project, super::teardown::endpoint_of(row)) else {
            continue;
        };
        match engines.iter_mut().find(|(e, _)| e.host == at.host && e.tls == at.tls) {
            Some((_, projects)) => projects.push(project),
            None => engines.push((at, vec![project])),
        }
    }
    let home = home.display().to_string();
    // Each engine at once, and none for longer than LIST_WAIT: a remote
    // engine behind a dropped network must not hold up the others.
    let listed = futures_util::future::join_all(engines.iter().map(|(at, _)| {
        let home = &home;
        async move {
            let query = async { docker::project_containers(&Engine::connect(at).await?, home).await };
            tokio::time::timeout(LIST_WAIT, query).await
        }
    }))
    .await;
    let mut all = HashMap::new();
    for ((at, projects), listed) in engines.iter().zip(listed) {
        match listed {
            Ok(Ok(mut found)) => all.extend(projects.iter().filter_map(|p| found.remove_entry(*p))),
            Ok(Err(e)) => tracing::debug!(error = %e, endpoint = %at, "cannot list containers"),
            Err(_) => tracing::debug!(endpoint = %at, "the engine did not list its containers in time"),
        }
    }
    all
}

/// How long list and status wait for one engine's containers.
const LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sessions that exist now; none when tmux is missing or has no server.
async fn live_sessions() -> HashSet<String> {
    match tmux::list_sessions().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list tmux sessions");
            HashSet::new()
        }
    }
}
