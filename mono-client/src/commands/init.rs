//! `mono init [PATH]`.

use std::path::Path;

use mono_proto::api::MonoApiClient;

use super::watch;
use crate::connect::{Endpoint, connect};
use crate::error::from_rpc;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Sets up the workspace's environment, printing progress as it goes.
pub async fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Required)?;
    let client = connect(&Endpoint::from_env()?).await?;
    let op = watch::op_id();
    let info = watch::with_progress(
        &client,
        &op,
        json,
        client.env_init(path, Some(super::caller_env()), Some(op.clone())),
    )
    .await
    .map_err(from_rpc)?;
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
