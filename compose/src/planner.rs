//! From a loaded compose file to one environment's isolated [`Plan`]:
//! profiles applied, names scoped to the project, ports moved into the
//! environment's block, paths resolved, labels and config hashes added.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use mono_proto::paths::normalise;

use super::configs::{Config, ConfigSource};
use super::hash::config_hash;
use super::hazards;
use super::keypath::{At, Problem};
use super::model::{ComposeFile, MountSource, Network, Secret, SecretSource, Service, Volume};
use super::paths;
use super::plan::{
    BuildPlan, Condition, Dependency, FilePlan, INLINE_DOCKERFILE, ImageSource, MountKind, MountPlan,
    NetworkPlan, Plan, PortAssignment, PortBinding, Protocol, ServicePlan, VolumePlan,
};
use super::{
    COMPOSE_VERSION, CONFIG_HASH_LABEL, ComposeError, MONO_ENV_LABEL, MONO_HOME_LABEL, PlanSettings, dotenv,
    port_var_stem,
};
use mono_proto::ports::{MAX_SLOT, PORTS_PER_ENV, block_start};

/// Plans `file` for the environment described by `settings`.
pub(crate) fn plan(file: &ComposeFile, settings: &PlanSettings) -> Result<Plan, ComposeError> {
    if !(1..=MAX_SLOT).contains(&settings.slot) {
        return Err(ComposeError::Slot { slot: settings.slot });
    }
    let mut planner = Planner {
        file,
        settings,
        warnings: Vec::new(),
        services: file.services.iter().map(|s| (s.name.as_str(), s)).collect(),
        volumes: file.volumes.iter().map(|v| (v.key.as_str(), v)).collect(),
        secrets: file.secrets.iter().map(|d| (d.key.as_str(), d)).collect(),
        configs: file.configs.iter().map(|d| (d.key.as_str(), d)).collect(),
    };
    planner.run()
}

/// One planning run. Definitions are looked up by name through maps, so
/// planning stays linear in the size of the file.
struct Planner<'a> {
    file: &'a ComposeFile,
    settings: &'a PlanSettings,
    warnings: Vec<String>,
    services: HashMap<&'a str, &'a Service>,
    volumes: HashMap<&'a str, &'a Volume>,
    secrets: HashMap<&'a str, &'a Secret>,
    configs: HashMap<&'a str, &'a Config>,
}

impl<'a> Planner<'a> {
    fn run(&mut self) -> Result<Plan, ComposeError> {
        let file = self.file;
        let project = &self.settings.project;
        if let Some(name) = &file.name {
            self.warn(format!(
                "name: {name:?} is ignored; the project is named {project} so environments never collide"
            ));
        }
        for note in &file.notes {
            self.warn_note(None, note);
        }
        let active = self.active_services()?;
        self.check_port_var_names(&active);

        let networks = self.networks(&active);
        let volumes = self.volumes(&active);
        let active_names: HashSet<&str> = active.iter().map(|s| s.name.as_str()).collect();
        let network_names: HashMap<&str, &str> =
            networks.iter().map(|n| (n.key.as_str(), n.name.as_str())).collect();
        let mut ports = Vec::new();
        let mut services = Vec::with_capacity(active.len());
        for service in &active {
            services.push(self.service(service, &active_names, &network_names, &mut ports)?);
        }
        Ok(Plan {
            project: project.clone(),
            home: self.settings.home.clone(),
            working_dir: file.project_dir.clone(),
            config_files: file.files.clone(),
            networks,
            volumes,
            services,
            ports,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(format!("{}: {message}", self.file.path.display()));
    }

    /// A note, naming the file its key is in (of several, the one whose
    /// value is used).
    fn warn_note(&mut self, service: Option<&str>, note: &super::model::Note) {
        let file = self.file.origin(&note.path).display().to_string();
        let message = match service {
            Some(service) => format!("{file}: service {service}: {note}"),
            None => format!("{file}: {note}"),
        };
        self.warnings.push(message);
    }

    fn warn_service(&mut self, service: &str, message: String) {
        self.warn(format!("service {service}: {message}"));
    }

    fn error(&self, problem: Problem) -> ComposeError {
        self.file.error(problem)
    }

    /// Services whose profiles are enabled (all services without
    /// `profiles:`), checking that they depend on active services only.
    fn active_services(&mut self) -> Result<Vec<&'a Service>, ComposeError> {
        let file: &'a ComposeFile = self.file;
        let profiles = &self.settings.profiles;
        let all = profiles.iter().any(|p| p == "*");
        let is_active =
            |s: &Service| s.profiles.is_empty() || all || s.profiles.iter().any(|p| profiles.contains(p));
        let active: Vec<&'a Service> = file.services.iter().filter(|s| is_active(s)).collect();
        for s in &active {
            for dep in &s.depends_on {
                let Some(target) = self.services.get(dep.service.as_str()).copied() else { continue };
                if is_active(target) {
                    continue;
                }
                let message = format!(
                    "depends on {}, which is not active: it is only in profile(s) {}; enable one of them in \
                     mono.yml (compose: profiles: [...]){}",
                    target.name,
                    target.profiles.join(", "),
                    if dep.required { " or remove the dependency" } else { "" }
                );
                if dep.required {
                    return Err(ComposeError::Service {
                        path: self.file.path.clone(),
                        service: s.name.clone(),
                        message,
                    });
                }
                self.warn_service(
                    &s.name,
                    format!("{message}; it is optional (required: false), so it is skipped"),
                );
            }
        }
        Ok(active)
    }

    /// Warns when two services would set the same `MONO_<SERVICE>_PORT*`
    /// variables (`web-1` and `web_1`): the first keeps them.
    fn check_port_var_names(&mut self, active: &[&Service]) {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for s in active.iter().filter(|s| !s.ports.is_empty()) {
            let stem = port_var_stem(&s.name);
            match seen.get(&stem) {
                Some(first) => {
                    let message = format!(
                        "its port variables {stem}* are already those of service {first}; rename one of the services to tell them apart"
                    );
                    self.warn_service(&s.name, message);
                }
                None => {
                    seen.insert(stem, &s.name);
                }
            }
        }
    }

    fn scoped(&self, key: &str) -> String {
        format!("{}_{key}", self.settings.project)
    }

    fn network_name(&self, network: &Network) -> String {
        if network.external {
            network.name.clone().unwrap_or_else(|| network.key.clone())
        } else {
            self.scoped(&network.key)
        }
    }

    fn volume_name(&self, volume: &Volume) -> String {
        if volume.external {
            volume.name.clone().unwrap_or_else(|| volume.key.clone())
        } else {
            self.scoped(&volume.key)
        }
    }

    /// The networks active services join, in file order, with the implicit
    /// `default` last when a service needs it and the file does not declare
    /// it. Networks only inactive services use are left out.
    fn networks(&mut self, active: &[&Service]) -> Vec<NetworkPlan> {
        let mut used: HashSet<&str> = HashSet::new();
        for s in active {
            match (&s.networks, &s.network_mode) {
                (Some(networks), None) => used.extend(networks.iter().map(|n| n.name.as_str())),
                _ => {
                    used.insert("default");
                }
            }
        }
        let uses = |key: &str| used.contains(key);
        let file = self.file;
        let mut plans = Vec::new();
        for network in file.networks.iter().filter(|n| uses(&n.key)) {
            for note in &network.notes {
                self.warn_note(None, note);
            }
            if let (false, Some(name)) = (network.external, &network.name) {
                self.warn(format!(
                    "networks.{}.name: {name:?} is ignored so environments never share the network; it is created \
                     as {}",
                    network.key,
                    self.scoped(&network.key)
                ));
            }
            plans.push(NetworkPlan {
                key: network.key.clone(),
                name: self.network_name(network),
                driver: network.driver.clone(),
                driver_opts: network.driver_opts.clone(),
                internal: network.internal,
                labels: self.object_labels(&network.labels, "network", &network.key, network.external),
                external: network.external,
            });
        }
        if uses("default") && !plans.iter().any(|n| n.key == "default") {
            plans.push(NetworkPlan {
                key: "default".to_string(),
                name: self.scoped("default"),
                driver: None,
                driver_opts: BTreeMap::new(),
                internal: false,
                labels: self.object_labels(&BTreeMap::new(), "network", "default", false),
                external: false,
            });
        }
        plans
    }

    /// The named volumes active services mount, in file order. Volumes only
    /// inactive services use are left out.
    fn volumes(&mut self, active: &[&Service]) -> Vec<VolumePlan> {
        let used: HashSet<&str> = active
            .iter()
            .flat_map(|s| &s.volumes)
            .filter_map(|m| match &m.source {
                MountSource::Volume(name) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let uses = |key: &str| used.contains(key);
        let file = self.file;
        let mut plans = Vec::new();
        for volume in file.volumes.iter().filter(|v| uses(&v.key)) {
            for note in &volume.notes {
                self.warn_note(None, note);
            }
            if let (false, Some(name)) = (volume.external, &volume.name) {
                self.warn(format!(
                    "volumes.{}.name: {name:?} is ignored so environments never share the volume; it is created as \
                     {}",
                    volume.key,
                    self.scoped(&volume.key)
                ));
            }
            plans.push(VolumePlan {
                key: volume.key.clone(),
                name: self.volume_name(volume),
                driver: volume.driver.clone(),
                driver_opts: volume.driver_opts.clone(),
                labels: self.object_labels(&volume.labels, "volume", &volume.key, volume.external),
                external: volume.external,
            });
        }
        plans
    }

    /// A network's or volume's labels: its own plus compose's and mono's;
    /// none for external objects, which mono neither creates nor owns.
    fn object_labels(
        &self,
        own: &BTreeMap<String, String>,
        kind: &str,
        key: &str,
        external: bool,
    ) -> BTreeMap<String, String> {
        if external {
            return BTreeMap::new();
        }
        let project = &self.settings.project;
        let mut labels = own.clone();
        labels.insert("com.docker.compose.project".to_string(), project.clone());
        labels.insert(format!("com.docker.compose.{kind}"), key.to_string());
        labels.insert(MONO_ENV_LABEL.to_string(), project.clone());
        labels.insert(MONO_HOME_LABEL.to_string(), self.settings.home.clone());
        labels
    }

    fn service(
        &mut self,
        s: &Service,
        active: &HashSet<&str>,
        networks: &HashMap<&str, &str>,
        ports: &mut Vec<PortAssignment>,
    ) -> Result<ServicePlan, ComposeError> {
        let project = &self.settings.project;
        let root = At::ROOT;
        let services_at = root.key("services");
        let at = services_at.key(&s.name);
        let container_name = format!("{project}-{}-1", s.name);

        for note in &s.notes {
            self.warn_note(Some(&s.name), note);
        }
        if let Some(original) = &s.container_name {
            self.warn_service(
                &s.name,
                format!("container_name {original:?} is replaced by {container_name} so environments never collide"),
            );
        }
        if s.privileged {
            self.warn_service(&s.name, format!("{}: {}", at.key("privileged"), hazards::privileged()));
        }
        if let Some(mode) = &s.network_mode {
            self.warn_service(
                &s.name,
                format!(
                    "network_mode {mode:?} cannot be isolated; the service joins the project network {} instead",
                    self.scoped("default")
                ),
            );
        }

        let image = self.image(s, at)?;
        let environment = self.environment(s, at)?;
        let published = self.ports(s, at, ports)?;
        let mut expose = s.expose.clone();
        for binding in &published {
            if !expose.contains(&(binding.container_port, binding.protocol)) {
                expose.push((binding.container_port, binding.protocol));
            }
        }
        let mut files = Vec::new();
        let mut mounts = self.mounts(s, at, &mut files)?;
        files.extend(self.configs(s, at, &mut mounts)?);
        let service_networks = self.service_networks(s, networks);
        let depends_on: Vec<Dependency> = s
            .depends_on
            .iter()
            .filter(|d| active.contains(d.service.as_str()))
            .map(|d| Dependency { service: d.service.clone(), condition: d.condition, required: d.required })
            .collect();
        let depends_label = s
            .depends_on
            .iter()
            .filter(|d| active.contains(d.service.as_str()))
            .map(|d| format!("{}:{}:{}", d.service, condition_name(d.condition), d.restart))
            .collect::<Vec<_>>()
            .join(",");

        let mut labels = s.labels.clone();
        let config_files =
            self.file.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",");
        for (key, value) in [
            ("com.docker.compose.project", project.clone()),
            ("com.docker.compose.service", s.name.clone()),
            ("com.docker.compose.container-number", "1".to_string()),
            ("com.docker.compose.oneoff", "False".to_string()),
            ("com.docker.compose.project.working_dir", self.file.project_dir.display().to_string()),
            ("com.docker.compose.project.config_files", config_files),
            ("com.docker.compose.version", COMPOSE_VERSION.to_string()),
            ("com.docker.compose.depends_on", depends_label),
            (MONO_ENV_LABEL, project.clone()),
            (MONO_HOME_LABEL, self.settings.home.clone()),
        ] {
            labels.insert(key.to_string(), value);
        }

        let mut plan = ServicePlan {
            name: s.name.clone(),
            container_name,
            image,
            command: s.command.clone(),
            entrypoint: s.entrypoint.clone(),
            environment,
            ports: published,
            expose,
            mounts,
            files,
            networks: service_networks,
            links: self.links(s, active),
            depends_on,
            healthcheck: s.healthcheck.clone(),
            restart: s.restart.clone(),
            user: s.user.clone(),
            working_dir: s.working_dir.clone(),
            labels,
            hostname: s.hostname.clone(),
            stop_signal: s.stop_signal.clone(),
            stop_grace_period: s.stop_grace_period,
            cap_add: s.cap_add.clone(),
            cap_drop: s.cap_drop.clone(),
            extra_hosts: s.extra_hosts.clone(),
            init: s.init,
            privileged: s.privileged,
            tty: s.tty,
            stdin_open: s.stdin_open,
            sysctls: s.sysctls.clone(),
            platform: s.platform.clone(),
            config_hash: String::new(),
        };
        plan.config_hash = config_hash(&plan);
        plan.labels.insert(CONFIG_HASH_LABEL.to_string(), plan.config_hash.clone());
        Ok(plan)
    }

    fn image(&self, s: &Service, at: At<'_>) -> Result<ImageSource, ComposeError> {
        let Some(build) = &s.build else {
            return match &s.image {
                Some(image) => Ok(ImageSource::Pull(image.clone())),
                None => Err(self.error(at.problem("the service has neither `image` nor `build`; add one"))),
            };
        };
        let at = at.key("build");
        if is_remote_context(&build.context) {
            return Err(self.error(at.problem(format!(
                "service {}: the build context {:?} is a git repository or URL, which mono does not fetch; clone \
                 it into the workspace and point build.context at the folder",
                s.name, build.context
            ))));
        }
        let context = self.host_path(&build.context).map_err(|e| self.error(at.problem(e)))?;
        let dockerfile = match build.dockerfile.as_deref() {
            None if build.dockerfile_inline.is_some() => INLINE_DOCKERFILE.to_string(),
            None => "Dockerfile".to_string(),
            Some(d) if Path::new(d).is_absolute() => match Path::new(d).strip_prefix(&context) {
                Ok(relative) => relative.to_string_lossy().into_owned(),
                Err(_) => {
                    return Err(self.error(at.key("dockerfile").problem(format!(
                        "the Dockerfile {d} is outside the build context {}; move it into the context or give its \
                         path relative to the context",
                        context.display()
                    ))));
                }
            },
            Some(d) => d.to_string(),
        };
        let args = build
            .args
            .iter()
            .filter_map(|(k, v)| {
                let value = v.clone().or_else(|| self.settings.vars.get(k).cloned())?;
                Some((k.clone(), value))
            })
            .collect();
        let tag = match &s.image {
            Some(image) => image.clone(),
            None => format!("{}-{}", self.settings.project, s.name).to_ascii_lowercase(),
        };
        Ok(ImageSource::Build(BuildPlan {
            context,
            dockerfile,
            dockerfile_inline: build.dockerfile_inline.clone(),
            target: build.target.clone(),
            args,
            tag,
        }))
    }

    /// `env_file` values, then `environment` over them; `KEY` without a
    /// value takes the caller's variable and adds nothing when it is unset.
    fn environment(&self, s: &Service, at: At<'_>) -> Result<BTreeMap<String, String>, ComposeError> {
        let vars = &self.settings.vars;
        let lookup = |name: &str| vars.get(name).cloned();
        let mut environment = BTreeMap::new();
        let files_at = at.key("env_file");
        for env_file in &s.env_files {
            // `env_file: FILE` has no index; the position search then falls
            // back to the key.
            let here = files_at.index(env_file.index);
            let path = self.host_path(&env_file.path).map_err(|e| self.error(here.problem(e)))?;
            let text = match crate::input::read_text(&path, crate::input::MAX_FILE_BYTES) {
                Ok(text) => text,
                Err(crate::input::ReadError::Io(e))
                    if e.kind() == std::io::ErrorKind::NotFound && !env_file.required =>
                {
                    continue;
                }
                Err(crate::input::ReadError::Io(e)) => {
                    return Err(self.error(here.problem(format!(
                        "cannot read the env file {}: {e}; create it, fix the path, or mark it `required: false`",
                        path.display()
                    ))));
                }
                Err(reason) => {
                    return Err(self.error(
                        here.problem(format!("the env file {} is too large: {reason}", path.display())),
                    ));
                }
            };
            let format = if env_file.raw { dotenv::Format::Raw } else { dotenv::Format::Compose };
            environment.extend(dotenv::parse(&path, &text, &lookup, format)?);
        }
        for (key, value) in &s.environment {
            if let Some(value) = value.clone().or_else(|| lookup(key)) {
                environment.insert(key.clone(), value);
            }
        }
        Ok(environment)
    }

    /// Publishes the service's ports at the next offsets of the block, on the
    /// environment's host address.
    fn ports(
        &self,
        s: &Service,
        at: At<'_>,
        assignments: &mut Vec<PortAssignment>,
    ) -> Result<Vec<PortBinding>, ComposeError> {
        let first = block_start(self.settings.slot);
        let mut bindings = Vec::new();
        let ports_at = at.key("ports");
        for spec in &s.ports {
            let requested: Vec<Option<u16>> = match spec.published {
                // A host range for one container port: the engine would pick one.
                Some(p) if spec.target.count() == 1 => vec![Some(p.start)],
                Some(p) => p.ports().map(Some).collect(),
                None => vec![None; spec.target.count()],
            };
            for (container_port, requested) in spec.target.ports().zip(requested) {
                let offset = u16::try_from(assignments.len()).unwrap_or(u16::MAX);
                if u32::from(offset) >= PORTS_PER_ENV {
                    let last = u32::from(first) + PORTS_PER_ENV - 1;
                    return Err(self.error(ports_at.index(spec.index).problem(format!(
                        "container port {container_port} would be published port number {} of the environment, but \
                         each environment has {PORTS_PER_ENV} ({first}-{last}); publish fewer ports (ranges count one \
                         per port) and use `expose` for ports only other services need",
                        u32::from(offset) + 1
                    ))));
                }
                let host_port = first + offset;
                assignments.push(PortAssignment {
                    service: s.name.clone(),
                    container_port,
                    protocol: spec.protocol,
                    offset,
                    host_port,
                    requested,
                });
                bindings.push(PortBinding {
                    container_port,
                    protocol: spec.protocol,
                    host_ip: self.settings.host_ip.clone(),
                    host_port,
                });
            }
        }
        Ok(bindings)
    }

    /// The service's volumes, tmpfs and secrets: a `file:` secret is a
    /// read-only bind, an `environment:` one a file written into the
    /// container (into `files`), as compose gives them.
    fn mounts(
        &mut self,
        s: &Service,
        at: At<'_>,
        files: &mut Vec<FilePlan>,
    ) -> Result<Vec<MountPlan>, ComposeError> {
        let mut mounts = Vec::new();
        let volumes_at = at.key("volumes");
        for mount in &s.volumes {
            let kind = match &mount.source {
                MountSource::Volume(key) => {
                    let volume = self.volumes.get(key.as_str()).copied().ok_or_else(|| {
                        self.error(
                            volumes_at
                                .index(mount.index)
                                .problem(format!("named volume {key} is not declared")),
                        )
                    })?;
                    MountKind::Volume { name: self.volume_name(volume) }
                }
                MountSource::Bind(source) => {
                    let here = volumes_at.index(mount.index);
                    let source = self.host_path(source).map_err(|e| self.error(here.problem(e)))?;
                    if let Some(hazard) = hazards::bind(&source, mount.read_only, &self.settings.workspace) {
                        self.warn_service(&s.name, format!("{here}: {hazard}"));
                    }
                    MountKind::Bind { source }
                }
                MountSource::Anonymous => MountKind::Anonymous,
                MountSource::Tmpfs { size } => MountKind::Tmpfs { size: *size },
            };
            mounts.push(MountPlan { kind, target: mount.target.clone(), read_only: mount.read_only });
        }
        for tmpfs in &s.tmpfs {
            mounts.push(MountPlan {
                kind: MountKind::Tmpfs { size: tmpfs.size },
                target: tmpfs.target.clone(),
                read_only: tmpfs.read_only,
            });
        }
        let secrets_at = at.key("secrets");
        for secret in &s.secrets {
            let here = secrets_at.index(secret.index);
            let Some(definition) = self.secrets.get(secret.source.as_str()).copied() else {
                return Err(self.error(here.problem(format!("secret {} is not declared", secret.source))));
            };
            for note in &definition.notes {
                self.warn_note(None, note);
            }
            let target = match secret.target.as_deref() {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("/run/secrets/{t}"),
                None => format!("/run/secrets/{}", secret.source),
            };
            match &definition.source {
                SecretSource::File(file) => {
                    let source = self.host_path(file).map_err(|e| {
                        let at = At::ROOT;
                        let secrets = at.key("secrets");
                        self.error(secrets.key(&definition.key).key("file").problem(e))
                    })?;
                    mounts.push(MountPlan { kind: MountKind::Bind { source }, target, read_only: true });
                }
                SecretSource::Environment(variable) => {
                    let Some(content) = self.settings.vars.get(variable).cloned() else {
                        let root = At::ROOT;
                        let secrets = root.key("secrets");
                        return Err(self.error(secrets.key(&definition.key).problem(format!(
                            "environment variable {variable} required by secret {} is not set; set it in the \
                             environment or the workspace's .env",
                            definition.key
                        ))));
                    };
                    files.push(FilePlan { target, content, mode: 0o444, uid: 0, gid: 0 });
                }
                SecretSource::Resolved(content) => {
                    files.push(FilePlan { target, content: content.clone(), mode: 0o444, uid: 0, gid: 0 });
                }
                SecretSource::External => self.warn_service(
                    &s.name,
                    format!(
                        "secret {} is external, which mono does not support; nothing is mounted at {target}: use \
                         `file:` instead",
                        secret.source
                    ),
                ),
            }
        }
        Ok(mounts)
    }

    /// The service's configs, as compose gives them: a `file:` config is a
    /// read-only bind (unless a volume or secret already has its target),
    /// `content:` and `environment:` configs are files written into the
    /// container before it starts.
    fn configs(
        &mut self,
        s: &Service,
        at: At<'_>,
        mounts: &mut Vec<MountPlan>,
    ) -> Result<Vec<FilePlan>, ComposeError> {
        let mut files = Vec::new();
        let configs_at = at.key("configs");
        for config in &s.configs {
            let here = configs_at.index(config.index);
            let Some(definition) = self.configs.get(config.source.as_str()).copied() else {
                return Err(self.error(here.problem(format!("config {} is not declared", config.source))));
            };
            let target = config.target_path();
            let content = match &definition.source {
                ConfigSource::File(file) => {
                    let source = self.host_path(file).map_err(|e| {
                        let root = At::ROOT;
                        let configs = root.key("configs");
                        self.error(configs.key(&definition.key).key("file").problem(e))
                    })?;
                    if config.uid.is_some() || config.gid.is_some() || config.mode.is_some() {
                        self.warn_service(
                            &s.name,
                            format!(
                                "{here}: uid, gid and mode are ignored for a file config, as compose ignores them: \
                                 the file is bind-mounted read-only with its own owner and mode"
                            ),
                        );
                    }
                    if !mounts.iter().any(|m| m.target == target) {
                        mounts.push(MountPlan { kind: MountKind::Bind { source }, target, read_only: true });
                    }
                    continue;
                }
                ConfigSource::Content(text) => text.clone(),
                ConfigSource::Environment(variable) => match self.settings.vars.get(variable) {
                    Some(value) => value.clone(),
                    None => {
                        let root = At::ROOT;
                        let configs = root.key("configs");
                        return Err(self.error(configs.key(&definition.key).problem(format!(
                            "environment variable {variable} required by config {} is not set; set it in the \
                             environment or the workspace's .env",
                            definition.key
                        ))));
                    }
                },
                ConfigSource::External => {
                    return Err(self.error(here.problem(format!(
                        "config {} is external: external configs exist only in swarm mode, and compose refuses \
                         them too; define it with `file:` or `content:`",
                        definition.key
                    ))));
                }
            };
            // An empty config is skipped, as compose skips it.
            if content.is_empty() {
                continue;
            }
            files.push(FilePlan {
                target,
                content,
                mode: config.mode.unwrap_or(0o444),
                uid: config.uid.unwrap_or(0),
                gid: config.gid.unwrap_or(0),
            });
        }
        Ok(files)
    }

    /// `links: [db:database]` as the Engine takes them on each of the
    /// service's endpoints (`<container>:<alias>`): the alias is this
    /// service's name for db, resolved by nobody else, as compose does it.
    fn links(&self, s: &Service, active: &HashSet<&str>) -> Vec<String> {
        let project = &self.settings.project;
        s.links
            .iter()
            .filter(|l| active.contains(l.service.as_str()))
            .map(|l| format!("{project}-{}-1:{}", l.service, l.alias))
            .collect()
    }

    /// The engine networks the service joins, each with the service name as
    /// its first alias, then its own aliases. `network_mode` services and
    /// services without `networks:` join the default network.
    fn service_networks(&self, s: &Service, networks: &HashMap<&str, &str>) -> Vec<(String, Vec<String>)> {
        let engine_name =
            |key: &str| networks.get(key).map_or_else(|| self.scoped(key), |name| (*name).to_string());
        let aliases = |own: &[String]| {
            let mut aliases = vec![s.name.clone()];
            for alias in own {
                if !aliases.contains(alias) {
                    aliases.push(alias.clone());
                }
            }
            aliases
        };
        match (&s.networks, &s.network_mode) {
            (Some(joined), None) => {
                joined.iter().map(|n| (engine_name(&n.name), aliases(&n.aliases))).collect()
            }
            _ => vec![(engine_name("default"), aliases(&[]))],
        }
    }

    /// A host path of the file, absolute: relative to the project directory, `~`
    /// from the caller's `HOME`; `.` and `..` resolved lexically, as
    /// compose does.
    fn host_path(&self, text: &str) -> Result<PathBuf, String> {
        let path = if let Some(rest) = text.strip_prefix('~') {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(format!("{text:?}: ~user paths are not supported; write the absolute path"));
            }
            let home = self.settings.vars.get("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
                format!("{text:?} starts with ~ but HOME is not set; write an absolute path")
            })?;
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        } else if paths::is_windows_absolute(text) {
            return Ok(PathBuf::from(text));
        } else {
            self.file.project_dir.join(text)
        };
        Ok(normalise(&path))
    }
}

/// A context Docker fetches rather than reads from a folder: a git
/// repository (`https://host/repo.git#ref:dir`, `git@host:repo`,
/// `git://...`, `github.com/...`) or a tarball URL.
fn is_remote_context(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// Compose's name for a condition, as in its `depends_on` label.
fn condition_name(condition: Condition) -> &'static str {
    match condition {
        Condition::Started => "service_started",
        Condition::Healthy => "service_healthy",
        Condition::CompletedSuccessfully => "service_completed_successfully",
    }
}

/// `MONO_<SERVICE>_PORT*` variables of a plan.
pub(crate) fn port_vars(plan: &Plan) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut push = |name: String, port: u16| {
        if !vars.iter().any(|(n, _)| *n == name) {
            vars.push((name, port.to_string()));
        }
    };
    for service in &plan.services {
        let stem = port_var_stem(&service.name);
        if let Some(first) = service.ports.first() {
            push(stem.clone(), first.host_port);
        }
        for binding in &service.ports {
            let suffix = match binding.protocol {
                Protocol::Tcp => "",
                Protocol::Udp => "_UDP",
            };
            push(format!("{stem}_{}{suffix}", binding.container_port), binding.host_port);
        }
    }
    vars
}
