//! `container.state` events: the Engine's own event stream, filtered to the
//! containers of this home's environments (labels `dev.mono.home` and
//! `dev.mono.env`), turned into events of the environments they belong to
//! (start, die with exit code, health changes, OOM kills, ...).
//!
//! Environments may live on different engines (each records the endpoint
//! it was created on), so one follower runs for monod's own engine, as
//! always, and one for each other engine in use, which reports only the
//! environments recorded on it; the own one leaves those out (two
//! endpoints may reach one engine: a context and the default socket). The
//! set is recomputed when an environment is created, fails or is destroyed
//! (events on the bus, no polling).
//!
//! A stream is followed until its engine is no longer used. When an Engine
//! is not reachable there is no event that says it came back, so
//! reconnecting waits with a backoff (1 s doubling to 60 s): negligible
//! when idle.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use mono_proto::event_kinds;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::{Endpoint, Engine, SERVICE_LABEL};
use crate::events::EventBus;
use crate::state::Store;
use mono_compose::{MONO_ENV_LABEL, MONO_HOME_LABEL};

/// Engine actions worth an event.
const ACTIONS: [&str; 8] = ["create", "start", "die", "stop", "kill", "oom", "destroy", "restart"];

/// One engine: its host and TLS files (not why it was chosen).
type EngineKey = (String, Option<super::endpoint::TlsFiles>);

/// Which containers a follower reports, by their project.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reported {
    /// The projects of the environments created on its engine.
    Only(HashSet<String>),
    /// monod's own engine: every container of this home except those of
    /// environments created on another engine (so leftovers are reported,
    /// as they always were).
    AllBut(HashSet<String>),
}

impl Reported {
    fn includes(&self, project: &str) -> bool {
        match self {
            Reported::Only(set) => set.contains(project),
            Reported::AllBut(set) => !set.contains(project),
        }
    }
}

/// A running follower: what it reports, and how to stop it.
struct Follower {
    projects: watch::Sender<Reported>,
    stop: CancellationToken,
}

/// What the watch needs: where environments are recorded, where events
/// go, and which home's containers are ours.
#[derive(Clone)]
pub struct Watched {
    /// The environments, and the engine each was created on.
    pub store: Store,
    /// Where `container.state` events go; its live channel also says when
    /// an environment comes or goes.
    pub events: EventBus,
    /// The home directory, as the containers' `dev.mono.home` label has it.
    pub home: String,
}

impl Watched {
    /// Each docker-mode environment's project (`mono-<name>`) and the
    /// Engine it was recorded on (monod's own for older rows); one whose
    /// record cannot be read is left out.
    async fn projects(&self) -> Vec<(String, Endpoint)> {
        let rows = self.store.all().await.unwrap_or_default();
        rows.into_iter()
            .filter_map(|row| {
                let at = Endpoint::recorded(row.docker_endpoint.as_deref()).ok()?;
                Some((row.docker_project?, at))
            })
            .collect()
    }
}

/// Follows the container events of every engine in use until `stop` is cancelled.
pub async fn watch_containers(watched: Watched, stop: CancellationToken) {
    let watched = Arc::new(watched);
    let mut bus = watched.events.live();
    let mut followers: HashMap<EngineKey, Follower> = HashMap::new();
    loop {
        let own = Endpoint::resolve(&super::cli_config::DockerVars::own()).ok();
        let own_key = own.as_ref().map(|at| (at.host.clone(), at.tls.clone()));
        let mut wanted: HashMap<EngineKey, (Endpoint, Reported)> = HashMap::new();
        let mut elsewhere = HashSet::new();
        for (project, at) in watched.projects().await {
            let key = (at.host.clone(), at.tls.clone());
            if Some(&key) == own_key.as_ref() {
                continue;
            }
            elsewhere.insert(project.clone());
            let entry = wanted.entry(key).or_insert_with(|| (at, Reported::Only(HashSet::new())));
            if let Reported::Only(set) = &mut entry.1 {
                set.insert(project);
            }
        }
        if let (Some(at), Some(key)) = (own, own_key) {
            wanted.insert(key, (at, Reported::AllBut(elsewhere)));
        }
        followers.retain(|key, f| {
            let keep = wanted.contains_key(key);
            if !keep {
                f.stop.cancel();
            }
            keep
        });
        for (key, (at, reported)) in wanted {
            match followers.get(&key) {
                Some(f) => {
                    f.projects.send_replace(reported);
                }
                None => {
                    let (tx, rx) = watch::channel(reported);
                    let token = stop.child_token();
                    tokio::spawn(follow_forever(watched.clone(), at, rx, token.clone()));
                    followers.insert(key, Follower { projects: tx, stop: token });
                }
            }
        }
        // Until an environment comes or goes.
        loop {
            tokio::select! {
                event = bus.recv() => match event {
                    Ok(e) if [event_kinds::ENV_CREATED, event_kinds::ENV_FAILED, event_kinds::ENV_DESTROYED]
                        .contains(&e.kind.as_str()) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        stop.cancelled().await;
                        return;
                    }
                },
                _ = stop.cancelled() => return,
            }
        }
    }
}

/// Follows one engine, reconnecting with a backoff, until `stop`.
async fn follow_forever(
    watched: Arc<Watched>,
    at: Endpoint,
    projects: watch::Receiver<Reported>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let followed = tokio::select! {
            r = follow(&watched, &at, &projects) => r,
            _ = stop.cancelled() => return,
        };
        match followed {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(e) => tracing::debug!(error = %e, endpoint = %at, "cannot follow engine events"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

async fn follow(
    watched: &Watched,
    at: &Endpoint,
    projects: &watch::Receiver<Reported>,
) -> Result<(), super::EngineError> {
    let engine = Engine::connect(at).await?;
    // Both labels: the Engine may be shared with other mono homes (another
    // user, a test suite, another machine), whose containers are not ours.
    let home = format!("{MONO_HOME_LABEL}={}", watched.home);
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("label", vec![MONO_ENV_LABEL.to_string(), home]),
    ]);
    let mut stream = engine.docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    while let Some(item) = stream.next().await {
        let event = item.map_err(super::EngineError::api("follow engine events"))?;
        let action = event.action.unwrap_or_default();
        let (action, health) = match action.strip_prefix("health_status: ") {
            Some(h) => ("health_status".to_string(), Some(h.to_string())),
            None => (action, None),
        };
        if health.is_none() && !ACTIONS.contains(&action.as_str()) {
            continue;
        }
        let attrs = event.actor.and_then(|a| a.attributes).unwrap_or_default();
        let Some(project) = attrs.get(MONO_ENV_LABEL) else { continue };
        if !projects.borrow().includes(project) {
            continue;
        }
        let env = project.strip_prefix("mono-").unwrap_or(project);
        let mut data = serde_json::json!({
            "service": attrs.get(SERVICE_LABEL),
            "container": attrs.get("name"),
            "action": action,
        });
        if let Some(code) = attrs.get("exitCode").and_then(|c| c.parse::<i64>().ok()) {
            data["exit_code"] = code.into();
        }
        if let Some(h) = health {
            data["health"] = h.into();
        }
        watched.events.emit(Some(env), event_kinds::CONTAINER_STATE, data).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_reports_its_own_environments_once() {
        let elsewhere: HashSet<String> = ["mono-a".to_string()].into();
        let own = Reported::AllBut(elsewhere.clone());
        let other = Reported::Only(elsewhere);
        assert!(other.includes("mono-a") && !own.includes("mono-a"));
        // A leftover of this home, or an environment on monod's own engine.
        assert!(own.includes("mono-b") && !other.includes("mono-b"));
    }
}
