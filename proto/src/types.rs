//! Request parameters, results and stream items of the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The caller's environment variables, forwarded with every request that runs
/// user scripts or starts a shell, so those see what the caller sees.
pub type CallerEnv = BTreeMap<String, String>;

/// Lifecycle state of an environment as the daemon reports it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvStatus {
    /// `mono init` is in progress.
    Creating,
    /// Ready, and its tmux session exists.
    Running,
    /// Ready, but its tmux session is gone (killed by hand, reboot, ...).
    Stopped,
    /// `mono destroy` is in progress.
    Destroying,
    /// An operation was interrupted; `mono destroy` cleans it up.
    Failed,
}

impl EnvStatus {
    /// The lower-case word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvStatus::Creating => "creating",
            EnvStatus::Running => "running",
            EnvStatus::Stopped => "stopped",
            EnvStatus::Destroying => "destroying",
            EnvStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for EnvStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an environment's services are run.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No compose file: data directory, variables and a tmux session.
    Simple,
    /// A compose file's services run as an isolated docker project.
    Docker,
}

/// One environment, as `env.list`, `env.status` and `env.init` return it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvInfo {
    /// The slot, exported as `MONO_ENV_ID`; ports are `19000 + id*100 + n`.
    pub id: u32,
    /// `<project>-<workspace>`, exported as `MONO_ENV_NAME`.
    pub name: String,
    /// Canonical absolute workspace path, exported as `MONO_ENV_PATH`.
    pub path: String,
    /// Current status.
    pub status: EnvStatus,
    /// Simple or docker mode.
    pub mode: Mode,
    /// Project part of the name (repository).
    pub project: String,
    /// Workspace part of the name.
    pub workspace: String,
    /// Name of the tmux session.
    pub session: String,
    /// The environment's data directory, exported as `MONO_DATA_DIR`.
    pub data_dir: String,
    /// First port of the environment's block (`19000 + id*100`).
    pub port_base: u16,
    /// When the environment was registered, RFC 3339 in UTC.
    pub created_at: String,
    /// Docker mode: the compose project name (`mono-<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_project: Option<String>,
    /// Docker mode: the project's containers, from one Engine query for all
    /// environments (empty when the Engine does not answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerInfo>,
}

/// One container of a docker-mode environment.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The compose service.
    pub service: String,
    /// The container's name.
    pub name: String,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a health check.
    #[serde(default)]
    pub health: String,
}

/// What `daemon.status` reports. Its shape is stable across protocol
/// versions (fields are only ever added).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Release version of the daemon.
    pub version: String,
    /// Protocol version the daemon speaks.
    pub protocol: u32,
    /// Process id.
    pub pid: u32,
    /// Milliseconds since the daemon started.
    pub uptime_ms: u64,
    /// The home directory it serves.
    pub home: String,
    /// Number of registered environments.
    pub environments: u32,
    /// Operations (init, destroy, run) in progress right now.
    pub operations: u32,
    /// Whether tmux can be run, and its version or the reason it cannot.
    pub tmux: Component,
    /// Whether the Docker Engine answers, and where it was looked for.
    pub docker: Component,
}

/// Availability of an external component.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// True when the component answered.
    pub available: bool,
    /// Its version when available, else why it is not.
    pub detail: String,
}

/// Which stream a line of operation progress came from.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStream {
    /// A step of mono's own ("created data directory").
    Log,
    /// A line a script printed on stdout.
    Out,
    /// A line a script printed on stderr.
    Err,
}

/// One line of live progress of an operation, delivered to `ops.watch`
/// subscribers; the same lines go to `mono.log`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpOutput {
    /// Where the line came from.
    pub stream: OpStream,
    /// The line, without its newline.
    pub line: String,
}

/// What `env.destroy` reports.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destroyed {
    /// Name of the destroyed environment.
    pub name: String,
    /// Things that were already gone or could not be removed, one line each.
    pub warnings: Vec<String>,
}

/// What `env.run` reports.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStarted {
    /// Name of the environment.
    pub name: String,
    /// The tmux session the script was sent to.
    pub session: String,
    /// The script text.
    pub script: String,
}

/// Something that happened, as `events.subscribe` delivers it. `seq` grows by
/// one per event and survives daemon restarts, so a subscriber that passes
/// the last `seq` it saw as `since` misses nothing.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number, increasing by one per event.
    pub seq: u64,
    /// When it happened, RFC 3339 in UTC.
    pub time: String,
    /// The environment it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// What happened: `env.created`, `env.ready`, `container.state`, ... (one
    /// of [`event_kinds`]).
    pub kind: String,
    /// Details, depending on the kind.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// The kinds of [`Event`].
pub mod event_kinds {
    /// An environment was registered (`data`: `{id, path, mode}`).
    pub const ENV_CREATED: &str = "env.created";
    /// Init finished (`data`: the environment).
    pub const ENV_READY: &str = "env.ready";
    /// Init failed and was rolled back (`data`: `{error}`).
    pub const ENV_FAILED: &str = "env.failed";
    /// An environment was destroyed (`data`: `{warnings}`).
    pub const ENV_DESTROYED: &str = "env.destroyed";
    /// The run script was started (`data`: `{script}`).
    pub const RUN_STARTED: &str = "run.started";
    /// A container of a docker-mode environment changed state (`data`:
    /// `{service, container, action, exit_code?, health?}`; `action` is
    /// `create`, `start`, `die`, `stop`, `kill`, `oom`, `destroy`, `restart`
    /// or `health_status` with `health` `healthy`/`unhealthy`/`starting`).
    pub const CONTAINER_STATE: &str = "container.state";
    /// With `follow: false`, the stored events have all been sent and the
    /// subscription ends (`seq` is 0; `data.last_seq` is the last stored seq).
    pub const END: &str = "subscription.end";
    /// The subscriber fell behind and was dropped; resume with
    /// `since` = `data.last_seq` (`seq` is 0: this is not a stored event).
    pub const LAGGED: &str = "subscription.lagged";
}
