//! `mono run [PATH]`.

use std::path::Path;

use mono_proto::api::MonoApiClient;

use crate::connect::{Endpoint, connect};
use crate::error::from_rpc;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Sends the run script to the environment's tmux session.
pub async fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let client = connect(&Endpoint::from_env()?).await?;
    let started = client.env_run(path, Some(super::caller_env())).await.map_err(from_rpc)?;
    if json {
        render::json(&started);
    } else {
        println!("{}: started `{}` in tmux session {}", started.name, started.script, started.session);
    }
    Ok(())
}
