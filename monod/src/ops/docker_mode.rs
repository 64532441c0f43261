//! The docker-mode steps of init and destroy: find and check the compose
//! file before anything exists, plan it for the environment's slot, bring
//! it up, take it down, and say what is left when that could not finish.
//!
//! The compose files are picked as compose picks them ([`find`]).
//! Interpolation sees, in increasing precedence, the `.env` compose would
//! read, the caller's environment, and mono's variables (`MONO_ENV_*`,
//! `MONO_DATA_DIR` and the `MONO_<SERVICE>_PORT*` variables of the plan),
//! so a compose file may use `${MONO_DATA_DIR}` or another service's port;
//! `COMPOSE_PROJECT_NAME` is the environment's project name, `mono-<env>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mono_proto::CallerEnv;
use mono_proto::paths::normalise;
use tokio_util::sync::CancellationToken;

use super::OpError;
use crate::config::MonoConfig;
use crate::docker::{self, Endpoint, Engine, EngineError, EnvLabels};
use crate::logs::progress::Progress;
use mono_compose::{Plan, PlanSettings};

/// The compose files of a docker-mode workspace, as compose would pick
/// them, and what goes with them.
#[derive(Debug, Clone)]
pub(super) struct ComposeFiles {
    /// The files, merged in order.
    pub files: Vec<PathBuf>,
    /// Where the `.env` for interpolation is: the project directory (the
    /// first file's folder) when mono.yml names the files, as with compose's
    /// `-f`; the workspace otherwise, as compose reads its working folder's.
    pub dotenv_dir: PathBuf,
    /// `COMPOSE_PROFILES`, used when mono.yml lists no profiles.
    pub env_profiles: Vec<String>,
}

/// The compose files of a workspace, if it has some. In order of
/// precedence: mono.yml's `compose.files` or `compose.file` (like
/// compose's `-f`); else `COMPOSE_FILE` from the caller's environment, else
/// from the workspace's `.env` (split at `COMPOSE_PATH_SEPARATOR`, `:` by
/// default); else the first of compose's file names in the workspace and
/// the override file beside it (`compose.override.yaml`...), merged over it
/// as compose does.
pub(super) fn find(
    ws: &Path,
    config: &MonoConfig,
    caller: &CallerEnv,
) -> Result<Option<ComposeFiles>, OpError> {
    let exists = |rel: &str, from: &str| -> Result<PathBuf, OpError> {
        let path = normalise(&ws.join(rel));
        if path.is_file() {
            Ok(path)
        } else {
            Err(OpError::InvalidPath {
                path: path.display().to_string(),
                reason: format!("{from} names no file"),
            })
        }
    };
    let explicit = match (&config.compose.files, &config.compose.file) {
        (Some(files), _) => Some(("compose.files", files.clone())),
        (None, Some(file)) => Some(("compose.file", vec![file.clone()])),
        (None, None) => None,
    };
    let (files, dotenv_dir, dotenv) = match explicit {
        Some((key, list)) => {
            let from = format!("{key} in {}", config.file_for_messages());
            let files = list.iter().map(|rel| exists(rel, &from)).collect::<Result<Vec<_>, _>>()?;
            let dir = files[0].parent().map_or_else(|| ws.to_path_buf(), Path::to_path_buf);
            let dotenv = read_dotenv_of(&dir)?;
            (files, dir, dotenv)
        }
        None => {
            let dotenv = read_dotenv_of(ws)?;
            let setting =
                |name: &str| caller.get(name).or_else(|| dotenv.get(name)).filter(|v| !v.is_empty());
            let files = match setting("COMPOSE_FILE") {
                Some(value) => {
                    let from = if caller.contains_key("COMPOSE_FILE") {
                        "COMPOSE_FILE (from the caller's environment)".to_string()
                    } else {
                        format!("COMPOSE_FILE (from {})", ws.join(".env").display())
                    };
                    let separator = setting("COMPOSE_PATH_SEPARATOR").map_or(":", String::as_str);
                    value
                        .split(separator)
                        .filter(|f| !f.is_empty())
                        .map(|rel| exists(rel, &from))
                        .collect::<Result<Vec<_>, _>>()?
                }
                None => Vec::new(),
            };
            let files = if files.is_empty() {
                let Some(main) = mono_compose::find(ws) else { return Ok(None) };
                let over = mono_compose::find_override(&main);
                std::iter::once(main).chain(over).collect()
            } else {
                files
            };
            (files, ws.to_path_buf(), dotenv)
        }
    };
    let env_profiles = caller
        .get("COMPOSE_PROFILES")
        .or_else(|| dotenv.get("COMPOSE_PROFILES"))
        .map(|v| v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Some(ComposeFiles { files, dotenv_dir, env_profiles }))
}

/// The variables of `dir`'s `.env`, if it has one.
fn read_dotenv_of(dir: &Path) -> Result<BTreeMap<String, String>, OpError> {
    let path = dir.join(".env");
    if path.is_file() {
        Ok(mono_compose::read_dotenv(&path)?.into_iter().collect())
    } else {
        Ok(BTreeMap::new())
    }
}

/// A docker-mode workspace: its folder, compose files, settings and caller.
pub(super) struct ComposeWorkspace<'a> {
    /// The workspace folder.
    pub dir: &'a Path,
    /// Its compose files.
    pub files: &'a ComposeFiles,
    /// Its `mono.yml`.
    pub config: &'a MonoConfig,
    /// The caller's environment.
    pub caller: &'a CallerEnv,
    /// monod's home, labelled on every object.
    pub home: &'a Path,
}

impl ComposeWorkspace<'_> {
    /// Variables for interpolation: `.env`, then the caller's, then `mono`.
    fn variables(&self, mono: &[(String, String)]) -> Result<BTreeMap<String, String>, OpError> {
        let mut vars = read_dotenv_of(&self.files.dotenv_dir)?;
        vars.extend(self.caller.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.extend(mono.iter().cloned());
        Ok(vars)
    }

    /// Loads and plans the file for `project` in `slot`.
    fn plan_with(
        &self,
        vars: &BTreeMap<String, String>,
        project: &str,
        slot: u32,
    ) -> Result<(Plan, Vec<String>), OpError> {
        // Compose sets it to the project's name for interpolation.
        let mut vars = vars.clone();
        vars.insert("COMPOSE_PROJECT_NAME".to_string(), project.to_string());
        let lookup = |name: &str| vars.get(name).cloned();
        let loaded = mono_compose::load_files(&self.files.files, &lookup)?;
        let profiles = if self.config.compose.profiles.is_empty() {
            self.files.env_profiles.clone()
        } else {
            self.config.compose.profiles.clone()
        };
        let settings = PlanSettings {
            project: project.to_string(),
            home: self.home.display().to_string(),
            slot,
            host_ip: self.config.compose.host_ip.clone(),
            profiles,
            workspace: self.dir.to_path_buf(),
            vars,
        };
        let plan = mono_compose::plan(&loaded, &settings)?;
        Ok((plan, loaded.warnings.clone()))
    }

    /// Checks that the file loads and plans, before the environment exists;
    /// returns the `MONO_<SERVICE>_PORT*` variables it will define (their
    /// values those of slot 1).
    pub(super) fn check(&self) -> Result<Plan, OpError> {
        let placeholders: Vec<(String, String)> =
            ["MONO_ENV_NAME", "MONO_ENV_ID", "MONO_ENV_PATH", "MONO_DATA_DIR"]
                .iter()
                .map(|k| (k.to_string(), "mono".to_string()))
                .collect();
        let vars = self.variables(&placeholders)?;
        let (plan, _) = self.plan_with(&vars, "mono-check", 1)?;
        Ok(plan)
    }

    /// The environment's plan, its `MONO_<SERVICE>_PORT*` variables and the
    /// load's warnings.
    #[allow(clippy::type_complexity)]
    ///
    /// Planned twice: ports do not depend on variables, so the first pass
    /// gives the port variables the second pass may interpolate.
    fn plan(
        &self,
        mono: &[(String, String)],
        project: &str,
        slot: u32,
    ) -> Result<(Plan, Vec<(String, String)>, Vec<String>), OpError> {
        let mut vars = self.variables(mono)?;
        let (first, _) = self.plan_with(&vars, project, slot)?;
        let ports = mono_compose::port_vars(&first);
        vars.extend(ports.iter().cloned());
        let (plan, load_warnings) = self.plan_with(&vars, project, slot)?;
        Ok((plan, ports, load_warnings))
    }
}

/// A docker-mode workspace with its inputs owned, to plan it off the async
/// threads.
pub(super) struct OwnedWorkspace {
    /// The workspace folder.
    pub dir: PathBuf,
    /// Its compose files.
    pub files: ComposeFiles,
    /// Its `mono.yml`.
    pub config: MonoConfig,
    /// The caller's environment.
    pub caller: CallerEnv,
    /// monod's home.
    pub home: PathBuf,
}

impl OwnedWorkspace {
    /// Plans the file for `project` in `slot` (see [`ComposeWorkspace::plan`])
    /// on a blocking thread, then reports its warnings and ports.
    pub(super) async fn plan(
        self,
        mono: Vec<(String, String)>,
        project: String,
        slot: u32,
        progress: &Progress,
    ) -> Result<(Plan, Vec<(String, String)>), OpError> {
        let host_ip = self.config.compose.host_ip.clone();
        let (plan, ports, load_warnings) = tokio::task::spawn_blocking(move || {
            let ws = ComposeWorkspace {
                dir: &self.dir,
                files: &self.files,
                config: &self.config,
                caller: &self.caller,
                home: &self.home,
            };
            ws.plan(&mono, &project, slot)
        })
        .await
        .map_err(|e| OpError::Internal { op: "init", detail: e.to_string() })??;
        for w in load_warnings.iter().chain(&plan.warnings) {
            progress.step(format!("warning: {w}"));
        }
        for p in &plan.ports {
            progress.step(format!(
                "port {}:{}/{} -> {}:{}",
                p.service,
                p.container_port,
                p.protocol.as_str(),
                host_ip,
                p.host_port
            ));
        }
        Ok((plan, ports))
    }
}

/// Connects to the Engine at `at` for the environment `env`.
pub(super) async fn connect(env: &str, at: &Endpoint) -> Result<Engine, OpError> {
    Engine::connect(at).await.map_err(|source| OpError::Docker { env: env.to_string(), source })
}

/// Checks that no object that is not this environment's holds a name the
/// plan needs; nothing is created yet.
pub(super) async fn check(env: &str, engine: &Engine, plan: &Plan) -> Result<(), OpError> {
    docker::check_names(engine, plan).await.map_err(|source| OpError::Docker { env: env.to_string(), source })
}

/// Pulls or builds the plan's images; returns what each build did.
pub(super) async fn images(
    env: &str,
    engine: &Engine,
    plan: &Plan,
    progress: &Progress,
) -> Result<Vec<docker::images::ImageUse>, OpError> {
    docker::images::ensure(engine, plan, progress)
        .await
        .map_err(|source| OpError::Docker { env: env.to_string(), source })
}

/// Creates and starts the plan's services (its images made by [`images`]).
pub(super) async fn up(
    env: &str,
    engine: &Engine,
    plan: &Plan,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<(), OpError> {
    let docker_err = |source| OpError::Docker { env: env.to_string(), source };
    progress.step(format!(
        "starting {} service(s) of {} ({})",
        plan.services.len(),
        plan.project,
        engine.endpoint
    ));
    match docker::apply(engine, plan, progress, cancel).await {
        Ok(()) => Ok(()),
        Err(EngineError::Cancelled) => Err(OpError::Cancelled { env: env.to_string(), op: "init" }),
        Err(e) => Err(docker_err(e)),
    }
}

/// Removes everything of the environment's project in `home` on the
/// Engine at `at` (as recorded with the environment); running containers
/// get `grace` to stop (`compose.destroy_grace`) unless their service sets
/// `stop_grace_period`.
pub(super) async fn down(
    env: &str,
    project: &str,
    home: &Path,
    at: &Endpoint,
    grace: std::time::Duration,
    progress: &Progress,
) -> Result<(), OpError> {
    let docker_err = |source| OpError::Docker { env: env.to_string(), source };
    let engine = Engine::connect(at).await.map_err(docker_err)?;
    let home = home.display().to_string();
    docker::teardown(&engine, EnvLabels { home: &home, project }, grace, progress).await.map_err(docker_err)
}

/// What is left of the project in `home`, as the Engine tells it, for a
/// failed environment's record: `None` when nothing is. `failure` is why a
/// teardown stopped, if it did.
pub(super) async fn left_after(
    project: &str,
    home: &Path,
    at: &Endpoint,
    failure: Option<&OpError>,
) -> Option<String> {
    let home = home.display().to_string();
    let listed =
        async { docker::leftovers(&Engine::connect(at).await?, EnvLabels { home: &home, project }).await };
    match listed.await {
        Ok(left) if left.is_empty() => None,
        Ok(left) => {
            let why =
                failure.map_or_else(|| "still there after the teardown".to_string(), ToString::to_string);
            Some(format!("{} of {project} ({why})", left.join(", ")))
        }
        Err(EngineError::Unreachable { endpoint, .. }) => Some(format!(
            "the containers, networks and volumes of {project} (not checked: Docker did not answer at {endpoint})"
        )),
        Err(e) => Some(format!("the containers, networks and volumes of {project} (not checked: {e})")),
    }
}

/// The plan `mono init` makes of the workspace `dir` for environment `name`
/// in `slot`, and the load's warnings: no engine, no state, nothing
/// written. For comparing mono's reading of a compose project with
/// compose's own (the corpus test) and for tools; errors are init's.
pub fn plan_offline(
    dir: &Path,
    caller: &CallerEnv,
    name: &str,
    slot: u32,
    home: &Path,
) -> Result<(Plan, Vec<String>), OpError> {
    let config = MonoConfig::load(dir)?;
    let files = find(dir, &config, caller)?.ok_or_else(|| OpError::InvalidPath {
        path: dir.display().to_string(),
        reason: "no compose file here (compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml)"
            .into(),
    })?;
    let ws = ComposeWorkspace { dir, files: &files, config: &config, caller, home };
    let data_dir = home.join("data").join(name);
    let path = dir.display().to_string();
    let mono =
        crate::vars::MonoVars { name, id: slot, path: &path, data_dir: &data_dir, ports: &[], urls: &[] }
            .pairs();
    let (plan, _, warnings) = ws.plan(&mono, &format!("mono-{name}"), slot)?;
    Ok((plan, warnings))
}

/// What the router reaches in the environment of `plan`: each service's
/// first published TCP port, and the service its own name leads to
/// (`router.default`, checked before anything was made, else the only
/// service with a port).
pub fn routes(plan: &Plan, default: Option<&str>) -> crate::state::Routes {
    let mut services: Vec<(String, u16)> = Vec::new();
    for s in &plan.services {
        let first = plan
            .ports
            .iter()
            .find(|p| p.service == s.name && p.protocol == mono_compose::Protocol::Tcp)
            .map(|p| p.host_port);
        if let Some(port) = first {
            services.push((s.name.clone(), port));
        }
    }
    let default = match default {
        Some(d) => Some(d.to_string()),
        None if services.len() == 1 => Some(services[0].0.clone()),
        None => None,
    };
    crate::state::Routes { services, default }
}
