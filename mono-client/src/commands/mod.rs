//! One module per command.

pub mod attach;
pub mod cache;
pub mod daemon;
pub mod destroy;
pub mod doctor;
pub mod events;
pub mod gc;
pub mod init;
pub mod list;
pub mod logs;
pub mod run;
pub mod seed;
pub mod status;
pub mod stop;
pub mod urls;
pub mod watch;

use std::future::Future;

use anyhow::Context;
use mono_proto::CallerEnv;

/// Runs `fut` on a single-threaded runtime; only commands that stream
/// output over a WebSocket need one.
pub fn block_on<T>(fut: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(fut)
}

/// The caller's variables that decide its Docker Engine, for the requests
/// that need no more (`daemon.doctor`, `daemon.gc`): the rest of the
/// environment, secrets among it, stays with the caller.
pub fn docker_env() -> CallerEnv {
    caller_env().into_iter().filter(|(k, _)| mono_proto::DOCKER_VARIABLES.contains(&k.as_str())).collect()
}

/// The caller's environment, forwarded so scripts and the tmux session see
/// what the caller sees. Variables that are not UTF-8 are left out.
pub fn caller_env() -> CallerEnv {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}
