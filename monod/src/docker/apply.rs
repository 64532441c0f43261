//! Bringing a plan up: images, networks, volumes, then containers, started
//! in dependency order with independent services started in parallel.
//!
//! Readiness comes from the Engine's event stream (subscribed to before the
//! first start, so nothing is missed): `start`, `die` with its exit code and
//! `health_status`. A service starts once each of its dependencies has
//! reached the condition asked for; the plan is up when every service has
//! started, every service with a health check is healthy, and no service has
//! exited with a failure. Anything else fails with the service's name, state
//! and last health-check output; the caller then tears the project down.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountTmpfsOptions, MountType,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, EventsOptionsBuilder};
use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine::{Engine, EngineError, is_conflict};
use super::{PROJECT_LABEL, SERVICE_LABEL, images};
use crate::compose::{Condition, ImageSource, MountKind, Plan, ServicePlan};
use crate::progress::Progress;

/// How long services get to become ready before init gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Creates and starts everything in `plan`; returns what each build did
/// (for the cache's bookkeeping). On error the caller removes the project
/// with [`super::teardown`].
pub async fn apply(
    engine: &Engine,
    plan: &Plan,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<Vec<images::ImageUse>, EngineError> {
    let builds = images::ensure(engine, plan, progress).await?;
    tokio::try_join!(create_networks(engine, plan, progress), create_volumes(engine, plan, progress))?;
    futures_util::future::try_join_all(plan.services.iter().map(|s| create_container(engine, s))).await?;
    progress.step(format!("created {} container(s)", plan.services.len()));
    start_in_order(engine, plan, progress, cancel).await?;
    Ok(builds)
}

async fn create_networks(engine: &Engine, plan: &Plan, progress: &Progress) -> Result<(), EngineError> {
    for net in &plan.networks {
        if net.external {
            engine.docker.inspect_network(&net.name, None).await.map_err(|_| EngineError::Conflict {
                what: format!(
                    "external network {} does not exist (docker network create {})",
                    net.name, net.name
                ),
            })?;
            continue;
        }
        let request = NetworkCreateRequest {
            name: net.name.clone(),
            driver: net.driver.clone(),
            internal: Some(net.internal),
            options: Some(net.driver_opts.clone().into_iter().collect()),
            labels: Some(net.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        match engine.docker.create_network(request).await {
            Ok(_) => progress.step(format!("created network {}", net.name)),
            Err(e) if is_conflict(&e) => ensure_ours(engine, plan, &net.name).await?,
            Err(e) => return Err(EngineError::api(format!("create network {}", net.name))(e)),
        }
    }
    Ok(())
}

/// A network that already exists may be reused only if it is this
/// project's (left by an interrupted run).
async fn ensure_ours(engine: &Engine, plan: &Plan, name: &str) -> Result<(), EngineError> {
    let net = engine
        .docker
        .inspect_network(name, None)
        .await
        .map_err(EngineError::api(format!("inspect network {name}")))?;
    let owner = net.labels.as_ref().and_then(|l| l.get(PROJECT_LABEL)).cloned();
    if owner.as_deref() == Some(plan.project.as_str()) {
        Ok(())
    } else {
        Err(EngineError::Conflict {
            what: format!("network {name} exists and does not belong to {}", plan.project),
        })
    }
}

async fn create_volumes(engine: &Engine, plan: &Plan, progress: &Progress) -> Result<(), EngineError> {
    for vol in &plan.volumes {
        if vol.external {
            engine.docker.inspect_volume(&vol.name).await.map_err(|_| EngineError::Conflict {
                what: format!(
                    "external volume {} does not exist (docker volume create {})",
                    vol.name, vol.name
                ),
            })?;
            continue;
        }
        let request = VolumeCreateRequest {
            name: Some(vol.name.clone()),
            driver: vol.driver.clone(),
            driver_opts: Some(vol.driver_opts.clone().into_iter().collect()),
            labels: Some(vol.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        engine
            .docker
            .create_volume(request)
            .await
            .map_err(EngineError::api(format!("create volume {}", vol.name)))?;
        progress.step(format!("created volume {}", vol.name));
    }
    Ok(())
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

async fn create_container(engine: &Engine, s: &ServicePlan) -> Result<(), EngineError> {
    let image = match &s.image {
        ImageSource::Pull(i) => i.clone(),
        ImageSource::Build(b) => b.tag.clone(),
    };
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &s.ports {
        port_bindings
            .entry(format!("{}/{}", p.container_port, p.protocol.as_str()))
            .or_insert_with(|| Some(vec![]))
            .get_or_insert_with(Vec::new)
            .push(PortBinding { host_ip: Some(p.host_ip.clone()), host_port: Some(p.host_port.to_string()) });
    }
    let exposed: Vec<String> = s
        .expose
        .iter()
        .map(|(port, proto)| format!("{port}/{}", proto.as_str()))
        .chain(port_bindings.keys().cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mounts: Vec<Mount> = s
        .mounts
        .iter()
        .map(|m| {
            let (typ, source, tmpfs) = match &m.kind {
                MountKind::Bind { source } => {
                    (MountType::BIND, Some(source.to_string_lossy().into_owned()), None)
                }
                MountKind::Volume { name } => (MountType::VOLUME, Some(name.clone()), None),
                MountKind::Anonymous => (MountType::VOLUME, None, None),
                MountKind::Tmpfs { size } => (
                    MountType::TMPFS,
                    None,
                    Some(MountTmpfsOptions { size_bytes: size.map(|b| b as i64), ..Default::default() }),
                ),
            };
            Mount {
                target: Some(m.target.clone()),
                source,
                typ: Some(typ),
                read_only: Some(m.read_only),
                tmpfs_options: tmpfs,
                ..Default::default()
            }
        })
        .collect();
    let restart = s.restart.as_deref().map(|r| {
        let (name, count) = r.split_once(':').unwrap_or((r, ""));
        RestartPolicy {
            name: Some(match name {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            }),
            maximum_retry_count: count.parse().ok(),
        }
    });
    let endpoints: HashMap<String, EndpointSettings> = s
        .networks
        .iter()
        .map(|(net, aliases)| {
            (net.clone(), EndpointSettings { aliases: Some(aliases.clone()), ..Default::default() })
        })
        .collect();
    // The Engine connects a new container to one network; the others are
    // connected before it starts.
    let mut endpoints_iter = endpoints.into_iter();
    let first = endpoints_iter.next();
    let rest: Vec<(String, EndpointSettings)> = endpoints_iter.collect();
    let host_config = HostConfig {
        port_bindings: Some(port_bindings),
        mounts: Some(mounts),
        restart_policy: restart,
        cap_add: Some(s.cap_add.clone()),
        cap_drop: Some(s.cap_drop.clone()),
        extra_hosts: Some(s.extra_hosts.clone()),
        init: s.init,
        privileged: Some(s.privileged),
        sysctls: Some(s.sysctls.clone().into_iter().collect()),
        network_mode: first.as_ref().map(|(n, _)| n.clone()),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(image),
        cmd: s.command.clone(),
        entrypoint: s.entrypoint.clone(),
        env: Some(s.environment.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        exposed_ports: Some(exposed),
        labels: Some(s.labels.clone().into_iter().collect()),
        hostname: s.hostname.clone(),
        user: s.user.clone(),
        working_dir: s.working_dir.clone(),
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_grace_period.map(|d| d.as_secs() as i64),
        tty: Some(s.tty),
        open_stdin: Some(s.stdin_open),
        healthcheck: s.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: nanos(h.interval),
            timeout: nanos(h.timeout),
            retries: h.retries.map(i64::from),
            start_period: nanos(h.start_period),
            start_interval: nanos(h.start_interval),
        }),
        host_config: Some(host_config),
        networking_config: first
            .map(|(n, e)| NetworkingConfig { endpoints_config: Some(HashMap::from([(n, e)])) }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&s.container_name).build();
    engine
        .docker
        .create_container(Some(options), body)
        .await
        .map_err(EngineError::api(format!("create container {} for service {}", s.container_name, s.name)))?;
    for (net, endpoint) in rest {
        let request = bollard::models::NetworkConnectRequest {
            container: s.container_name.clone(),
            endpoint_config: Some(endpoint),
        };
        engine
            .docker
            .connect_network(&net, request)
            .await
            .map_err(EngineError::api(format!("connect {} to network {net}", s.container_name)))?;
    }
    Ok(())
}

/// What the event stream has told about a service.
#[derive(Default, Clone)]
struct Seen {
    started: bool,
    healthy: bool,
    unhealthy: bool,
    exit_code: Option<i64>,
}

async fn start_in_order(
    engine: &Engine,
    plan: &Plan,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("label", vec![format!("{PROJECT_LABEL}={}", plan.project)]),
    ]);
    let mut events = engine.docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    let services: HashMap<&str, &ServicePlan> = plan.services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut waiting: Vec<&ServicePlan> = plan.services.iter().collect();
    let mut starting: JoinSet<(String, Result<(), bollard::errors::Error>)> = JoinSet::new();
    let deadline = tokio::time::sleep(READY_TIMEOUT);
    tokio::pin!(deadline);

    loop {
        // Start every waiting service whose dependencies are satisfied.
        let mut still = Vec::new();
        for s in waiting {
            match deps_state(s, &services, &seen) {
                Deps::Ready => {
                    let docker = engine.docker.clone();
                    let name = s.name.clone();
                    let container = s.container_name.clone();
                    starting.spawn(async move { (name, docker.start_container(&container, None).await) });
                    seen.entry(s.name.clone()).or_default();
                }
                Deps::Waiting => still.push(s),
                Deps::Failed(dep, why) => {
                    return Err(service_error(engine, services[dep.as_str()], &why).await);
                }
            }
        }
        waiting = still;
        if waiting.is_empty() && starting.is_empty() {
            if let Some(problem) = first_problem(plan, &seen) {
                let s = services[problem.0.as_str()];
                return Err(service_error(engine, s, &problem.1).await);
            }
            if plan.services.iter().all(|s| ready(s, seen.get(&s.name))) {
                progress.step("all services are up");
                return Ok(());
            }
        }
        tokio::select! {
            Some(joined) = starting.join_next(), if !starting.is_empty() => {
                let (name, result) = joined.map_err(|e| EngineError::Service {
                    service: "?".into(), state: "could not be started".into(), detail: format!(": {e}"),
                })?;
                if let Err(e) = result {
                    return Err(EngineError::Service { service: name, state: "could not be started".into(), detail: format!(": {e}") });
                }
                progress.step(format!("started {name}"));
                seen.entry(name).or_default().started = true;
            }
            event = events.next() => {
                let Some(event) = event else {
                    return Err(EngineError::Unreachable { endpoint: engine.endpoint.clone(), reason: "the event stream ended".into() });
                };
                let event = event.map_err(EngineError::api("follow engine events"))?;
                let attrs = event.actor.and_then(|a| a.attributes).unwrap_or_default();
                let Some(service) = attrs.get(SERVICE_LABEL).cloned() else { continue };
                let entry = seen.entry(service.clone()).or_default();
                match event.action.as_deref().unwrap_or("") {
                    "start" => entry.started = true,
                    "die" => entry.exit_code = attrs.get("exitCode").and_then(|c| c.parse().ok()).or(Some(-1)),
                    "health_status: healthy" => { entry.healthy = true; entry.unhealthy = false; progress.step(format!("{service} is healthy")); }
                    "health_status: unhealthy" => entry.unhealthy = true,
                    _ => {}
                }
            }
            _ = &mut deadline => {
                let late: Vec<&str> = plan.services.iter().filter(|s| !ready(s, seen.get(&s.name))).map(|s| s.name.as_str()).collect();
                let s = services[late.first().copied().unwrap_or("?")];
                return Err(service_error(engine, s, &format!("did not become ready within {}s", READY_TIMEOUT.as_secs())).await);
            }
            _ = cancel.cancelled() => return Err(EngineError::Cancelled),
        }
    }
}

enum Deps {
    Ready,
    Waiting,
    Failed(String, String),
}

fn deps_state(s: &ServicePlan, services: &HashMap<&str, &ServicePlan>, seen: &HashMap<String, Seen>) -> Deps {
    for dep in &s.depends_on {
        if !services.contains_key(dep.service.as_str()) {
            continue;
        }
        let st = seen.get(&dep.service).cloned().unwrap_or_default();
        let failed = |why: &str| Deps::Failed(dep.service.clone(), why.to_string());
        match dep.condition {
            Condition::Started if st.started => {}
            Condition::Healthy if st.healthy => {}
            Condition::Healthy if st.unhealthy => return failed("is unhealthy"),
            Condition::CompletedSuccessfully => match st.exit_code {
                Some(0) => {}
                Some(code) => return failed(&format!("exited with code {code}")),
                None => return Deps::Waiting,
            },
            _ if st.exit_code.is_some_and(|c| c != 0) => {
                return failed(&format!("exited with code {}", st.exit_code.unwrap_or(-1)));
            }
            _ => return Deps::Waiting,
        }
    }
    Deps::Ready
}

/// Up: started, healthy when it has a health check, and not failed.
fn ready(s: &ServicePlan, seen: Option<&Seen>) -> bool {
    let Some(st) = seen else { return false };
    let has_check =
        s.healthcheck.as_ref().is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"));
    match st.exit_code {
        Some(0) => true,
        Some(_) => false,
        None => st.started && (!has_check || st.healthy),
    }
}

/// A service that exited with a failure or turned unhealthy.
fn first_problem(plan: &Plan, seen: &HashMap<String, Seen>) -> Option<(String, String)> {
    plan.services.iter().find_map(|s| {
        let st = seen.get(&s.name)?;
        match st.exit_code {
            Some(code) if code != 0 => Some((s.name.clone(), format!("exited with code {code}"))),
            _ if st.unhealthy => Some((s.name.clone(), "is unhealthy".to_string())),
            _ => None,
        }
    })
}

/// The error for a failed service, with its state and last health output.
async fn service_error(engine: &Engine, s: &ServicePlan, state: &str) -> EngineError {
    let detail = match engine.docker.inspect_container(&s.container_name, None).await {
        Ok(info) => {
            let st = info.state.unwrap_or_default();
            let status = st.status.map(|x| x.to_string()).unwrap_or_default();
            let last = st
                .health
                .and_then(|h| h.log)
                .and_then(|log| log.last().cloned())
                .and_then(|r| r.output)
                .map(|o| o.trim().replace('\n', " "))
                .filter(|o| !o.is_empty());
            match last {
                Some(out) => format!(" (container {status}); last health check: {out}"),
                None => format!(" (container {status})"),
            }
        }
        Err(_) => String::new(),
    };
    EngineError::Service { service: s.name.clone(), state: state.to_string(), detail }
}
