//! Request parameters, results and stream items of the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The caller's environment variables, forwarded with every request that runs
/// user scripts or starts a shell, so those see what the caller sees.
pub type CallerEnv = BTreeMap<String, String>;

/// The caller's variables that decide which Docker Engine it reaches and
/// how (endpoint, context, TLS, `docker login` state and its helpers), as
/// the docker CLI reads them.
pub const DOCKER_VARIABLES: [&str; 9] = [
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS_VERIFY",
    "DOCKER_TLS",
    "DOCKER_CERT_PATH",
    "HOME",
    "PATH",
    "XDG_RUNTIME_DIR",
];

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
    /// Status `failed`: what failed and what it left (a rollback or teardown
    /// that could not finish); `mono destroy` or `mono gc --yes` finishes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Whether the session is printing, and when it last did.
    #[serde(default)]
    pub activity: Activity,
    /// The run in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// Its named URLs through monod's router (`MONO_URL`,
    /// `MONO_<SERVICE>_URL`); empty when the router is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<EnvUrl>,
}

/// A named URL of an environment: `http://web.shop-a.localhost:19000/`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvUrl {
    /// The service it reaches, or none for the environment's entry point
    /// (`http://shop-a.localhost:19000/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The URL.
    pub url: String,
    /// The loopback port it leads to.
    pub port: u16,
}

/// Whether an environment's session is printing.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityState {
    /// Printed within the quiet period.
    Active,
    /// Quiet for at least the quiet period.
    #[default]
    Idle,
}

/// Activity of an environment's session.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Active or idle.
    pub state: ActivityState,
    /// When the session last printed, RFC 3339 in UTC; absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_output: Option<String>,
    /// Milliseconds since then, as of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_ms: Option<u64>,
}

/// A run in progress.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id: the `seq` of its `run.started` event.
    pub run: u64,
    /// The process leading the run's process group.
    pub pid: i32,
    /// tmux's id of the run window's pane.
    pub pane: String,
}

/// How a run ended.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunExit {
    /// The run's id.
    pub run: u64,
    /// The exit status (128 + N when ended by signal N; 137 when `env.stop`
    /// killed it and its shell could not say). Always sent: null, not
    /// absent, when it is not known (the run window was killed or closed
    /// before the run ended, ...), and `reason` says why.
    pub code: Option<i32>,
    /// Why the status is not known: sent only when `code` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub reason: Option<String>,
}

impl RunExit {
    /// `exit 3`, or `exit status unknown: <reason>`.
    pub fn describe(&self) -> String {
        match (self.code, &self.reason) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(reason)) => format!("exit status unknown: {reason}"),
            (None, None) => "exit status unknown".to_string(),
        }
    }
}

/// One item of a `logs.follow` subscription (`logs.output` notifications),
/// tagged by `kind`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogItem {
    /// Output of the session, in order. Bytes that are not UTF-8 are
    /// replaced with U+FFFD; a character split between two reads is sent
    /// whole.
    Output {
        /// The text, terminal escape sequences included.
        data: String,
    },
    /// A run ended; everything it printed came before this item.
    RunExited(RunExit),
    /// The subscription ends: all stored output was sent (`follow: false`)
    /// or the environment was destroyed.
    End {
        /// Why.
        reason: String,
    },
}

/// What `env.stop` reports.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// Name of the environment.
    pub name: String,
    /// How the run ended; absent when none was running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<RunExit>,
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
    /// The ports it publishes (while it runs), in the order of the host
    /// ports.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

/// One published port of a container: `5432/tcp -> 127.0.0.1:19100`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address it is bound to.
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The `MONO_<SERVICE>_PORT*` variables that hold `host_port` in the
    /// environment's scripts and session.
    #[serde(default)]
    pub vars: Vec<String>,
    /// When the engine is on another machine: the SSH forward that brings
    /// the port to this one (`host_ip:host_port` is then the remote host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<PortForward>,
}

/// The local end of a remote engine's published port.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    /// Where the port answers here: `127.0.0.1:19100`.
    pub local: String,
    /// Whether the forward is in place now.
    pub up: bool,
    /// Why not, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One item of a `logs.services` subscription (`logs.service_output`
/// notifications), tagged by `kind`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceLogItem {
    /// First item: the services whose logs follow, in name order.
    Services {
        /// Their names.
        services: Vec<String>,
    },
    /// One line a container wrote (or a part of a very long line), in
    /// timestamp order across services.
    Line {
        /// The service.
        service: String,
        /// `stdout` or `stderr`.
        stream: String,
        /// When the Engine received it (RFC 3339, nanoseconds, UTC).
        time: String,
        /// The text with its newline; bytes that are not UTF-8 are replaced
        /// with U+FFFD.
        data: String,
    },
    /// The subscription ends: the kept logs were sent (`follow: false`) or
    /// every followed container stopped.
    End {
        /// Why.
        reason: String,
    },
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
    /// Whether the router of named URLs listens, and where.
    #[serde(default)]
    pub router: Component,
}

/// Availability of an external component.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The tmux session of the run window.
    pub session: String,
    /// The tmux window the run runs in (`mono-run`).
    pub window: String,
    /// The run's id, pid and pane.
    pub run: RunInfo,
    /// The script text.
    pub script: String,
    /// How the previous run ended, when this one had to stop it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<RunExit>,
}

/// One entry of the dependency cache.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntryInfo {
    /// The key (hex SHA-256 of the key files, paths, version, platform; for
    /// images, of the build context and options).
    pub key: String,
    /// `files` (directories restored into workspaces) or `image` (built for
    /// a `build:` service).
    pub kind: String,
    /// What it holds: `node_modules (package-lock.json)`, `image app-web`.
    pub label: String,
    /// Whether it is saved (false: looked up, never saved, or removed).
    pub saved: bool,
    /// Bytes on disk: allocated blocks, hard-linked files once (for an
    /// image, the Engine's size).
    pub size: u64,
    /// Files in it.
    pub files: u64,
    /// Restores (or reuses).
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// First lookup, RFC 3339.
    pub created_at: String,
    /// Last restore or save, RFC 3339.
    pub last_used: String,
}

/// What `cache.stats` reports.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Where entries live.
    pub dir: String,
    /// Least recently used entries are evicted beyond this many bytes.
    pub max_size: u64,
    /// Bytes of all saved entries.
    pub total_size: u64,
    /// Hits of all entries.
    pub hits: u64,
    /// Misses of all entries.
    pub misses: u64,
    /// Every entry, most recently used first.
    pub entries: Vec<CacheEntryInfo>,
}

/// What `cache.clean` removed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCleaned {
    /// The entries removed.
    pub removed: Vec<CacheEntryInfo>,
    /// Bytes freed.
    pub freed: u64,
    /// Entries left because a restore or save was using them, or an image
    /// a container still uses.
    pub busy: Vec<String>,
}

/// What `seed.refresh` dropped.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRefreshed {
    /// The environment.
    pub name: String,
    /// The snapshot's key (hex SHA-256).
    pub key: String,
    /// Whether a snapshot was there to remove (false: already gone).
    pub removed: bool,
    /// Bytes freed.
    pub freed: u64,
}

/// What `service.restart` restarted.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRestarted {
    /// The environment.
    pub name: String,
    /// The service.
    pub service: String,
    /// The names of the containers restarted.
    pub containers: Vec<String>,
}

/// How a `mono doctor` finding weighs.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// All is well.
    Ok,
    /// Works, but something needs attention.
    Warning,
    /// Something is broken.
    Error,
}

/// One finding of `mono doctor`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The area checked: `tmux`, `docker`, `ports`, `orphans`, ...
    pub check: String,
    /// How it weighs.
    pub severity: Severity,
    /// What was found.
    pub message: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// What the daemon checked for `mono doctor` (`daemon.doctor`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    /// The findings, in the order checked.
    pub findings: Vec<Finding>,
}

/// The kinds of resources mono creates for an environment.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanKind {
    /// A tmux session (`mono-<name>`).
    Session,
    /// A data directory (`$MONO_HOME/data/<name>`).
    DataDir,
    /// A log directory (`$MONO_HOME/logs/<name>`).
    LogDir,
    /// A Docker container.
    Container,
    /// A Docker network.
    Network,
    /// A Docker volume.
    Volume,
    /// A symbolic link where mono keeps an environment's data or log
    /// directory (`$MONO_HOME/data/<name>`, `logs/<name>`), whoever it
    /// names: mono never follows one, and gc removes the link, never its
    /// target.
    Link,
}

impl std::fmt::Display for OrphanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OrphanKind::Session => "tmux session",
            OrphanKind::DataDir => "data directory",
            OrphanKind::LogDir => "log directory",
            OrphanKind::Container => "container",
            OrphanKind::Network => "network",
            OrphanKind::Volume => "volume",
            OrphanKind::Link => "symbolic link",
        })
    }
}

/// A resource of mono's that no registered environment owns.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Orphan {
    /// What it is.
    pub kind: OrphanKind,
    /// Its name: the session, the directory's path, the Docker object.
    pub name: String,
    /// The environment (or compose project) it was made for.
    pub owner: String,
    /// The Docker Engine a Docker object is on (endpoint and why), for
    /// Docker objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// What `daemon.gc` found and did.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// The orphans found.
    pub orphans: Vec<Orphan>,
    /// Whether they were removed (`apply`), or only listed.
    pub applied: bool,
    /// What could not be checked (Docker unreachable, ...), one line each.
    pub skipped: Vec<String>,
    /// What could not be removed, one line each.
    pub errors: Vec<String>,
    /// Environments left `failed` (a rollback or teardown could not
    /// finish); finished (torn down) with `apply`.
    #[serde(default)]
    pub failed: Vec<FailedEnv>,
}

/// An environment whose rollback or teardown could not finish.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEnv {
    /// The environment.
    pub name: String,
    /// Its workspace.
    pub path: String,
    /// What failed and what it left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Something that happened, as `events.subscribe` delivers it. `seq` grows by
/// one per stored event and survives daemon restarts, so a subscriber that
/// passes the last `seq` it saw as `since` misses no stored event.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number, increasing by one per stored event; 0 for what is
    /// not stored (control notices, the [`event_kinds::LIVE_ONLY`] kinds).
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
    /// Init failed and was rolled back (`data`: `{error}`; `recovered: true`
    /// when monod rolled back, at start-up, an init a crash interrupted).
    pub const ENV_FAILED: &str = "env.failed";
    /// Live only (see [`LIVE_ONLY`]): a step or script line of an
    /// operation on the environment (`data`: `{op, stream, line}`; `op` is
    /// the id the client gave, `stream` is `log` for mono's own steps,
    /// `out`/`err` for script output).
    pub const ENV_PROGRESS: &str = "env.progress";
    /// Live only (see [`LIVE_ONLY`]), docker mode: progress of an image
    /// pull of an operation (`data`: `{op, service, image, layer, status,
    /// current?, total?}`; `layer` is null for the image's own steps,
    /// `current`/`total` bytes come with `Downloading` and `Extracting`).
    /// Every status change of a layer is sent; byte counts at most once a
    /// second per layer.
    pub const IMAGE_PULL: &str = "image.pull";
    /// The kinds of operations' output: sent live, with `seq` 0, only to
    /// subscribers that name them in `kinds`, never stored nor replayed
    /// (the lines are in `mono.log`), so a chatty script cannot push the
    /// stored events out of the log's retention.
    pub const LIVE_ONLY: &[&str] = &[ENV_PROGRESS, IMAGE_PULL];
    /// An environment was destroyed (`data`: `{warnings}`; `recovered:
    /// true` when monod finished, at start-up, a destroy a crash
    /// interrupted).
    pub const ENV_DESTROYED: &str = "env.destroyed";
    /// At start-up, monod found resources of its own that no environment
    /// owns (`data`: `{orphans}`, each an [`Orphan`](crate::Orphan));
    /// `mono gc --yes` removes them.
    pub const ORPHANS: &str = "daemon.orphans";
    /// The run script was started in the run window (`data`: `{script,
    /// pid, pane}`); the event's `seq` is the run's id.
    pub const RUN_STARTED: &str = "run.started";
    /// A run ended (`data`: `{run, code}`, `code` absent when it was killed
    /// before its status could be recorded).
    pub const RUN_EXITED: &str = "run.exited";
    /// The session started printing or went quiet (`data`: `{state,
    /// last_output}`, `state` `active` or `idle`); only on transitions.
    pub const ACTIVITY: &str = "activity";
    /// A container of a docker-mode environment changed state (`data`:
    /// `{service, container, action, exit_code?, health?}`; `action` is
    /// `create`, `start`, `die`, `stop`, `kill`, `oom`, `destroy`, `restart`
    /// or `health_status` with `health` `healthy`/`unhealthy`/`starting`).
    pub const CONTAINER_STATE: &str = "container.state";
    /// A background save into the dependency cache ended (`data`: `{key,
    /// label, outcome, files?, bytes?, size?, evicted?, error?}`; `outcome`
    /// `saved`, `already_there`, `changed` (the workspace changed while it
    /// was copied), `missing` (a path was not there) or `failed`).
    pub const CACHE_SAVED: &str = "cache.saved";
    /// Kinds starting with this are published by users (`events.publish`).
    pub const USER_PREFIX: &str = "user.";
    /// With `follow: false`, the stored events have all been sent and the
    /// subscription ends (`seq` is 0; `data.last_seq` is the last stored seq).
    pub const END: &str = "subscription.end";
    /// The subscriber fell behind and was dropped; resume with
    /// `since` = `data.last_seq` (`seq` is 0: this is not a stored event).
    pub const LAGGED: &str = "subscription.lagged";
}
