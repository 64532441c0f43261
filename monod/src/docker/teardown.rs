//! Taking an environment's project down: its containers (each sent its own
//! stop signal, given a short grace, then removed with its anonymous
//! volumes), then its networks and named volumes.
//!
//! Containers stop as `docker compose down` stops them, dependents before
//! what they depend on, and in parallel wherever the dependencies allow: a
//! container starts stopping as soon as every container that depends on it
//! is gone. The grace is `compose.destroy_grace` (1 s by default) unless a
//! service sets `stop_grace_period`: destroy deletes the data too, so
//! waiting the Engine's 10 s for a process that ignores SIGTERM buys
//! nothing.
//!
//! Objects are found by the environment's labels (`dev.mono.home` and
//! `dev.mono.env`), never by name: another home's objects of the same name
//! stay, and two networks of one name (possible on old engines) are told
//! apart by id. Whatever is already gone is skipped, so teardown also
//! finishes what a crash, a failed init or a person left.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;

use super::engine::{Engine, EngineError};
use super::owned::{self, ObjectKind, Owned};
use super::ownership::EnvLabels;
use crate::logs::progress::Progress;

/// Removes every container, network and volume of the environment; running
/// containers get `grace` to stop unless they have their own
/// `stop_grace_period`.
pub async fn teardown(
    engine: &Engine,
    env: EnvLabels<'_>,
    grace: Duration,
    progress: &Progress,
) -> Result<(), EngineError> {
    let objects = owned::of_env(engine, env).await?;
    let (containers, others): (Vec<Owned>, Vec<Owned>) =
        objects.into_iter().partition(|o| o.kind == ObjectKind::Container);
    let names = remove_all(engine, containers_in_order(containers), grace).await?;
    for name in names {
        progress.step(format!("removed container {name}"));
    }
    // Networks and volumes do not depend on each other: all at once.
    let removed = remove_all(engine, others.into_iter().map(|o| (o, Vec::new())).collect(), grace).await?;
    for name in removed {
        progress.step(format!("removed {name}"));
    }
    Ok(())
}

/// Each container with the indices of the containers that must be gone
/// before it stops: those of the services that depend on it.
fn containers_in_order(containers: Vec<Owned>) -> Vec<(Owned, Vec<usize>)> {
    let mut by_service: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in containers.iter().enumerate() {
        if let Some(service) = &c.service {
            by_service.entry(service).or_default().push(i);
        }
    }
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); containers.len()];
    for (i, c) in containers.iter().enumerate() {
        for dependency in &c.depends_on {
            for &d in by_service.get(dependency.as_str()).into_iter().flatten() {
                if d != i {
                    after[d].push(i);
                }
            }
        }
    }
    containers.into_iter().zip(after).collect()
}

/// Removes the objects, each once the ones it waits for have stopped, as
/// many at a time as that allows: an object's removal runs while those
/// after it stop. Returns `kind name` (containers: the name) of each in the
/// order removed. Every task started is waited for, also after one failed,
/// so nothing is still being removed when the caller looks at what is
/// left; the first error is returned.
async fn remove_all(
    engine: &Engine,
    objects: Vec<(Owned, Vec<usize>)>,
    grace: Duration,
) -> Result<Vec<String>, EngineError> {
    let mut waiting_for: Vec<usize> = objects.iter().map(|(_, after)| after.len()).collect();
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); objects.len()];
    for (i, (_, after)) in objects.iter().enumerate() {
        for &a in after {
            unblocks[a].push(i);
        }
    }
    let mut objects: Vec<Option<Owned>> = objects.into_iter().map(|(o, _)| Some(o)).collect();
    let mut stops = JoinSet::new();
    let mut removals = JoinSet::new();
    let start = |i: usize, stops: &mut JoinSet<_>, objects: &mut Vec<Option<Owned>>| {
        if let Some(object) = objects[i].take() {
            let engine = engine.clone();
            stops.spawn(async move { (i, owned::stop(&engine, &object, grace).await.map(|()| object)) });
        }
    };
    let ready: Vec<usize> = (0..objects.len()).filter(|&i| waiting_for[i] == 0).collect();
    for i in ready {
        start(i, &mut stops, &mut objects);
    }
    let panicked =
        |e: tokio::task::JoinError| EngineError::Conflict { what: format!("removal panicked: {e}") };
    let mut removed = Vec::new();
    let mut first_error = None;
    loop {
        tokio::select! {
            Some(stopped) = stops.join_next() => match stopped {
                Ok((i, Ok(mut object))) => {
                    // Stopped: removed without a second wait.
                    object.running = false;
                    let engine = engine.clone();
                    removals.spawn(async move { owned::remove(&engine, &object, grace).await.map(|()| object) });
                    if first_error.is_none() {
                        for &next in &unblocks[i] {
                            waiting_for[next] -= 1;
                            if waiting_for[next] == 0 {
                                start(next, &mut stops, &mut objects);
                            }
                        }
                    }
                }
                Ok((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(panicked(e));
                }
            },
            Some(done) = removals.join_next() => match done {
                Ok(Ok(object)) => removed.push(match object.kind {
                    ObjectKind::Container => object.name,
                    kind => format!("{kind} {}", object.name),
                }),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(panicked(e));
                }
            },
            else => {
                // A dependency cycle (the labels were edited by hand) or a
                // failed stop leaves some waiting: after an error nothing
                // more is started; otherwise the rest go at once.
                if first_error.is_some() || objects.iter().all(Option::is_none) {
                    break;
                }
                for i in 0..objects.len() {
                    start(i, &mut stops, &mut objects);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// What is left of the environment, one `kind name` each.
pub async fn leftovers(engine: &Engine, env: EnvLabels<'_>) -> Result<Vec<String>, EngineError> {
    let objects = owned::of_env(engine, env).await?;
    Ok(objects.iter().map(|o| format!("{} {}", o.kind, o.name)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, depends_on: &[&str]) -> Owned {
        Owned {
            kind: ObjectKind::Container,
            project: "mono-x".into(),
            name: format!("mono-x-{service}-1"),
            id: service.into(),
            service: Some(service.into()),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            running: true,
        }
    }

    #[test]
    fn dependents_stop_before_their_dependencies() {
        let order = containers_in_order(vec![
            container("cache", &[]),
            container("db", &[]),
            container("web", &["db", "cache"]),
            container("worker", &["db"]),
        ]);
        let after = |name: &str| {
            let (_, after) = order.iter().find(|(c, _)| c.service.as_deref() == Some(name)).unwrap();
            let mut names: Vec<&str> =
                after.iter().map(|&i| order[i].0.service.as_deref().unwrap()).collect();
            names.sort();
            names
        };
        assert_eq!(after("db"), ["web", "worker"]);
        assert_eq!(after("cache"), ["web"]);
        assert!(after("web").is_empty() && after("worker").is_empty());
    }

    #[test]
    fn unknown_and_self_dependencies_do_not_block() {
        let order = containers_in_order(vec![container("a", &["a", "gone"])]);
        assert!(order[0].1.is_empty());
    }
}
