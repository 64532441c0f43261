//! Method names and parameter objects, for clients that build JSON-RPC
//! requests themselves (the `mono` client's one-shot HTTP path, scripts,
//! other languages). The daemon's tests check that these names are exactly
//! the methods it registers, so they cannot drift from [`crate::api`].

use serde::{Deserialize, Serialize};

use crate::CallerEnv;

/// `daemon.status`
pub const DAEMON_STATUS: &str = "daemon.status";
/// `daemon.stop`
pub const DAEMON_STOP: &str = "daemon.stop";
/// `env.init`
pub const ENV_INIT: &str = "env.init";
/// `env.destroy`
pub const ENV_DESTROY: &str = "env.destroy";
/// `env.run`
pub const ENV_RUN: &str = "env.run";
/// `env.list`
pub const ENV_LIST: &str = "env.list";
/// `env.status`
pub const ENV_STATUS: &str = "env.status";
/// `ops.watch` (subscription)
pub const OPS_WATCH: &str = "ops.watch";
/// `ops.unwatch` (unsubscribe)
pub const OPS_UNWATCH: &str = "ops.unwatch";
/// `env.stop`
pub const ENV_STOP: &str = "env.stop";
/// `logs.follow` (subscription; notifications `logs.output`)
pub const LOGS_FOLLOW: &str = "logs.follow";
/// `logs.unfollow` (unsubscribe)
pub const LOGS_UNFOLLOW: &str = "logs.unfollow";
/// `logs.services` (subscription; notifications `logs.service_output`)
pub const LOGS_SERVICES: &str = "logs.services";
/// `logs.unservices` (unsubscribe)
pub const LOGS_UNSERVICES: &str = "logs.unservices";
/// `events.subscribe` (subscription; notifications `events.event`)
pub const EVENTS_SUBSCRIBE: &str = "events.subscribe";
/// `events.publish`
pub const EVENTS_PUBLISH: &str = "events.publish";
/// `events.unsubscribe` (unsubscribe)
pub const EVENTS_UNSUBSCRIBE: &str = "events.unsubscribe";
/// `daemon.doctor`: the daemon's own checks for `mono doctor`.
pub const DAEMON_DOCTOR: &str = "daemon.doctor";
/// `daemon.gc`: lists (and with `apply` removes) orphaned resources.
pub const DAEMON_GC: &str = "daemon.gc";
/// `cache.stats`: the dependency cache's entries.
pub const CACHE_STATS: &str = "cache.stats";
/// `cache.clean`: removes cache entries.
pub const CACHE_CLEAN: &str = "cache.clean";
/// `rpc.discover`: the OpenRPC document of the whole API (see
/// `crate::openrpc`, behind the `schema` feature).
pub const RPC_DISCOVER: &str = "rpc.discover";

/// Every method the daemon serves.
pub const ALL: [&str; 22] = [
    DAEMON_STATUS,
    DAEMON_STOP,
    ENV_INIT,
    ENV_DESTROY,
    ENV_RUN,
    ENV_LIST,
    ENV_STATUS,
    OPS_WATCH,
    OPS_UNWATCH,
    EVENTS_SUBSCRIBE,
    EVENTS_UNSUBSCRIBE,
    ENV_STOP,
    LOGS_FOLLOW,
    LOGS_UNFOLLOW,
    LOGS_SERVICES,
    LOGS_UNSERVICES,
    RPC_DISCOVER,
    EVENTS_PUBLISH,
    DAEMON_DOCTOR,
    DAEMON_GC,
    CACHE_STATS,
    CACHE_CLEAN,
];

/// Parameters of `cache.clean`: `all`, or `older_than`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CacheCleanParams {
    /// Remove every entry.
    #[serde(default)]
    pub all: bool,
    /// Remove entries not used for this long (`7d`, `12h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<String>,
}

/// Parameters of `daemon.gc`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GcParams {
    /// Remove the orphans (default: only list them).
    #[serde(default)]
    pub apply: bool,
    /// The caller's Docker variables ([`crate::DOCKER_VARIABLES`]): the
    /// engine they lead to is searched too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<CallerEnv>,
}

/// Parameters of `daemon.doctor`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DoctorParams {
    /// The caller's Docker variables ([`crate::DOCKER_VARIABLES`]), so the
    /// doctor also checks the engine `mono init` from that shell would use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<CallerEnv>,
}

/// Parameters of methods that take nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoParams {}

/// Parameters of `env.status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathParams {
    /// Absolute workspace path.
    pub path: String,
}

/// Parameters of `env.run` (and of `env.init`/`env.destroy` without `op`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathEnvParams {
    /// Absolute workspace path.
    pub path: String,
    /// The caller's environment.
    pub env: CallerEnv,
}
