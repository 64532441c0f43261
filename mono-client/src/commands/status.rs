//! `mono status [PATH]`.

use std::path::Path;

use mono_proto::EnvInfo;
use mono_proto::methods::{ENV_STATUS, EnvStatusParams};

use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Shows one environment.
pub fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let info: EnvInfo = Endpoint::from_env()?.query(ENV_STATUS, EnvStatusParams { path })?;
    if json {
        render::json(&info)
    } else {
        render::status(&info)
    }
    Ok(())
}
