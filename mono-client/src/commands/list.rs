//! `mono list`.

use mono_proto::api::MonoApiClient;

use crate::connect::{Endpoint, connect};
use crate::error::from_rpc;
use crate::render;

/// Lists every environment.
pub async fn run(json: bool) -> anyhow::Result<()> {
    let client = connect(&Endpoint::from_env()?).await?;
    let envs = client.env_list().await.map_err(from_rpc)?;
    if json {
        render::json(&envs);
    } else if envs.is_empty() {
        println!("no environments; `mono init PATH` creates one");
    } else {
        render::table(&envs);
    }
    Ok(())
}
