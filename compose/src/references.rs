//! The checks between definitions that compose makes when it loads a
//! project: what a service refers to must be defined, and its
//! dependencies must not form a cycle. Linear in the project's size.

use std::collections::{HashMap, HashSet};

use super::keypath::{At, Problem};

use super::model::{Definitions, MountSource, Service};

/// Checks references between definitions, as compose does when it loads a
/// file: services depended on, networks, named volumes and secrets must be
/// defined, and dependencies must not form a cycle.
pub(crate) fn check_references(defs: &Definitions) -> Result<(), Problem> {
    let root = At::ROOT;
    let services = root.key("services");
    let service_names: HashSet<&str> = defs.services.iter().map(|s| s.name.as_str()).collect();
    let network_keys: HashSet<&str> = defs.networks.iter().map(|n| n.key.as_str()).collect();
    let volume_keys: HashSet<&str> = defs.volumes.iter().map(|v| v.key.as_str()).collect();
    let secret_keys: HashSet<&str> = defs.secrets.iter().map(|d| d.key.as_str()).collect();
    let config_keys: HashSet<&str> = defs.configs.iter().map(|d| d.key.as_str()).collect();
    let mut container_names: HashMap<&str, &str> = HashMap::new();
    for s in &defs.services {
        let at = services.key(&s.name);
        if let Some(name) = s.container_name.as_deref()
            && let Some(other) = container_names.insert(name, &s.name)
        {
            return Err(at.key("container_name").problem(format!(
                "container name {name:?} is already used by service {other} (compose refuses it too); give each \
                 service its own container_name or remove it"
            )));
        }
        for dep in &s.depends_on {
            if !service_names.contains(dep.service.as_str()) {
                return Err(at.key("depends_on").problem(format!(
                    "service {} depends on {}, which this file does not define; define it or fix the name",
                    s.name, dep.service
                )));
            }
        }
        for network in s.networks.iter().flatten() {
            if network.name != "default" && !network_keys.contains(network.name.as_str()) {
                return Err(at.key("networks").problem(format!(
                    "network {} is not declared; add it under the top-level `networks:` (e.g. `networks: {{{}: {{}}}}`)",
                    network.name, network.name
                )));
            }
        }
        for mount in &s.volumes {
            if let MountSource::Volume(name) = &mount.source
                && !volume_keys.contains(name.as_str())
            {
                return Err(at.key("volumes").index(mount.index).problem(format!(
                    "named volume {name} is not declared; add it under the top-level `volumes:`, or write ./{name} \
                     for a folder of the workspace"
                )));
            }
        }
        for config in &s.configs {
            if !config_keys.contains(config.source.as_str()) {
                return Err(at.key("configs").index(config.index).problem(format!(
                    "config {} is not declared; add it under the top-level `configs:` with `file: PATH` or \
                     `content: TEXT`",
                    config.source
                )));
            }
        }
        for secret in &s.secrets {
            if !secret_keys.contains(secret.source.as_str()) {
                return Err(at.key("secrets").index(secret.index).problem(format!(
                    "secret {} is not declared; add it under the top-level `secrets:` with `file: PATH`",
                    secret.source
                )));
            }
        }
    }
    if let Some(cycle) = dependency_cycle(&defs.services) {
        return Err(services.key(&cycle[0]).key("depends_on").problem(format!(
            "services depend on each other in a cycle ({}); remove one of these depends_on entries",
            cycle.join(" -> ")
        )));
    }
    Ok(())
}

/// A dependency cycle, as the services along it with the first repeated at
/// the end. Depth-first, iterative (a chain of thousands of services must
/// not overflow the stack), each service and edge visited once.
fn dependency_cycle(services: &[Service]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let index: HashMap<&str, usize> =
        services.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let edges: Vec<Vec<usize>> = services
        .iter()
        .map(|s| s.depends_on.iter().filter_map(|d| index.get(d.service.as_str()).copied()).collect())
        .collect();
    let mut marks = vec![Mark::New; services.len()];
    for start in 0..services.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // The path from `start`, each with the next edge to follow.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Open;
        while let Some(&mut (i, ref mut next)) = stack.last_mut() {
            let Some(&j) = edges[i].get(*next) else {
                marks[i] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            match marks[j] {
                Mark::Open => {
                    let from = stack.iter().position(|&(k, _)| k == j).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|&(k, _)| services[k].name.clone()).collect();
                    cycle.push(services[j].name.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    marks[j] = Mark::Open;
                    stack.push((j, 0));
                }
                Mark::Done => {}
            }
        }
    }
    None
}
