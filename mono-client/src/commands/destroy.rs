//! `mono destroy [PATH]`.

use std::path::Path;

use mono_proto::ErrorCode;
use mono_proto::api::MonoApiClient;

use super::watch;
use crate::connect::Endpoint;
use crate::error::RpcError;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Tears the workspace's environment down; works after the workspace
/// folder was deleted.
pub fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let env = super::caller_env();
    let result = watch::run_op(&Endpoint::from_env()?, json, false, |client, op| {
        let (path, env) = (path.clone(), env.clone());
        async move { client.env_destroy(path, Some(env), Some(op)).await }
    });
    // Idempotent: Conductor's archive script may run twice, or after a
    // destroy by hand. Nothing registered is the state destroy makes.
    let done = match result {
        Err(e) if e.downcast_ref::<RpcError>().is_some_and(|r| r.is(ErrorCode::NotFound)) => {
            eprintln!("mono: nothing to destroy: {e}");
            if json {
                render::json(&serde_json::json!({ "name": null, "warnings": [e.to_string()] }));
            }
            return Ok(());
        }
        other => other?,
    };
    if json {
        render::json(&done);
    } else {
        println!("{} destroyed", done.name);
    }
    Ok(())
}
