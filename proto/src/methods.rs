//! The API, declared once: every method's wire name, parameters (names,
//! types, meaning), result or notifications, and errors.
//!
//! This table is the only place a method is written. The [`contract!`]
//! macro (see [`crate::contract`]) turns it into the method-name constants
//! and [`ALL`], one parameter struct per method for clients that build
//! requests themselves (the `mono` client's one-shot HTTP path, scripts,
//! other languages), [`METHODS`] (which the OpenRPC document and the
//! daemon's parameter check read), and the jsonrpsee trait
//! ([`crate::api`]). Wire names and parameter names are what clients
//! depend on: change them only with [`crate::PROTOCOL_VERSION`].

use crate::contract::{Required, contract};

pub use crate::contract::{Call, Kind, Method, Param, Payload, Subscribe, TRANSPORT_ERRORS};

/// The parameters of any method that takes none.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// The meaning of every `path` parameter.
macro_rules! path_doc {
    () => {
        "Absolute workspace path (the mono client canonicalises it first)."
    };
}

/// The meaning of the `env` parameter of the methods that run scripts.
macro_rules! caller_env_doc {
    () => {
        "The caller's environment variables, seen by the scripts and the tmux session; none when absent."
    };
}

/// The meaning of the `op` parameter of the long operations.
macro_rules! op_doc {
    () => {
        "An id of the caller's choice. Subscribe to `ops.watch` with it first (on any WebSocket) to \
         receive this operation's output live; every watcher has been handed every line before the \
         operation replies."
    };
}

contract! {
    // The jsonrpsee trait. Its attributes and receiver are written here, not
    // in the macro, so that jsonrpsee's expansion, the receiver and the
    // method names below share one hygiene context.
    #[cfg_attr(all(feature = "server", feature = "client"), jsonrpsee::proc_macros::rpc(server, client))]
    #[cfg_attr(all(feature = "server", not(feature = "client")), jsonrpsee::proc_macros::rpc(server))]
    #[cfg_attr(all(feature = "client", not(feature = "server")), jsonrpsee::proc_macros::rpc(client))]
    trait MonoApi(&self);
    calls {
        DAEMON_STATUS = "daemon.status", fn daemon_status, DaemonStatusParams {
            summary: "Version, protocol, pid, uptime and component availability.",
            description: "Its shape is stable across protocol versions (fields are only ever added), so any \
                          client can ask any daemon which protocol it speaks.",
            params: {},
            result: "status": crate::DaemonStatus => "The daemon's state.",
            errors: [],
        }
        DAEMON_STOP = "daemon.stop", fn daemon_stop, DaemonStopParams {
            summary: "Asks the daemon to shut down cleanly; returns before it exits.",
            description: "The daemon refuses new operations, stops running scripts and rolls their \
                          operations back, answers open requests, removes its socket and exits. Stable \
                          across protocol versions.",
            params: {},
            result: "stopping": () => "Always null.",
            errors: [],
        }
        DAEMON_DOCTOR = "daemon.doctor", fn daemon_doctor, DoctorParams {
            summary: "The daemon's own health checks, for `mono doctor`.",
            description: "State database, tmux, Docker Engine, port blocks held by other programs, \
                          environments needing attention (interrupted, workspace deleted), orphaned \
                          resources, and what start-up recovery rolled back or finished. Each finding \
                          says what to do. With the caller's Docker variables, also the engine they \
                          lead to (the one `mono init` from that shell uses).",
            params: {
                env: Option<crate::CallerEnv> => "The caller's Docker variables (DOCKER_HOST, DOCKER_CONTEXT, \
                    DOCKER_CONFIG, DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH, HOME, PATH, XDG_RUNTIME_DIR); \
                    monod's own when absent.",
            },
            result: "report": crate::DoctorReport => "The findings.",
            errors: [],
        }
        DAEMON_GC = "daemon.gc", fn daemon_gc, GcParams {
            summary: "Lists, or removes, resources of this home that no environment owns.",
            description: "Tmux sessions tagged with this home, data and log directories, and Docker \
                          containers, networks and volumes labelled dev.mono.home with this home, whose \
                          environment is not registered. Nothing is removed unless apply is true.",
            params: {
                apply: Option<bool> => "true: remove what is found. Default false.",
                env: Option<crate::CallerEnv> => "The caller's Docker variables (as for daemon.doctor): the \
                    engine they lead to is searched too, beside monod's own and every engine an environment \
                    was created on.",
            },
            result: "report": crate::GcReport => "The orphans, and what could not be checked or removed.",
            errors: [Busy, Internal],
        }
        CACHE_STATS = "cache.stats", fn cache_stats, CacheStatsParams {
            summary: "The dependency cache: every entry with its size, hits, misses and last use.",
            description: "Entries are directories saved from a workspace after its init script (keyed by \
                          the content of the files a cache rule names) and images built for build: \
                          services (keyed by their context). Sizes are blocks on disk, hard-linked \
                          files counted once.",
            params: {},
            result: "stats": crate::CacheStats => "The cache's entries and totals.",
            errors: [Internal],
        }
        CACHE_CLEAN = "cache.clean", fn cache_clean, CacheCleanParams {
            summary: "Removes cache entries: all of them, or those not used for a while.",
            description: "Entries in use (being restored or saved, an image a container runs) are left \
                          and named in busy. Exactly one of all and older_than is required.",
            params: {
                all: Option<bool> => "true: remove every entry.",
                older_than: Option<String> => "Remove entries not used for this long: 30d, 12h.",
            },
            result: "cleaned": crate::CacheCleaned => "What was removed and freed.",
            errors: [Config, Docker, Internal],
        }
        ENV_INIT = "env.init", fn env_init, EnvInitParams {
            summary: "Registers and sets up the environment of a workspace.",
            description: "Checks the workspace and its mono.yml (and compose file) before anything is \
                          created, then registers it, creates its data directory, runs scripts.init, \
                          starts the compose services in docker mode, runs scripts.setup and creates its \
                          tmux session. A failure rolls back everything init made. One operation per \
                          workspace at a time; the operation outlives its client.",
            params: {
                path: Required<String> => path_doc!(),
                env: Option<crate::CallerEnv> => caller_env_doc!(),
                op: Option<String> => op_doc!(),
            },
            result: "environment": crate::EnvInfo => "The new environment.",
            errors: [
                InvalidPath, AlreadyExists, Busy, Config, ScriptFailed, Tmux, Capacity, Docker, Unavailable,
                Internal, Cancelled,
            ],
        }
        ENV_DESTROY = "env.destroy", fn env_destroy, EnvDestroyParams {
            summary: "Tears an environment down completely.",
            description: "Runs scripts.destroy (a failure is a warning), kills the tmux session, removes \
                          docker-mode containers, volumes and networks, removes the data directory and \
                          unregisters the workspace. Works when the session, data directory or workspace \
                          is already gone.",
            params: {
                path: Required<String> => path_doc!(),
                env: Option<crate::CallerEnv> => caller_env_doc!(),
                op: Option<String> => op_doc!(),
            },
            result: "destroyed": crate::Destroyed => "The environment's name and the warnings.",
            errors: [InvalidPath, NotFound, Busy, Tmux, Docker, Internal, Cancelled],
        }
        ENV_RUN = "env.run", fn env_run, EnvRunParams {
            summary: "Starts scripts.run in the run window of the environment's tmux session.",
            description: "A run already going is stopped first (interrupt, then kill after \
                          run.stop_grace). The reply comes once the run has started; its output and \
                          exit come through logs.follow (subscribe first to miss nothing) and as \
                          run.started / run.exited events. The run's id is the seq of its run.started \
                          event.",
            params: {
                path: Required<String> => path_doc!(),
                env: Option<crate::CallerEnv> => caller_env_doc!(),
            },
            result: "started": crate::RunStarted => "The run: id, pid, pane, and how a stopped previous run ended.",
            errors: [InvalidPath, NotFound, Busy, Config, Unavailable, Tmux, Internal],
        }
        ENV_STOP = "env.stop", fn env_stop, EnvStopParams {
            summary: "Stops the run in progress.",
            description: "Sends SIGINT to the run's process group, then SIGKILL after run.stop_grace from \
                          mono.yml (default 5s); replies once the run has ended.",
            params: {
                path: Required<String> => path_doc!(),
            },
            result: "stopped": crate::Stopped => "How the run ended; no exit when none was running.",
            errors: [InvalidPath, NotFound, Busy, Config, Unavailable, Tmux, Internal],
        }
        ENV_LIST = "env.list", fn env_list, EnvListParams {
            summary: "Every environment.",
            description: "Statuses come from one tmux query and, for docker mode, one Engine query for \
                          all environments.",
            params: {},
            result: "environments": Vec<crate::EnvInfo> => "All registered environments.",
            errors: [Internal],
        }
        ENV_STATUS = "env.status", fn env_status, EnvStatusParams {
            summary: "One environment, by workspace path.",
            description: "Fails with not_found when the path is not registered.",
            params: {
                path: Required<String> => path_doc!(),
            },
            result: "environment": crate::EnvInfo => "The environment.",
            errors: [InvalidPath, NotFound, Internal],
        }
        SEED_REFRESH = "seed.refresh", fn seed_refresh, SeedRefreshParams {
            summary: "Drops the seed snapshot an environment was seeded from, so the next init seeds again.",
            description: "For a seed that depends on something outside its key files. The snapshot is \
                          the one the environment's init restored or captured (mono.yml seed:); the \
                          environment itself is not changed. Fails with invalid_params when it has none, \
                          or when another init is restoring or capturing it.",
            params: {
                path: Required<String> => path_doc!(),
            },
            result: "refreshed": crate::SeedRefreshed => "The snapshot dropped.",
            errors: [InvalidPath, NotFound, Internal],
        }
        SERVICE_RESTART = "service.restart", fn service_restart, ServiceRestartParams {
            summary: "Restarts a docker-mode service's containers.",
            description: "Each container of the service is restarted by the Engine, which stops it with \
                          its stop signal and grace period (the compose file's stop_signal and \
                          stop_grace_period) and starts it again; its ports, volumes and network stay. \
                          Replies once every one has started again. Fails with unavailable for a \
                          simple-mode environment or a service it does not have, and busy while \
                          another operation holds the environment.",
            params: {
                path: Required<String> => path_doc!(),
                service: Required<String> => "The compose service to restart.",
            },
            result: "restarted": crate::ServiceRestarted => "The environment, the service and its containers.",
            errors: [InvalidPath, NotFound, Busy, Unavailable, Docker, Internal],
        }
        EVENTS_PUBLISH = "events.publish", fn events_publish, EventsPublishParams {
            summary: "Publishes an event of the caller's own.",
            description: "The event is stored and delivered like the daemon's own; its kind must start \
                          with `user.` followed by [a-z0-9._-] (at most 64 characters in all), else the \
                          call fails with invalid params (-32602); env, when given, must name a \
                          registered environment.",
            params: {
                kind: Required<String> => "The event's kind, e.g. user.tests-passed.",
                env: Option<String> => "The environment it concerns (by name).",
                data: Option<::serde_json::Value> => "Any JSON value.",
            },
            result: "seq": u64 => "The event's seq.",
            errors: [NotFound, Internal],
        }
        RPC_DISCOVER = "rpc.discover", fn rpc_discover, RpcDiscoverParams {
            summary: "This document: the OpenRPC description of the whole API.",
            description: "Takes no parameters. Works over HTTP POST and WebSocket.",
            params: {},
            result: "OpenRPC Schema": ::serde_json::Value as crate::schema::OpenRpcDocument
                => "An OpenRPC 1.2.6 document.",
            errors: [],
        }
    }
    subscriptions {
        LOGS_FOLLOW = "logs.follow", fn logs_follow, LogsFollowParams {
            notification: LOGS_OUTPUT = "logs.output",
            unsubscribe: LOGS_UNFOLLOW = "logs.unfollow",
            summary: "The session's output: the last lines kept, then live output and run exits.",
            description: "Output of every pane of the session, as written to the rolling log (terminal \
                          escapes included). A run_exited item comes after all of that run's output. \
                          With follow false the subscription ends after the kept output with an end \
                          item; it also ends with an end item when the environment is destroyed.",
            params: {
                path: Required<String> => path_doc!(),
                lines: Option<u64> => "Only the last LINES lines of kept output (0: none, only new output); \
                    all when absent.",
                follow: Option<bool> => "false: end after the kept output. Default true.",
            },
            item: "item": crate::LogItem => "Output text, a run's exit, or the end.",
            errors: [InvalidPath, NotFound, Internal],
        }
        LOGS_SERVICES = "logs.services", fn logs_services, LogsServicesParams {
            notification: LOGS_SERVICE_OUTPUT = "logs.service_output",
            unsubscribe: LOGS_UNSERVICES = "logs.unservices",
            summary: "A docker-mode environment's container logs: one service, or all merged by timestamp.",
            description: "Both streams of each container as the Engine keeps them, as `docker compose logs` \
                          shows them. A services item comes first, then lines in timestamp order. With \
                          follow true, new lines follow until every container stopped; then, or after \
                          the kept lines without follow, an end item. An unknown service is an \
                          unavailable error naming the services that exist; so is an environment in \
                          simple mode.",
            params: {
                path: Required<String> => path_doc!(),
                service: Required<String> => "A service name, or `all` for every service.",
                lines: Option<u64> => "Only the last LINES lines of each container (0: none, only new \
                    lines); all when absent.",
                follow: Option<bool> => "true: keep sending new lines. Default false.",
            },
            item: "item": crate::ServiceLogItem => "The services, a line, or the end.",
            errors: [InvalidPath, NotFound, Unavailable, Docker, Internal],
        }
        EVENTS_SUBSCRIBE = "events.subscribe", fn events_subscribe, EventsSubscribeParams {
            notification: EVENTS_EVENT = "events.event",
            unsubscribe: EVENTS_UNSUBSCRIBE = "events.unsubscribe",
            summary: "The event stream: stored events after `since`, then live ones.",
            description: "Replay and live events join with no gap and no duplicate. Events are filtered \
                          by environment name and kinds when given. Two control notices have seq 0: \
                          `subscription.end` (with follow false, after the stored events; the \
                          subscription then ends) and `subscription.lagged` (the subscriber fell more \
                          than 4096 events behind and was dropped; resume with since = data.last_seq). \
                          Operations' output (env.progress, image.pull) is live only: never stored nor \
                          replayed, sent with seq 0 only to a subscriber that names those kinds in \
                          `kinds`, while it follows; one more than 4096 lines behind misses some.",
            params: {
                since: Option<u64> => "Replay the stored events with a greater seq first; without it only \
                    live events come.",
                env: Option<String> => "Only events of this environment (by name).",
                kinds: Option<Vec<String>> => "Only events of these kinds; the live-only kinds (env.progress, image.pull) come only when named.",
                follow: Option<bool> => "false: end after the stored events, with a `subscription.end` \
                    notice. Default true.",
                op: Option<String> => "Only events of the operation started with this `op` id \
                    (env.progress, env.ready, env.failed).",
            },
            item: "event": crate::Event => "One event or control notice.",
            errors: [Internal],
        }
        OPS_WATCH = "ops.watch", fn ops_watch, OpsWatchParams {
            notification: OPS_OUTPUT = "ops.output",
            unsubscribe: OPS_UNWATCH = "ops.unwatch",
            summary: "Live output of the operation started with the same `op` id.",
            description: "Subscribe first, then call env.init or env.destroy with this `op`, from this \
                          connection or any other. Any number of connections may watch one id: each \
                          watcher gets every line, and one that ends first leaves the others watching. \
                          The operation replies only once every watcher has been handed every line (or \
                          after 2 s for a watcher that does not read); a watcher more than 1024 lines \
                          behind misses lines, and a note says how many. The subscription ends when the \
                          operation does.",
            params: {
                op: Required<String> => "The id the operation will be started with.",
            },
            item: "output": crate::OpOutput => "One line of progress: mono's own step (log) or a script's \
                stdout/stderr.",
            errors: [],
        }
    }
}

/// The method called `name` (not an unsubscribe method), if there is one.
pub fn method(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}
