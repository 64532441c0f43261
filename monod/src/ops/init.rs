//! `mono init`: register, data directory, init script, setup script, tmux
//! session. The row is committed first so nothing is ever created that the
//! state does not know of; any failure undoes every step already done, so
//! fixing the cause and running init again works.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use mono_proto::{CallerEnv, EnvInfo, Mode, event_kinds};

use super::docker_mode::{self, ComposeWorkspace};
use super::error::Leftover;
use super::teardown::{Parts, Stopped};
use super::workspace;
use super::{OpError, Ops};
use crate::config::MonoConfig;
use crate::docker::Endpoint;
use crate::docker::cli_config::DockerVars;
use crate::docker::credentials::Logins;
use crate::logs::progress::Progress;
use crate::script::Outcome;
use crate::state::{EnvRow, NewEnv, Phase, Routes, StateError};
use crate::vars::{self, MonoVars};
use crate::{crashpoint, names, ports, tmux};

/// The input of an init, checked.
struct Checked {
    config: MonoConfig,
    compose_file: Option<docker_mode::ComposeFiles>,
    /// Docker mode: the Engine the caller's environment leads to.
    endpoint: Option<Endpoint>,
    derived: names::DerivedName,
}

impl Ops {
    /// Sets up the environment of the workspace at `path`.
    pub async fn init(
        self: &Arc<Self>,
        path: String,
        caller: CallerEnv,
        op_id: Option<String>,
    ) -> Result<EnvInfo, OpError> {
        self.spawn("init", move |ops| async move { ops.init_task(&path, &caller, op_id.as_deref()).await })
            .await
    }

    async fn init_task(
        self: &Arc<Self>,
        raw: &str,
        caller: &CallerEnv,
        op_id: Option<&str>,
    ) -> Result<EnvInfo, OpError> {
        let mut progress = self.progress("mono", op_id);
        let result = self.init_with(raw, caller, op_id, &mut progress).await;
        progress.finish().await;
        result
    }

    async fn init_with(
        self: &Arc<Self>,
        raw: &str,
        caller: &CallerEnv,
        op_id: Option<&str>,
        progress: &mut Progress,
    ) -> Result<EnvInfo, OpError> {
        let ws = workspace::existing_dir(raw)?;
        let own_home = std::env::var("HOME").unwrap_or_default();
        let homes = [own_home.as_str(), caller.get("HOME").map_or("", String::as_str)];
        workspace::check_allowed(raw, &ws, self.home.root(), &homes)?;
        let ws_str = ws.to_string_lossy().into_owned();
        let _guard = self.claim(&ws_str, "init")?;

        // Everything that can be checked is checked before anything exists.
        if let Some(row) = self.store.by_path(&ws_str).await? {
            return Err(OpError::AlreadyRegistered { path: ws_str, name: row.name });
        }
        let Checked { config, compose_file, endpoint, derived } = self.check_input(&ws, caller).await?;
        let config = &config;
        let registered = self
            .store
            .register(
                NewEnv {
                    path: ws_str.clone(),
                    project: derived.project,
                    workspace: derived.workspace,
                    mode: if compose_file.is_some() { Mode::Docker } else { Mode::Simple },
                    docker_endpoint: endpoint.as_ref().map(Endpoint::to_json),
                },
                ports::listening::first_unbindable,
                self.first_slot,
            )
            .await
            .map_err(|e| match e {
                StateError::NoFreeSlot { max, blocked } => {
                    OpError::Capacity { path: ws_str.clone(), max, blocked }
                }
                StateError::PathTaken { path, name } => OpError::AlreadyRegistered { path, name },
                e => e.into(),
            })?;
        let row = registered.row;
        crashpoint::reached("init.registered");
        progress.set_env(&row.name);
        progress.step(format!("mono init {ws_str}"));
        report_skipped(&registered.skipped, progress).await;
        let mode = if row.mode == Mode::Docker { "docker" } else { "simple" };
        self.events
            .emit(
                Some(&row.name),
                event_kinds::ENV_CREATED,
                serde_json::json!({"id": row.id, "path": row.path, "mode": mode}),
            )
            .await;
        let base = crate::ports::block_start(row.id);
        progress.step(format!("registered as {} (id {}, ports {}-{})", row.name, row.id, base, base + 99));

        let mut made = Parts::default();
        match self.init_steps(&row, &ws, config, compose_file.as_ref(), caller, progress, &mut made).await {
            Ok(routes) => {
                self.store.set_phase(row.id, Phase::Ready).await?;
                progress.step("ready");
                let sessions = HashSet::from([mono_proto::paths::session_name(&row.name)]);
                let info = self.info(&EnvRow { phase: Phase::Ready, routes, ..row }, &sessions);
                let mut data = serde_json::to_value(&info).unwrap_or_default();
                data["op"] = serde_json::json!(op_id);
                self.events.emit(Some(&info.name), event_kinds::ENV_READY, data).await;
                Ok(info)
            }
            Err(e) => {
                progress.step(format!("init failed: {e}"));
                let left = self.roll_back(&row, &made, &e, progress).await;
                let e = OpError::RolledBack { cause: Box::new(e), path: super::shell_quote(&row.path), left };
                let data = serde_json::json!({"error": e.to_string(), "op": op_id});
                self.events.emit(Some(&row.name), event_kinds::ENV_FAILED, data).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn init_steps(
        self: &Arc<Self>,
        row: &EnvRow,
        ws: &Path,
        config: &MonoConfig,
        compose_file: Option<&docker_mode::ComposeFiles>,
        caller: &CallerEnv,
        progress: &Progress,
        made: &mut Parts,
    ) -> Result<Routes, OpError> {
        let data_dir = self.home.data_dir(&row.name);
        // Never through a link planted there (it is left for `mono gc`).
        self.home
            .private_dir(&[mono_proto::paths::DATA_DIR, &row.name])
            .map_err(|source| OpError::io(&row.name, "create", &data_dir, source))?;
        made.data = true;
        progress.step("created data directory");
        crashpoint::reached("init.data-dir");
        let mut cache = self.restore_caches(&row.name, ws, config, progress).await?;
        made.restored = cache.restored.clone();

        let base = MonoVars {
            name: &row.name,
            id: row.id,
            path: &row.path,
            data_dir: &data_dir,
            ports: &[],
            urls: &[],
        };
        let planned = match (compose_file, &row.docker_project) {
            (Some(files), Some(project)) => {
                let workspace = docker_mode::OwnedWorkspace {
                    dir: ws.to_path_buf(),
                    files: files.clone(),
                    config: config.clone(),
                    caller: caller.clone(),
                    home: self.home.root().to_path_buf(),
                };
                Some(workspace.plan(base.pairs(), project.clone(), row.id, progress).await?)
            }
            _ => None,
        };
        let mut row = row.clone();
        if let Some((plan, _)) = &planned {
            row.routes = docker_mode::routes(plan, config.router.default.as_deref());
            self.store.set_routes(row.id, &row.routes).await?;
        }
        let row = &row;
        let urls = self.url_vars(row);
        let ports = planned.as_ref().map(|(_, ports)| ports.as_slice()).unwrap_or(&[]);
        let mono = MonoVars { ports, urls: &urls, ..base };
        let mut env = vars::environment(caller, &mono, config).map_err(|e| OpError::Interpolate {
            file: config.file_for_messages(),
            key: e.key,
            source: e.source,
        })?;
        env.push(("MONO_CACHE".to_string(), cache.state().to_string()));

        if cache.all_hit() && config.scripts.init.is_some() {
            progress.step("init script skipped: every cache entry was restored (MONO_CACHE=hit)");
        } else {
            self.required_script(row, "init", config.scripts.init.as_deref(), ws, &env, config, progress)
                .await?;
        }
        self.save_caches(&row.name, ws, &mut cache);
        let docker = match &planned {
            Some((plan, _)) => {
                let at = super::teardown::endpoint_of(row)?;
                let logins = Logins::of(&DockerVars::of_caller(caller));
                let engine = docker_mode::connect(&row.name, &at).await?.with_logins(logins);
                docker_mode::check(&row.name, &engine, plan).await?;
                made.docker = true;
                let builds = docker_mode::images(&row.name, &engine, plan, progress).await?;
                self.record_images(&builds).await;
                Some((engine, plan))
            }
            None => None,
        };
        let docker = docker.as_ref().map(|(engine, plan)| (engine, *plan));
        let seed = self.restore_seed(row, ws, config, docker, progress).await?;
        made.restored.extend(seed.restored.iter().cloned());
        env.push(("MONO_SEED".to_string(), seed.state.to_string()));
        if let Some((engine, plan)) = docker {
            docker_mode::up(&row.name, engine, plan, progress, &self.shutdown).await?;
            let ports: Vec<(u16, &str)> =
                plan.ports.iter().map(|p| (p.host_port, p.protocol.as_str())).collect();
            self.forward_ports(&row.name, &engine.at, &ports, progress).await?;
        }
        self.required_script(row, "setup", config.scripts.setup.as_deref(), ws, &env, config, progress)
            .await?;
        if let Some(settings) = &config.seed {
            self.capture_seed(row, ws, settings, &seed, docker, progress).await?;
        }
        crashpoint::reached("init.scripts-done");

        let session = mono_proto::paths::session_name(&row.name);
        self.monitor.add(&row.name, config.activity.idle_after).map_err(|e| match e {
            crate::logs::monitor::MonitorError::Dir { path, source } => {
                OpError::io(&row.name, "create", &path, source)
            }
            e => OpError::Monitor { env: row.name.clone(), detail: e.to_string() },
        })?;
        made.logs = true;
        let limits = crate::logs::capture::Limits::of(&config.logs);
        let capture = self.monitor.capture_command(&row.name, limits);
        let shell = login_shell(caller);
        let protected = protected_names(config);
        let home = self.home.root().display().to_string();
        let spec = tmux::SessionSpec {
            name: &session,
            env: &env,
            protected: &protected,
            shell: &shell,
            capture: &capture,
            home: &home,
        };
        let left_out = tmux::new_session(&spec, ws)
            .await
            .map_err(|source| OpError::Tmux { env: row.name.clone(), source })?;
        made.session = true;
        crashpoint::reached("init.session");
        if !left_out.is_empty() {
            progress.step(format!(
                "warning: left out of the tmux session (too large for one tmux command): {}",
                name_some(&left_out)
            ));
        }
        progress.step(format!(
            "created tmux session {session}, output kept in {}",
            self.monitor.dir_of(&row.name).display()
        ));
        Ok(row.routes.clone())
    }

    /// Reads and checks the workspace's input (`mono.yml`, the compose
    /// file, the session's variables) before anything exists. Parsing is
    /// CPU work, bounded by the files' size limits, so it runs off the async
    /// threads: the daemon keeps serving and can shut down meanwhile.
    async fn check_input(self: &Arc<Self>, ws: &Path, caller: &CallerEnv) -> Result<Checked, OpError> {
        let (ops, ws, caller) = (self.clone(), ws.to_path_buf(), caller.clone());
        tokio::task::spawn_blocking(move || ops.check_input_now(&ws, &caller))
            .await
            .map_err(|e| OpError::Internal { op: "init", detail: e.to_string() })?
    }

    fn check_input_now(&self, ws: &Path, caller: &CallerEnv) -> Result<Checked, OpError> {
        let config = MonoConfig::load(ws)?;
        check_env(&config)?;
        let compose_file = docker_mode::find(ws, &config, caller)?;
        check_seed(&config, compose_file.is_some())?;
        let plan = match &compose_file {
            Some(files) => Some(
                ComposeWorkspace { dir: ws, files, config: &config, caller, home: self.home.root() }
                    .check()?,
            ),
            None => None,
        };
        let ports = plan.as_ref().map(mono_compose::port_vars).unwrap_or_default();
        // Where the Engine is: the context mono.yml pins, else as `docker`
        // would find it in the caller's shell.
        let endpoint = match &plan {
            Some(plan) => {
                let vars = DockerVars::of_caller(caller);
                let at = match &config.compose.context {
                    Some(name) => Endpoint::pinned(&vars, name),
                    None => Endpoint::resolve(&vars),
                }
                .map_err(|e| OpError::Docker { env: ws.display().to_string(), source: e.into() })?;
                super::forwards::check_remote(&at, plan)?;
                Some(at)
            }
            None => None,
        };
        let derived = names::derive(ws, caller);
        check_router(&config, compose_file.is_some(), &ports)?;
        self.check_session_fits(ws, &config, caller, &derived.joined(), compose_file.is_none(), &ports)?;
        Ok(Checked { config, compose_file, endpoint, derived })
    }

    /// Fails an environment whose protected variables (`PATH`, `MONO_*`,
    /// `mono.yml`'s `env:`) cannot fit its tmux session, naming the limit and
    /// the largest. Its name, slot and ports are not known yet, so this takes
    /// the longest they can be: what passes here fits at session time.
    fn check_session_fits(
        &self,
        ws: &Path,
        config: &MonoConfig,
        caller: &CallerEnv,
        derived: &str,
        simple: bool,
        ports: &[(String, String)],
    ) -> Result<(), OpError> {
        let name = format!("{derived}-9999");
        let data_dir = self.home.data_dir(&name);
        let path = ws.to_string_lossy();
        let mut urls = Vec::new();
        if self.router_port.is_some() {
            let longest = |service: &str| {
                crate::router::host::url(&name, Some(&format!("{service}{}", "x".repeat(63))), u16::MAX)
            };
            urls.push(("MONO_URL".to_string(), longest("")));
            for (k, _) in ports {
                if let Some(stem) = k.strip_suffix("_PORT") {
                    urls.push((format!("{stem}_URL"), longest(stem)));
                }
            }
        }
        if simple {
            urls.push(("MONO_PORT".to_string(), "65535".to_string()));
        }
        let ports: Vec<(String, String)> =
            ports.iter().map(|(k, _)| (k.clone(), "65535".to_string())).collect();
        let mono = MonoVars {
            name: &name,
            id: crate::ports::MAX_SLOT * 10,
            path: &path,
            data_dir: &data_dir,
            ports: &ports,
            urls: &urls,
        };
        let mut env = vars::environment(caller, &mono, config).map_err(|e| OpError::Interpolate {
            file: config.file_for_messages(),
            key: e.key,
            source: e.source,
        })?;
        env.push(("MONO_CACHE".to_string(), "partial".to_string()));
        env.push(("MONO_SEED".to_string(), "miss".to_string()));
        let limits = crate::logs::capture::Limits::of(&config.logs);
        let (shell, protected) = (login_shell(caller), protected_names(config));
        let spec = tmux::SessionSpec {
            name: &mono_proto::paths::session_name(&name),
            env: &env,
            protected: &protected,
            shell: &shell,
            capture: &self.monitor.capture_command(&name, limits),
            home: &self.home.root().display().to_string(),
        };
        spec.fit()
            .map(drop)
            .map_err(|source| OpError::EnvTooLarge { file: config.file_for_messages(), source })
    }

    /// Runs an init-time script, if set; anything but exit 0 fails init.
    #[allow(clippy::too_many_arguments)]
    async fn required_script(
        &self,
        row: &EnvRow,
        kind: &'static str,
        script: Option<&str>,
        ws: &Path,
        env: &[(String, String)],
        config: &MonoConfig,
        progress: &Progress,
    ) -> Result<(), OpError> {
        let Some(script) = script else { return Ok(()) };
        match self.run_script(&row.name, kind, script, ws, env, progress).await? {
            o if o.success() => Ok(()),
            Outcome::Cancelled => Err(OpError::Cancelled { env: row.name.clone(), op: "init" }),
            outcome => Err(OpError::ScriptFailed {
                env: row.name.clone(),
                script: kind,
                outcome,
                file: config.file_for_messages(),
            }),
        }
    }

    /// Undoes what a failed init made: the teardown of the [`Parts`] it
    /// made. The row goes only when nothing is left (the Docker objects as
    /// the Engine lists them afterwards); otherwise it is kept, `failed`,
    /// with what is left, which is returned.
    async fn roll_back(
        &self,
        row: &EnvRow,
        made: &Parts,
        cause: &OpError,
        progress: &Progress,
    ) -> Option<Leftover> {
        let mut warnings = Vec::new();
        let Err(Stopped { cause: stopped, left }) = self.tear_down(row, made, progress, &mut warnings).await
        else {
            progress.step("rolled back: nothing was left behind");
            return None;
        };
        progress.step(format!(
            "rollback incomplete ({stopped}), the environment is kept as failed; left: {left}"
        ));
        let failure = format!("init failed: {cause}. Its rollback could not remove: {left} ({stopped})");
        if let Err(e) = self.store.set_failed(row.id, failure).await {
            progress.step(format!("cannot record the failure: {e}"));
        }
        Some(Leftover { what: left, kept: true })
    }
}

/// Says which slots were passed over and who holds their ports.
async fn report_skipped(skipped: &[(u32, u16)], progress: &Progress) {
    if skipped.is_empty() {
        return;
    }
    let taken = skipped.iter().map(|(_, port)| *port).collect();
    let holders =
        tokio::task::spawn_blocking(move || ports::listening::holders(&taken)).await.unwrap_or_default();
    for (slot, port) in skipped {
        let block = ports::block(*slot);
        progress.step(format!(
            "ports {}-{} (slot {slot}) passed over: port {port} is in use by {}",
            block.start(),
            block.end(),
            ports::listening::describe(holders.get(port))
        ));
    }
}

/// Fails early on `env:` entries that can never expand (bad syntax), before
/// anything is created. Values that depend on the slot are checked again
/// once it is known.
fn check_env(config: &MonoConfig) -> Result<(), OpError> {
    let placeholder = |_: &str| Some("x".to_string());
    for (key, raw) in &config.env {
        mono_compose::interpolate::interpolate(raw, &placeholder).map_err(|source| OpError::Interpolate {
            file: config.file_for_messages(),
            key: key.clone(),
            source,
        })?;
    }
    Ok(())
}

/// `router.default` names a service with a published port, in docker mode.
fn check_router(config: &MonoConfig, docker: bool, ports: &[(String, String)]) -> Result<(), OpError> {
    let Some(default) = &config.router.default else { return Ok(()) };
    if !docker {
        return Err(config
            .invalid(format!(
                "router.default: {default:?} names a service, but the workspace has no compose file \
                 (in simple mode the environment's URL leads to MONO_PORT)"
            ))
            .into());
    }
    let var = mono_compose::port_var_stem(default);
    if !ports.iter().any(|(k, _)| *k == var) {
        let with: Vec<String> = ports
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("MONO_")?.strip_suffix("_PORT"))
            .map(str::to_lowercase)
            .collect();
        let with = if with.is_empty() { "none".to_string() } else { with.join(", ") };
        return Err(config
            .invalid(format!(
                "router.default: {default:?} is not a service with a published port (those with one: {with})"
            ))
            .into());
    }
    Ok(())
}

/// Refuses seeded volumes without a compose file to take them from.
fn check_seed(config: &MonoConfig, docker: bool) -> Result<(), OpError> {
    match &config.seed {
        Some(seed) if !seed.volumes.is_empty() && !docker => Err(config
            .invalid(format!(
                "seed.volumes ({}): this workspace has no compose file, so it has no volumes; seed its \
                 directories with seed.paths, or add the compose file",
                seed.volumes.join(", ")
            ))
            .into()),
        _ => Ok(()),
    }
}

/// The names of `mono.yml`'s `env:`, which the session never leaves out.
fn protected_names(config: &MonoConfig) -> HashSet<&str> {
    config.env.iter().map(|(k, _)| k.as_str()).collect()
}

/// The first names of a list, and how many more there are.
fn name_some(names: &[String]) -> String {
    const SHOWN: usize = 10;
    match names.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", names[..SHOWN].join(", ")),
        _ => names.join(", "),
    }
}

/// The caller's shell when it is an absolute path to a file, else `/bin/sh`.
fn login_shell(caller: &CallerEnv) -> String {
    caller
        .get("SHELL")
        .filter(|s| Path::new(s).is_absolute() && Path::new(s).is_file())
        .cloned()
        .unwrap_or_else(|| "/bin/sh".to_string())
}
