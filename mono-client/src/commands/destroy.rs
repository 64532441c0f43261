//! `mono destroy [PATH]`.

use std::path::Path;

use mono_proto::api::MonoApiClient;

use super::watch;
use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Tears the workspace's environment down; works after the workspace
/// folder was deleted.
pub fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let env = super::caller_env();
    let done = watch::run_op(&Endpoint::from_env()?, json, |client, op| {
        let (path, env) = (path.clone(), env.clone());
        async move { client.env_destroy(path, Some(env), Some(op)).await }
    })?;
    if json {
        render::json(&done);
    } else {
        println!("{} destroyed", done.name);
    }
    Ok(())
}
