//! The Docker Engines an operation over the whole home visits (`mono gc`):
//! monod's own, each one an environment was created on (recorded with it),
//! and the caller's, which may be none of those (a Colima or remote engine
//! chosen in the caller's shell). Each is visited once however many ways
//! lead to it (told apart by the Engine's own id).

use mono_proto::CallerEnv;

use crate::docker::cli_config::DockerVars;
use crate::docker::{Endpoint, Engine};
use crate::state::EnvRow;

/// The engines reached, and a note for each one that could not be.
pub(super) async fn reach(rows: &[EnvRow], caller: &CallerEnv) -> (Vec<Engine>, Vec<String>) {
    let mut notes = Vec::new();
    let mut wanted: Vec<Endpoint> = Vec::new();
    let mut add = |at: Endpoint| {
        if !wanted.iter().any(|w| w.host == at.host && w.tls == at.tls) {
            wanted.push(at);
        }
    };
    match Endpoint::resolve(&DockerVars::own()) {
        Ok(at) => add(at),
        Err(e) => notes.push(format!("Docker objects not checked: {e}")),
    }
    for row in rows.iter().filter(|r| r.docker_project.is_some()) {
        match super::teardown::endpoint_of(row) {
            Ok(at) => add(at),
            Err(e) => notes.push(format!("Docker objects not checked: {e}")),
        }
    }
    if !caller.is_empty() {
        match Endpoint::resolve(&DockerVars::of_caller(caller)) {
            Ok(at) => add(at),
            Err(e) => notes.push(format!("Docker objects not checked: {e}")),
        }
    }
    let mut engines = Vec::new();
    let mut ids = Vec::new();
    for at in &wanted {
        match Engine::connect(at).await {
            // Two endpoints may lead to one engine (its socket, and a
            // context or TLS front to it): its objects are listed once.
            Ok(engine) => match engine.docker.info().await.ok().and_then(|i| i.id) {
                Some(id) if ids.contains(&id) => {}
                id => {
                    ids.extend(id);
                    engines.push(engine);
                }
            },
            // No Engine: nothing of ours can be running in it right now.
            Err(e) => notes.push(format!("Docker objects not checked: {e}")),
        }
    }
    (engines, notes)
}
