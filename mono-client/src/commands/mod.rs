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
pub mod restart;
pub mod run;
pub mod seed;
pub mod status;
pub mod stop;
pub mod urls;
pub mod watch;

use std::future::Future;

use anyhow::Context;
use mono_proto::CallerEnv;

use crate::connect::Endpoint;
use crate::liveness::{self, PATIENCE};

/// Runs `fut`, a command talking to `ep`'s daemon over a WebSocket, on a
/// single-threaded runtime. Beside it, the daemon is checked on after every
/// [`PATIENCE`] (a fresh `daemon.status`, see [`liveness`]), so a daemon
/// stopped or hung at any point of the command (after the handshake, in
/// the middle of an operation or a follow) is named within seconds instead
/// of waited for. A live daemon answers a check in microseconds; a long
/// operation is not cut short.
pub fn block_on<T>(ep: &Endpoint, fut: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let (socket, lock) = (ep.socket.clone(), ep.lock());
    let watchdog = async move {
        loop {
            tokio::time::sleep(PATIENCE).await;
            let (socket, lock) = (socket.clone(), lock.clone());
            if let Err(hung) = tokio::task::spawn_blocking(move || liveness::check(&socket, &lock))
                .await
                .context("the daemon check failed")?
            {
                return Err::<T, _>(anyhow::Error::new(hung));
            }
        }
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async {
            tokio::select! {
                out = fut => out,
                hung = watchdog => hung,
            }
        })
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
