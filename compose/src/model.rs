//! The typed model of a compose file: what mono reads from it, after
//! interpolation and `extends`, before anything is isolated.
//!
//! Conversion is strict the way compose is: an unknown key is an error with
//! its key path. Keys compose knows but mono cannot honour are kept as
//! [`Note`]s so the plan can warn about them by name; nothing is dropped
//! silently.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::configs::{Config, ConfigRef};
use super::keypath::At;
use super::plan::{Condition, HealthPlan, Protocol};
use super::syntax::PortRange;

/// A loaded compose file.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    /// The file.
    pub path: PathBuf,
    /// Top-level `name:` (mono's project name is used instead).
    pub name: Option<String>,
    /// Services, in file order.
    pub services: Vec<Service>,
    /// Top-level networks, in file order.
    pub networks: Vec<Network>,
    /// Top-level volumes, in file order.
    pub volumes: Vec<Volume>,
    /// Top-level secrets, in file order.
    pub secrets: Vec<Secret>,
    /// Top-level configs, in file order.
    pub configs: Vec<Config>,
    /// Top-level keys mono does not honour (`models`, ...).
    pub notes: Vec<Note>,
    /// Interpolation warnings: unset variables, each naming the file, the
    /// key path and the variable.
    pub warnings: Vec<String>,
    /// Every compose file in the project (`-f` order), for compose's
    /// `config_files` label.
    pub files: Vec<PathBuf>,
    /// The project directory: relative paths resolve against it (the
    /// first file's folder, as in compose).
    pub project_dir: PathBuf,
    /// Every file read (included and extended ones too), lowest
    /// precedence first, to find lines for messages.
    pub(crate) sources: Vec<Source>,
    /// Services that were resolved through `extends`: their key paths do
    /// not all exist in the text.
    pub(crate) extended: Vec<String>,
}

/// Something in the file that mono cannot honour, by key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The key path, e.g. `services.web.deploy`.
    pub key: String,
    /// What mono does instead.
    pub message: String,
    /// The key path, to find the file it is in.
    pub(crate) path: super::keypath::KeyPath,
}

impl Note {
    pub(crate) fn new(at: At<'_>, message: impl Into<String>) -> Note {
        Note { key: at.to_string(), message: message.into(), path: at.path() }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A service definition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    /// The service key.
    pub name: String,
    /// `image`.
    pub image: Option<String>,
    /// `build`.
    pub build: Option<Build>,
    /// `command`, split like a shell when written as a string.
    pub command: Option<Vec<String>>,
    /// `entrypoint`, split like a shell when written as a string.
    pub entrypoint: Option<Vec<String>>,
    /// `environment` in file order; `None` takes the caller's variable.
    pub environment: Vec<(String, Option<String>)>,
    /// `env_file`.
    pub env_files: Vec<EnvFile>,
    /// `ports`.
    pub ports: Vec<PortSpec>,
    /// `expose`, ranges expanded.
    pub expose: Vec<(u16, Protocol)>,
    /// `volumes`.
    pub volumes: Vec<VolumeMount>,
    /// `tmpfs`.
    pub tmpfs: Vec<TmpfsMount>,
    /// `networks`; `None` when the key is absent (the default network).
    pub networks: Option<Vec<ServiceNetwork>>,
    /// `network_mode` (not honoured: the plan warns).
    pub network_mode: Option<String>,
    /// `container_name` (replaced: the plan warns).
    pub container_name: Option<String>,
    /// `depends_on` (links included, as compose adds them).
    pub depends_on: Vec<DependsOn>,
    /// `links`: the linked service and the name it is reached by.
    pub links: Vec<Link>,
    /// `healthcheck`.
    pub healthcheck: Option<HealthPlan>,
    /// `restart`.
    pub restart: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `working_dir`.
    pub working_dir: Option<String>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `stop_signal`.
    pub stop_signal: Option<String>,
    /// `stop_grace_period`.
    pub stop_grace_period: Option<Duration>,
    /// `cap_add`.
    pub cap_add: Vec<String>,
    /// `cap_drop`.
    pub cap_drop: Vec<String>,
    /// `extra_hosts`, as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// `secrets`.
    pub secrets: Vec<SecretRef>,
    /// `configs`.
    pub configs: Vec<ConfigRef>,
    /// `profiles`.
    pub profiles: Vec<String>,
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
    /// Keys mono does not honour.
    pub notes: Vec<Note>,
}

/// A `build:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// `context`, as written (`.` when unset).
    pub context: String,
    /// `dockerfile`.
    pub dockerfile: Option<String>,
    /// `dockerfile_inline`.
    pub dockerfile_inline: Option<String>,
    /// `target`.
    pub target: Option<String>,
    /// `args`; `None` takes the caller's variable.
    pub args: Vec<(String, Option<String>)>,
}

/// One `env_file` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// Position in the list, for messages.
    pub index: usize,
    /// The path as written.
    pub path: String,
    /// `required` (default true).
    pub required: bool,
    /// `format: raw`.
    pub raw: bool,
}

/// One `ports` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Position in the list, for messages.
    pub index: usize,
    /// The host address asked for.
    pub host_ip: Option<String>,
    /// The host port(s) asked for.
    pub published: Option<PortRange>,
    /// The container port(s).
    pub target: PortRange,
    /// The protocol.
    pub protocol: Protocol,
}

/// One `volumes` entry of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// Position in the list, for messages.
    pub index: usize,
    /// What is mounted.
    pub source: MountSource,
    /// The container path.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// What a service volume mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A named volume: a key of the top-level `volumes`.
    Volume(String),
    /// A host path as written (relative, `~` or absolute).
    Bind(String),
    /// An anonymous volume.
    Anonymous,
    /// A tmpfs.
    Tmpfs {
        /// Size in bytes.
        size: Option<u64>,
    },
}

/// One `tmpfs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Container path.
    pub target: String,
    /// `size=` option, in bytes.
    pub size: Option<u64>,
    /// `ro` option.
    pub read_only: bool,
}

/// One network a service joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNetwork {
    /// The key of the top-level network (or `default`).
    pub name: String,
    /// `aliases`.
    pub aliases: Vec<String>,
}

/// One `links` entry: `SERVICE` or `SERVICE:ALIAS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The linked service.
    pub service: String,
    /// The name it is reached by (the service name when no alias is given).
    pub alias: String,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependsOn {
    /// The service depended on.
    pub service: String,
    /// `condition`.
    pub condition: Condition,
    /// `required` (default true).
    pub required: bool,
    /// `restart` (only carried into compose's label).
    pub restart: bool,
}

/// One `secrets` entry of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Position in the list, for messages.
    pub index: usize,
    /// The top-level secret.
    pub source: String,
    /// `target`, as written.
    pub target: Option<String>,
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// The key.
    pub key: String,
    /// `name` (or the legacy `external: {name}`).
    pub name: Option<String>,
    /// `external`.
    pub external: bool,
    /// `driver`.
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `internal`.
    pub internal: bool,
    /// Keys mono does not honour.
    pub notes: Vec<Note>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// The key.
    pub key: String,
    /// `name` (or the legacy `external: {name}`).
    pub name: Option<String>,
    /// `external`.
    pub external: bool,
    /// `driver`.
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// Keys mono does not honour.
    pub notes: Vec<Note>,
}

/// A top-level secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The key.
    pub key: String,
    /// Where its content comes from.
    pub source: SecretSource,
    /// Keys mono does not honour.
    pub notes: Vec<Note>,
}

/// Where a secret's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `file:`, as written.
    File(String),
    /// `environment:`, the variable's name: its value is written into the
    /// container at the target, as compose does.
    Environment(String),
    /// The value of an included file's `environment:` variable, resolved
    /// with the include's own `env_file` when it was loaded.
    Resolved(String),
    /// `external: true` (not supported).
    External,
}

/// The top-level definitions of a file.
#[derive(Debug, Default)]
pub(crate) struct Definitions {
    pub name: Option<String>,
    pub services: Vec<Service>,
    pub networks: Vec<Network>,
    pub volumes: Vec<Volume>,
    pub secrets: Vec<Secret>,
    pub configs: Vec<Config>,
    pub notes: Vec<Note>,
}

/// A file read for the project, for finding the line of a key.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// The key under which an included secret carries the value of its
/// `environment:` variable (compose-go's own name for it): an include's
/// `env_file` variables are the include's alone, gone once it is imported.
pub(crate) const RESOLVED_VALUE: &str = "x-#value";
