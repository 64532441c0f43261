//! `mono destroy [PATH]`.

use std::path::Path;

use mono_proto::api::MonoApiClient;

use super::watch;
use crate::connect::{Endpoint, connect};
use crate::error::from_rpc;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Tears the workspace's environment down; works after the workspace
/// folder was deleted.
pub async fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let client = connect(&Endpoint::from_env()?).await?;
    let op = watch::op_id();
    let done = watch::with_progress(
        &client,
        &op,
        json,
        client.env_destroy(path, Some(super::caller_env()), Some(op.clone())),
    )
    .await
    .map_err(from_rpc)?;
    if json {
        render::json(&done);
    } else {
        println!("{} destroyed", done.name);
    }
    Ok(())
}
