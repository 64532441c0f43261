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
//!
//! Names are checked before anything is made ([`check_names`]) and again as
//! each object is made, because the Engine does not refuse a taken name
//! everywhere: an object that is not this environment's is never used
//! ([`super::ownership`]). Containers join networks by id, so a second
//! network of the same name (made by hand on an old engine) cannot catch
//! them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountTmpfsOptions, MountType,
    Network, NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine::{Engine, EngineError, is_conflict};
use super::ownership::EnvLabels;
use super::{SERVICE_LABEL, probe};
use crate::logs::progress::Progress;
use mono_compose::{Condition, ImageSource, MountKind, Plan, ServicePlan, VolumePlan};

/// How long services get to become ready before init gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// How long another maker of a network of the same name (created at the
/// same moment) gets to remove its own before init gives up on the name.
const DUPLICATE_GRACE: Duration = Duration::from_secs(10);

/// Fails when a name the plan needs is taken by an object that is not this
/// environment's, before anything is created (so nothing is created, and
/// nothing needs removing). Objects that appear after this check are caught
/// as they are created.
pub async fn check_names(engine: &Engine, plan: &Plan) -> Result<(), EngineError> {
    let env = EnvLabels { home: &plan.home, project: &plan.project };
    let containers: Vec<String> = plan.services.iter().map(|s| s.container_name.clone()).collect();
    let networks: Vec<String> =
        plan.networks.iter().filter(|n| !n.external).map(|n| n.name.clone()).collect();
    let volumes: Vec<String> = plan.volumes.iter().filter(|v| !v.external).map(|v| v.name.clone()).collect();
    let by_name = |names: &[String]| HashMap::from([("name", names.to_vec())]);
    let docker = &engine.docker;
    // An empty name filter would list everything: ask only for kinds the
    // plan has.
    let (found_containers, found_networks, found_volumes) = tokio::join!(
        async {
            let options =
                ListContainersOptionsBuilder::new().all(true).filters(&by_name(&containers)).build();
            if containers.is_empty() { Ok(Vec::new()) } else { docker.list_containers(Some(options)).await }
        },
        async {
            let options = ListNetworksOptionsBuilder::new().filters(&by_name(&networks)).build();
            if networks.is_empty() { Ok(Vec::new()) } else { docker.list_networks(Some(options)).await }
        },
        async {
            let options = ListVolumesOptionsBuilder::new().filters(&by_name(&volumes)).build();
            if volumes.is_empty() { Ok(Default::default()) } else { docker.list_volumes(Some(options)).await }
        },
    );
    // The Engine's name filters match parts of names: compare exactly.
    for c in found_containers.map_err(EngineError::api("list containers"))? {
        let names = c.names.unwrap_or_default();
        if let Some(name) = containers.iter().find(|n| names.iter().any(|m| m.trim_start_matches('/') == **n))
        {
            return Err(not_ours(env, "container", name, c.labels.as_ref()));
        }
    }
    for n in found_networks.map_err(EngineError::api("list networks"))? {
        if let Some(name) = n.name.as_ref().filter(|name| networks.contains(name)) {
            return Err(not_ours(env, "network", name, n.labels.as_ref()));
        }
    }
    for v in found_volumes.map_err(EngineError::api("list volumes"))?.volumes.unwrap_or_default() {
        if volumes.contains(&v.name) {
            return Err(not_ours(env, "volume", &v.name, Some(&v.labels)));
        }
    }
    Ok(())
}

/// The error for a name taken by someone else's object.
fn not_ours(
    env: EnvLabels<'_>,
    kind: &'static str,
    name: &str,
    labels: Option<&HashMap<String, String>>,
) -> EngineError {
    let (owner, fix) = env.foreign(kind, name, labels);
    EngineError::NotOurs { kind, name: name.to_string(), owner, fix }
}

/// Creates and starts everything in `plan` (checked by [`check_names`],
/// its images made by [`super::images::ensure`]); a volume that exists already
/// as this environment's (a restored seed) is used as it is. On error the
/// caller removes the project with [`super::teardown`]; every request
/// already sent has been answered by then, so none creates an object after
/// the teardown looked.
pub async fn apply(
    engine: &Engine,
    plan: &Plan,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let env = EnvLabels { home: &plan.home, project: &plan.project };
    let (networks, volumes) = tokio::join!(
        create_networks(engine, plan, env, progress),
        create_volumes(engine, plan, env, progress)
    );
    let (networks, ()) = (networks?, volumes?);
    let created = futures_util::future::join_all(
        plan.services.iter().map(|s| create_container(engine, env, s, &networks)),
    )
    .await;
    created.into_iter().collect::<Result<Vec<()>, EngineError>>()?;
    progress.step(format!("created {} container(s)", plan.services.len()));
    start_in_order(engine, plan, progress, cancel).await
}

/// Creates the plan's networks (or finds the external ones); returns each
/// one's id by name, so containers join exactly the network mono made.
async fn create_networks(
    engine: &Engine,
    plan: &Plan,
    env: EnvLabels<'_>,
    progress: &Progress,
) -> Result<HashMap<String, String>, EngineError> {
    let mut ids = HashMap::new();
    for net in &plan.networks {
        if net.external {
            let found =
                engine.docker.inspect_network(&net.name, None).await.map_err(|_| EngineError::Conflict {
                    what: format!(
                        "external network {} does not exist (docker network create {})",
                        net.name, net.name
                    ),
                })?;
            ids.insert(net.name.clone(), found.id.unwrap_or_else(|| net.name.clone()));
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
        // Engines that allow a second network of a name: looked for again
        // just before creating (a pull or build may have taken minutes
        // since `check_names`), so a duplicate can only come from a create
        // at the same moment, which `keep_if_first` settles.
        let unique = engine.refuses_duplicate_networks();
        if !unique && let Some(other) = networks_named(engine, &net.name).await?.first() {
            return Err(not_ours(env, "network", &net.name, other.labels.as_ref()));
        }
        let id = match engine.docker.create_network(request).await {
            Ok(created) => created.id,
            Err(e) if is_conflict(&e) => {
                let labels = engine.docker.inspect_network(&net.name, None).await.ok().and_then(|n| n.labels);
                return Err(not_ours(env, "network", &net.name, labels.as_ref()));
            }
            Err(e) => return Err(EngineError::api(format!("create network {}", net.name))(e)),
        };
        if !unique {
            keep_if_first(engine, env, &net.name, &id).await?;
        }
        progress.step(format!("created network {}", net.name));
        ids.insert(net.name.clone(), id);
    }
    Ok(ids)
}

/// The networks named exactly `name` (the Engine's filter also matches
/// parts of names).
async fn networks_named(engine: &Engine, name: &str) -> Result<Vec<Network>, EngineError> {
    let filters = HashMap::from([("name", vec![name.to_string()])]);
    let found = engine
        .docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api(format!("list networks named {name}")))?;
    Ok(found.into_iter().filter(|n| n.name.as_deref() == Some(name)).collect())
}

/// Engines before API 1.44 let two creates of one name both succeed (with
/// or without `CheckDuplicate`, when they come at the same moment), and a
/// network of a name two networks share cannot be used by name. So after
/// creating, mono looks: of the networks named `name`, the oldest (then the
/// smallest id, so racers agree) stays. The network `id` just made is
/// removed unless it is that one; if it is, the others' makers (another
/// mono, which removes its own at once) are given a moment to remove theirs.
async fn keep_if_first(engine: &Engine, env: EnvLabels<'_>, name: &str, id: &str) -> Result<(), EngineError> {
    let created = |n: &Network| n.created.as_deref().and_then(|c| c.parse::<jiff::Timestamp>().ok());
    let oldest = |all: &[Network]| {
        all.iter().min_by(|a, b| (created(a), a.id.clone()).cmp(&(created(b), b.id.clone()))).cloned()
    };
    let same = networks_named(engine, name).await?;
    match oldest(&same) {
        Some(first) if first.id.as_deref() != Some(id) => {
            return Err(give_up_network(engine, env, name, id, &first).await);
        }
        _ if same.len() <= 1 => return Ok(()),
        _ => {}
    }
    let filters = HashMap::from([
        ("type", vec!["network".to_string()]),
        ("event", vec!["destroy".to_string()]),
        ("network", vec![name.to_string()]),
    ]);
    let mut destroyed = engine.docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    let alone = async {
        loop {
            // Listed after subscribing, so a removal in between is seen.
            let same = networks_named(engine, name).await?;
            if same.len() <= 1 {
                return Ok(None);
            }
            if destroyed.next().await.is_none() {
                return Ok(same.into_iter().find(|n| n.id.as_deref() != Some(id)));
            }
        }
    };
    match tokio::time::timeout(DUPLICATE_GRACE, alone).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(Some(other))) => Err(give_up_network(engine, env, name, id, &other).await),
        Err(_) => {
            let same = networks_named(engine, name).await?;
            match same.iter().find(|n| n.id.as_deref() != Some(id)) {
                Some(other) => Err(give_up_network(engine, env, name, id, other).await),
                None => Ok(()),
            }
        }
    }
}

/// Removes the network `id` mono just made, because `other` holds its name.
async fn give_up_network(
    engine: &Engine,
    env: EnvLabels<'_>,
    name: &str,
    id: &str,
    other: &Network,
) -> EngineError {
    if let Err(e) = engine.docker.remove_network(id).await {
        return EngineError::api(format!("remove the second network named {name}"))(e);
    }
    not_ours(env, "network", name, other.labels.as_ref())
}

async fn create_volumes(
    engine: &Engine,
    plan: &Plan,
    env: EnvLabels<'_>,
    progress: &Progress,
) -> Result<(), EngineError> {
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
        create_volume(engine, env, vol).await?;
        progress.step(format!("created volume {}", vol.name));
    }
    Ok(())
}

/// Creates one of the plan's volumes (not an external one), or finds it
/// made already by this environment.
pub async fn create_volume(engine: &Engine, env: EnvLabels<'_>, vol: &VolumePlan) -> Result<(), EngineError> {
    let request = VolumeCreateRequest {
        name: Some(vol.name.clone()),
        driver: vol.driver.clone(),
        driver_opts: Some(vol.driver_opts.clone().into_iter().collect()),
        labels: Some(vol.labels.clone().into_iter().collect()),
        ..Default::default()
    };
    let volume = engine
        .docker
        .create_volume(request)
        .await
        .map_err(EngineError::api(format!("create volume {}", vol.name)))?;
    // The Engine answers a create of a taken name with the existing
    // volume: one made since `check_names` looked.
    if !env.owns(Some(&volume.labels)) {
        return Err(not_ours(env, "volume", &vol.name, Some(&volume.labels)));
    }
    Ok(())
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

async fn create_container(
    engine: &Engine,
    env: EnvLabels<'_>,
    s: &ServicePlan,
    network_ids: &HashMap<String, String>,
) -> Result<(), EngineError> {
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
            let id = network_ids.get(net).cloned().unwrap_or_else(|| net.clone());
            // With the id in the endpoint, the Engine finds the network by
            // id at every start, not by its name.
            let endpoint = EndpointSettings {
                aliases: Some(aliases.clone()),
                links: (!s.links.is_empty()).then(|| s.links.clone()),
                network_id: Some(id.clone()),
                ..Default::default()
            };
            (id, endpoint)
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
        // Whole seconds for the Engine; a fraction rounds up, never to less grace.
        stop_timeout: s.stop_grace_period.map(|d| d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0)),
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
    match engine.docker.create_container(Some(options), body).await {
        Ok(_) => {}
        Err(e) if is_conflict(&e) => {
            let labels = engine
                .docker
                .inspect_container(&s.container_name, None)
                .await
                .ok()
                .and_then(|c| c.config?.labels);
            return Err(not_ours(env, "container", &s.container_name, labels.as_ref()));
        }
        Err(e) => {
            return Err(EngineError::api(format!(
                "create container {} for service {}",
                s.container_name, s.name
            ))(e));
        }
    }
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
    write_files(engine, s).await
}

/// Writes the service's `content:` and `environment:` configs into its
/// created container, as compose does before it starts one: a tar unpacked
/// at `/`, each file with its mode and owner (the owner applied only when
/// the compose file sets one, as compose asks the engine).
async fn write_files(engine: &Engine, s: &ServicePlan) -> Result<(), EngineError> {
    if s.files.is_empty() {
        return Ok(());
    }
    let failed = |e: std::io::Error| EngineError::Image {
        service: s.name.clone(),
        what: "configs".into(),
        message: e.to_string(),
    };
    let mut tar = tar::Builder::new(Vec::new());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for file in &s.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.content.len() as u64);
        header.set_mode(file.mode);
        header.set_uid(u64::from(file.uid));
        header.set_gid(u64::from(file.gid));
        header.set_mtime(now);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, file.target.trim_start_matches('/'), file.content.as_bytes())
            .map_err(failed)?;
    }
    let tar = tar.into_inner().map_err(failed)?;
    let owned = s.files.iter().any(|f| f.uid != 0 || f.gid != 0);
    let mut options = UploadToContainerOptionsBuilder::new().path("/");
    if owned {
        options = options.copy_uidgid("true");
    }
    engine
        .docker
        .upload_to_container(&s.container_name, Some(options.build()), bollard::body_full(tar.into()))
        .await
        .map_err(EngineError::api(format!(
            "write the configs of service {} into {}",
            s.name, s.container_name
        )))
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
    // This environment's containers only: another home's of the same
    // project name say nothing about ours.
    let env = EnvLabels { home: &plan.home, project: &plan.project };
    let mut filters = env.filters();
    filters.insert("type", vec!["container".to_string()]);
    let mut events = engine.docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    let services: HashMap<&str, &ServicePlan> = plan.services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut waiting: Vec<&ServicePlan> = plan.services.iter().collect();
    let mut starting: JoinSet<(String, Result<(), bollard::errors::Error>)> = JoinSet::new();
    // Early health probes ([`probe`]) of the started services that have a
    // check and are not yet healthy; dropped with this function.
    let mut probes: JoinSet<(String, bool)> = JoinSet::new();
    let mut probing: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
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
        for s in &plan.services {
            let st = seen.get(&s.name);
            if st.is_some_and(|st| st.started && !st.healthy && !st.unhealthy && st.exit_code.is_none())
                && !probing.contains_key(&s.name)
                && let Some(check) = s.healthcheck.clone().filter(|c| probe::argv(c).is_some())
            {
                let (docker, name, container) =
                    (engine.docker.clone(), s.name.clone(), s.container_name.clone());
                let handle =
                    probes.spawn(async move { (name, probe::until_passes(docker, container, check).await) });
                probing.insert(s.name.clone(), handle);
            }
        }
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
            Some(joined) = probes.join_next(), if !probes.is_empty() => {
                if let Ok((name, true)) = joined {
                    let entry = seen.entry(name.clone()).or_default();
                    if !entry.healthy && !entry.unhealthy && entry.exit_code.is_none() {
                        entry.healthy = true;
                        progress.step(format!("{name} is healthy"));
                    }
                }
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
                    "health_status: healthy" => {
                        if let Some(probe) = probing.get(&service) { probe.abort(); }
                        if !entry.healthy { progress.step(format!("{service} is healthy")); }
                        entry.healthy = true;
                        entry.unhealthy = false;
                    }
                    "health_status: unhealthy" => {
                        if let Some(probe) = probing.get(&service) { probe.abort(); }
                        entry.healthy = false;
                        entry.unhealthy = true;
                    }
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
