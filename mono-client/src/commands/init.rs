//! `mono init [PATH]`.

use std::path::Path;

use mono_proto::api::MonoApiClient;

use super::watch;
use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Sets up the workspace's environment, printing progress as it goes.
pub fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Required)?;
    let env = super::caller_env();
    let info = watch::run_op(&Endpoint::from_env()?, json, true, |client, op| {
        let (path, env) = (path.clone(), env.clone());
        async move { client.env_init(path, Some(env), Some(op)).await }
    })?;
    if json {
        render::json(&info);
    } else {
        println!(
            "{} is ready: id {}, ports {}-{}, tmux session {} (`mono attach` to enter)",
            info.name,
            info.id,
            info.port_base,
            u32::from(info.port_base) + 99,
            info.session
        );
    }
    Ok(())
}
