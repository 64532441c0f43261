//! `mono status [PATH]`.

use std::path::Path;

use mono_proto::api::MonoApiClient;

use crate::connect::{Endpoint, connect};
use crate::error::from_rpc;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Shows one environment.
pub async fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let client = connect(&Endpoint::from_env()?).await?;
    let info = client.env_status(path).await.map_err(from_rpc)?;
    if json {
        render::json(&info)
    } else {
        render::status(&info)
    }
    Ok(())
}
