//! `mono stop [PATH]`: stops the run in progress.

use std::path::Path;

use mono_proto::Stopped;
use mono_proto::methods::{ENV_STOP, EnvStopParams};

use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Stops the run (interrupt, then kill after the grace period).
pub fn run(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    let stopped: Stopped = ep.call(ENV_STOP, EnvStopParams { path })?;
    if json {
        render::json(&stopped);
    } else {
        match &stopped.exit {
            Some(exit) => println!("{}: run {} stopped ({})", stopped.name, exit.run, exit.describe()),
            None => println!("{}: no run in progress", stopped.name),
        }
    }
    Ok(())
}
