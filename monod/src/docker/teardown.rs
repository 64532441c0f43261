//! Taking an environment's project down: its containers (stopped with their
//! own stop signal and grace period, then removed with their anonymous
//! volumes, all at once), then its networks, then its named volumes.
//!
//! Objects are found by the environment's labels (`dev.mono.home` and
//! `dev.mono.env`), never by name: another home's objects of the same name
//! stay, and two networks of one name (possible on old engines) are told
//! apart by id. Whatever is already gone is skipped, so teardown also
//! finishes what a crash, a failed init or a person left.

use tokio::task::JoinSet;

use super::engine::{Engine, EngineError};
use super::owned::{self, ObjectKind, Owned};
use super::ownership::EnvLabels;
use crate::progress::Progress;

/// Removes every container, network and volume of the environment.
pub async fn teardown(engine: &Engine, env: EnvLabels<'_>, progress: &Progress) -> Result<(), EngineError> {
    let objects = owned::of_env(engine, env).await?;
    let (containers, others): (Vec<Owned>, Vec<Owned>) =
        objects.into_iter().partition(|o| o.kind == ObjectKind::Container);
    // Every removal is waited for, also after one failed, so nothing is
    // still being removed when the caller looks at what is left.
    let mut removals = JoinSet::new();
    for container in containers {
        let engine = engine.clone();
        removals.spawn(async move { owned::remove(&engine, &container).await.map(|()| container.name) });
    }
    let mut first_error = None;
    while let Some(joined) = removals.join_next().await {
        match joined {
            Ok(Ok(name)) => progress.step(format!("removed container {name}")),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(EngineError::Conflict {
                    what: format!("container removal panicked: {e}"),
                });
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    for object in others {
        owned::remove(engine, &object).await?;
        progress.step(format!("removed {} {}", object.kind, object.name));
    }
    Ok(())
}

/// What is left of the environment, one `kind name` each.
pub async fn leftovers(engine: &Engine, env: EnvLabels<'_>) -> Result<Vec<String>, EngineError> {
    let objects = owned::of_env(engine, env).await?;
    Ok(objects.iter().map(|o| format!("{} {}", o.kind, o.name)).collect())
}
