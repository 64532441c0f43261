//! `mono restart SERVICE [PATH]`: restarts a docker-mode service.

use std::path::Path;

use mono_proto::ServiceRestarted;
use mono_proto::methods::{SERVICE_RESTART, ServiceRestartParams};

use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Restarts the service's containers; prints them once they run again.
pub fn run(service: &str, path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    let done: ServiceRestarted =
        ep.call(SERVICE_RESTART, ServiceRestartParams { path, service: service.to_string() })?;
    if json {
        render::json(&done);
    } else {
        println!("{}: {} restarted ({})", done.name, done.service, done.containers.join(", "));
    }
    Ok(())
}
