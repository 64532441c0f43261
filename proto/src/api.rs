//! The JSON-RPC API as a jsonrpsee trait: the server half is implemented by
//! monod, the client half is generated for `mono`.
//!
//! Methods take named parameters (a JSON object), so the API is easy to call
//! from curl or any language:
//!
//! ```text
//! curl --unix-socket ~/.mono/monod.sock --json \
//!   '{"jsonrpc":"2.0","id":1,"method":"env.list","params":{}}' http://localhost/
//! ```
//!
//! Long operations (`env.init`, `env.destroy`) accept an optional `op` id. A
//! client that first subscribes to `ops.watch` with that id on the same
//! WebSocket receives the operation's output live as `ops.output`
//! notifications; the subscription ends when the operation does.

#![allow(missing_docs)]

use jsonrpsee::proc_macros::rpc;

use crate::types::*;

/// Every method of monod.
#[cfg_attr(all(feature = "server", feature = "client"), rpc(server, client))]
#[cfg_attr(all(feature = "server", not(feature = "client")), rpc(server))]
#[cfg_attr(all(feature = "client", not(feature = "server")), rpc(client))]
pub trait MonoApi {
    /// Version, protocol, pid, uptime and component availability.
    #[method(name = "daemon.status", param_kind = map)]
    async fn daemon_status(&self) -> jsonrpsee::core::RpcResult<DaemonStatus>;

    /// Asks the daemon to shut down cleanly; returns before it exits.
    #[method(name = "daemon.stop", param_kind = map)]
    async fn daemon_stop(&self) -> jsonrpsee::core::RpcResult<()>;

    /// The daemon's checks: state, tmux, Docker, port blocks, environments
    /// needing attention, orphans, and what start-up recovered.
    #[method(name = "daemon.doctor", param_kind = map)]
    async fn daemon_doctor(&self, env: Option<CallerEnv>) -> jsonrpsee::core::RpcResult<DoctorReport>;

    /// Resources of this home that no environment owns; removed with
    /// `apply: true`.
    #[method(name = "daemon.gc", param_kind = map)]
    async fn daemon_gc(
        &self,
        apply: Option<bool>,
        env: Option<CallerEnv>,
    ) -> jsonrpsee::core::RpcResult<GcReport>;

    /// The dependency cache: entries, sizes, hits and misses.
    #[method(name = "cache.stats", param_kind = map)]
    async fn cache_stats(&self) -> jsonrpsee::core::RpcResult<CacheStats>;

    /// Removes every cache entry (`all`) or those not used for
    /// `older_than` (`7d`).
    #[method(name = "cache.clean", param_kind = map)]
    async fn cache_clean(
        &self,
        all: Option<bool>,
        older_than: Option<String>,
    ) -> jsonrpsee::core::RpcResult<CacheCleaned>;

    /// Registers and sets up the environment of a workspace.
    #[method(name = "env.init", param_kind = map)]
    async fn env_init(
        &self,
        path: String,
        env: Option<CallerEnv>,
        op: Option<String>,
    ) -> jsonrpsee::core::RpcResult<EnvInfo>;

    /// Tears an environment down completely.
    #[method(name = "env.destroy", param_kind = map)]
    async fn env_destroy(
        &self,
        path: String,
        env: Option<CallerEnv>,
        op: Option<String>,
    ) -> jsonrpsee::core::RpcResult<Destroyed>;

    /// Starts the run script in the environment's tmux session.
    #[method(name = "env.run", param_kind = map)]
    async fn env_run(&self, path: String, env: Option<CallerEnv>) -> jsonrpsee::core::RpcResult<RunStarted>;

    /// Every environment, with status from one tmux query.
    #[method(name = "env.list", param_kind = map)]
    async fn env_list(&self) -> jsonrpsee::core::RpcResult<Vec<EnvInfo>>;

    /// One environment, by workspace path.
    #[method(name = "env.status", param_kind = map)]
    async fn env_status(&self, path: String) -> jsonrpsee::core::RpcResult<EnvInfo>;

    /// Stored events after `since` (none when absent), then live ones, with
    /// no gap and no duplicate between the two; filtered by environment name
    /// and kinds when given, and by `data.op` (an operation's id) when `op` is
    /// given. With `follow: false` the subscription ends after the stored
    /// events.
    #[subscription(name = "events.subscribe" => "events.event", unsubscribe = "events.unsubscribe", item = Event, param_kind = map)]
    async fn events_subscribe(
        &self,
        since: Option<u64>,
        env: Option<String>,
        kinds: Option<Vec<String>>,
        follow: Option<bool>,
        op: Option<String>,
    ) -> jsonrpsee::core::SubscriptionResult;

    /// Stops the run in progress: interrupt, then kill after the grace period
    /// set in mono.yml (`run.stop_grace`).
    #[method(name = "env.stop", param_kind = map)]
    async fn env_stop(&self, path: String) -> jsonrpsee::core::RpcResult<Stopped>;

    /// The environment's session output: the last `lines` lines (all that is
    /// kept when absent), then, with `follow` (default true), new output as
    /// it is printed and the exits of runs, in order.
    #[subscription(name = "logs.follow" => "logs.output", unsubscribe = "logs.unfollow", item = LogItem, param_kind = map)]
    async fn logs_follow(
        &self,
        path: String,
        lines: Option<u64>,
        follow: Option<bool>,
    ) -> jsonrpsee::core::SubscriptionResult;

    /// A docker-mode environment's container logs, both streams: of one
    /// service, or of every service (`service: "all"`) merged by timestamp.
    /// The last `lines` lines of each container (all when absent), then,
    /// with `follow` (default false), new lines until the containers stop.
    #[subscription(name = "logs.services" => "logs.service_output", unsubscribe = "logs.unservices", item = ServiceLogItem, param_kind = map)]
    async fn logs_services(
        &self,
        path: String,
        service: String,
        lines: Option<u64>,
        follow: Option<bool>,
    ) -> jsonrpsee::core::SubscriptionResult;

    /// Records and broadcasts an event of the caller's own (`kind` starting
    /// with `user.`), e.g. from a setup script; returns its seq.
    #[method(name = "events.publish", param_kind = map)]
    async fn events_publish(
        &self,
        kind: String,
        env: Option<String>,
        data: Option<serde_json::Value>,
    ) -> jsonrpsee::core::RpcResult<u64>;

    /// Live output of the operation started with the same `op` id.
    #[subscription(name = "ops.watch" => "ops.output", unsubscribe = "ops.unwatch", item = OpOutput, param_kind = map)]
    async fn ops_watch(&self, op: String) -> jsonrpsee::core::SubscriptionResult;

    /// The OpenRPC document of the whole API (`mono_proto::openrpc`), for
    /// clients and tools in other languages.
    #[method(name = "rpc.discover", param_kind = map)]
    async fn rpc_discover(&self) -> jsonrpsee::core::RpcResult<serde_json::Value>;
}
