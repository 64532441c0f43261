//! `mono run [PATH]`.

use std::path::Path;

use mono_proto::RunStarted;
use mono_proto::methods::{ENV_RUN, PathEnvParams};

use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Sends the run script to the environment's tmux session.
pub fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    let started: RunStarted = ep.call(ENV_RUN, PathEnvParams { path, env: super::caller_env() })?;
    if json {
        render::json(&started);
    } else {
        println!("{}: started `{}` in tmux session {}", started.name, started.script, started.session);
    }
    Ok(())
}
