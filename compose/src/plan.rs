//! The isolated plan of a compose project: everything the engine needs to
//! create, start, wait for and remove one environment's services, already
//! renamed, remapped and labelled for that environment.
//!
//! A plan is pure data, built from a loaded compose file by
//! [`super::plan()`]; [`crate::docker`] applies it through the Engine
//! API. Nothing in a plan refers back to the compose file's own names for
//! host-level objects: containers, networks and volumes carry the
//! project-scoped names, and every published port is in the environment's
//! block on the chosen host address.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One environment's compose project, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `mono-<env name>`: the compose project name.
    pub project: String,
    /// The owning daemon's home (label `dev.mono.home` on every object).
    pub home: String,
    /// The project directory (compose `working_dir` label).
    pub working_dir: PathBuf,
    /// The compose file(s) the plan came from (compose `config_files` label).
    pub config_files: Vec<PathBuf>,
    /// Networks to create (or, when external, to find), in file order.
    pub networks: Vec<NetworkPlan>,
    /// Named volumes to create (or find), in file order.
    pub volumes: Vec<VolumePlan>,
    /// Services that start, in file order (profiles already applied).
    pub services: Vec<ServicePlan>,
    /// Published ports, in the order offsets were given.
    pub ports: Vec<PortAssignment>,
    /// Things mono changed or cannot honour, each naming file, service, key.
    pub warnings: Vec<String>,
}

/// A network of the project.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPlan {
    /// The key in the compose file (`default` for the implicit one).
    pub key: String,
    /// Engine name: `<project>_<key>`, or the external network's name.
    pub name: String,
    /// Driver (`bridge` when unset).
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `internal: true`.
    pub internal: bool,
    /// Labels, compose's included.
    pub labels: BTreeMap<String, String>,
    /// True for `external: true`: never created or removed by mono.
    pub external: bool,
}

/// A named volume of the project.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumePlan {
    /// The key in the compose file.
    pub key: String,
    /// Engine name: `<project>_<key>`, or the external volume's name.
    pub name: String,
    /// Driver (`local` when unset).
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// Labels, compose's included.
    pub labels: BTreeMap<String, String>,
    /// True for `external: true`.
    pub external: bool,
}

/// Where a service's image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// Use this reference, pulling it when the engine lacks it.
    Pull(String),
    /// Build it through the Engine API and tag it.
    Build(BuildPlan),
}

/// The name an inline Dockerfile (`build.dockerfile_inline`) is sent under,
/// at the root of the build context.
pub const INLINE_DOCKERFILE: &str = ".mono-dockerfile-inline";

/// A `build:` section, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    /// Absolute context directory.
    pub context: PathBuf,
    /// Dockerfile path relative to the context (`Dockerfile` when unset or
    /// empty, [`INLINE_DOCKERFILE`] for an inline one).
    pub dockerfile: String,
    /// `dockerfile_inline`: the Dockerfile's text, added to the context.
    pub dockerfile_inline: Option<String>,
    /// `target` stage.
    pub target: Option<String>,
    /// Build arguments.
    pub args: BTreeMap<String, String>,
    /// The tag to give the result: the service's `image:` when set, else
    /// `<project>-<service>`.
    pub tag: String,
}

/// A service, isolated for the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePlan {
    /// The service key.
    pub name: String,
    /// Engine container name: `<project>-<service>-1`.
    pub container_name: String,
    /// Image to run.
    pub image: ImageSource,
    /// `command`, as argv (a string is split as compose does).
    pub command: Option<Vec<String>>,
    /// `entrypoint`, as argv.
    pub entrypoint: Option<Vec<String>>,
    /// `environment` and `env_file`, merged, values interpolated.
    pub environment: BTreeMap<String, String>,
    /// Published ports, remapped into the environment's block.
    pub ports: Vec<PortBinding>,
    /// `expose` (and published container ports): container ports, protocol.
    pub expose: Vec<(u16, Protocol)>,
    /// Binds, named and anonymous volumes, tmpfs, secrets and `file:`
    /// configs.
    pub mounts: Vec<MountPlan>,
    /// Files written into the container before it starts: `content:` and
    /// `environment:` configs.
    pub files: Vec<FilePlan>,
    /// Networks joined: engine network name and aliases (the service name is
    /// always an alias).
    pub networks: Vec<(String, Vec<String>)>,
    /// `links`, as `<container>:<alias>`: names this service alone resolves
    /// (set on each of its network endpoints).
    pub links: Vec<String>,
    /// Services this one waits for.
    pub depends_on: Vec<Dependency>,
    /// Health check.
    pub healthcheck: Option<HealthPlan>,
    /// `restart` policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    pub restart: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `working_dir`.
    pub working_dir: Option<String>,
    /// Labels: the service's own plus compose's
    /// (`com.docker.compose.project`, `.service`, `.container-number`,
    /// `.oneoff`, `.config-hash`, `.project.working_dir`,
    /// `.project.config_files`, `.version`, `.depends_on`).
    pub labels: BTreeMap<String, String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `stop_signal`.
    pub stop_signal: Option<String>,
    /// `stop_grace_period` (compose's default is 10 s).
    pub stop_grace_period: Option<Duration>,
    /// `cap_add`.
    pub cap_add: Vec<String>,
    /// `cap_drop`.
    pub cap_drop: Vec<String>,
    /// `extra_hosts` as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// `init`.
    pub init: Option<bool>,
    /// `privileged`.
    pub privileged: bool,
    /// `tty`.
    pub tty: bool,
    /// `stdin_open`.
    pub stdin_open: bool,
    /// `sysctls`.
    pub sysctls: BTreeMap<String, String>,
    /// `platform`.
    pub platform: Option<String>,
    /// Hash of the service's resolved configuration (compose's
    /// `config-hash` label).
    pub config_hash: String,
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// Port inside the container.
    pub container_port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// Host address (127.0.0.1 unless mono.yml chooses another).
    pub host_ip: String,
    /// Host port: `19000 + id*100 + offset`.
    pub host_port: u16,
}

/// A published port and where it came from, for `MONO_<SERVICE>_PORT*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAssignment {
    /// The service.
    pub service: String,
    /// Container port.
    pub container_port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// Offset in the environment's block.
    pub offset: u16,
    /// Host port.
    pub host_port: u16,
    /// The host port the compose file asked for, if any (for messages).
    pub requested: Option<u16>,
}

/// A file written into a container before it starts, as compose writes a
/// `content:` or `environment:` config (nothing is written on the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    /// Absolute path in the container.
    pub target: String,
    /// The file's content.
    pub content: String,
    /// Permission bits (compose's default 0444).
    pub mode: u32,
    /// Owner, root when unset.
    pub uid: u32,
    /// Group, root when unset.
    pub gid: u32,
}

/// A mount of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// What is mounted.
    pub kind: MountKind,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// What a mount mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host path (absolute; relative ones resolved against the workspace).
    Bind {
        /// Host path.
        source: PathBuf,
    },
    /// A named volume of the project (engine name).
    Volume {
        /// Engine volume name.
        name: String,
    },
    /// An anonymous volume (created with the container, removed with it).
    Anonymous,
    /// A tmpfs.
    Tmpfs {
        /// Size in bytes, if limited.
        size: Option<u64>,
    },
}

/// How a dependency must be before the dependent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `service_started` (the default).
    Started,
    /// `service_healthy`.
    Healthy,
    /// `service_completed_successfully`.
    CompletedSuccessfully,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What it must reach.
    pub condition: Condition,
    /// `required: false` lets a missing or failing dependency be ignored.
    pub required: bool,
}

/// A resolved health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPlan {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    /// `interval`.
    pub interval: Option<Duration>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `retries`.
    pub retries: Option<u32>,
    /// `start_period`.
    pub start_period: Option<Duration>,
    /// `start_interval`.
    pub start_interval: Option<Duration>,
}
