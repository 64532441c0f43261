//! The published ports of environments on remote engines, brought home
//! over the engine's SSH connection (see [`crate::ssh`]): set up before the
//! setup script runs, dropped with the environment, set up again when
//! monod starts, and shown in `mono status`.

use std::sync::Arc;

use mono_proto::{Finding, PortForward, Severity};

use super::{OpError, Ops};
use crate::docker::{self, Endpoint, Engine};
use crate::logs::progress::Progress;
use crate::ssh::{self, ForwardState, SshTarget};
use crate::state::{EnvRow, Phase};

/// The SSH target of an engine on another machine (`ssh://`); `None` for
/// a local one.
pub(super) fn remote_target(at: &Endpoint) -> Option<SshTarget> {
    SshTarget::parse(&at.host).ok()
}

/// Paths of the engine host's own system, which a bind names on whichever
/// machine the engine runs (`/var/run/docker.sock`, `/etc/localtime`, ...).
const ENGINE_HOST_PATHS: &[&str] =
    &["/var/run", "/run", "/dev", "/sys", "/proc", "/etc/localtime", "/etc/timezone", "/lib/modules"];

/// Refuses, before anything exists, what cannot work on an engine on
/// another machine: a `tcp://` engine (its ports cannot be brought home),
/// and binds of this machine's files (the workspace, secrets, configs).
pub(super) fn check_remote(at: &Endpoint, plan: &mono_compose::Plan) -> Result<(), OpError> {
    if !at.is_remote() {
        return Ok(());
    }
    if remote_target(at).is_none() {
        return Err(OpError::RemoteTcp { engine: at.to_string() });
    }
    for service in &plan.services {
        for mount in &service.mounts {
            let mono_compose::MountKind::Bind { source } = &mount.kind else { continue };
            if ENGINE_HOST_PATHS.iter().any(|p| source.starts_with(p)) {
                continue;
            }
            return Err(OpError::RemoteBind {
                service: service.name.clone(),
                source_: source.display().to_string(),
                target: mount.target.clone(),
                engine: at.to_string(),
            });
        }
    }
    Ok(())
}

impl Ops {
    /// Forwards `ports` (host port, protocol) of `env` from its engine at
    /// `at`, when that engine is remote; waits until they answer here.
    pub(super) async fn forward_ports(
        &self,
        env: &str,
        at: &Endpoint,
        ports: &[(u16, &str)],
        progress: &Progress,
    ) -> Result<(), OpError> {
        let (Some(target), Some(masters)) = (remote_target(at), ssh::masters()) else {
            return Ok(());
        };
        let (tcp, other): (Vec<_>, Vec<_>) = ports.iter().partition(|(_, proto)| *proto == "tcp");
        for (port, proto) in &other {
            progress.step(format!(
                "warning: {port}/{proto} is not forwarded from {target}: SSH carries TCP only"
            ));
        }
        let mut tcp: Vec<u16> = tcp.iter().map(|(port, _)| *port).collect();
        tcp.sort_unstable();
        tcp.dedup();
        if tcp.is_empty() {
            return Ok(());
        }
        masters
            .of(&target)
            .forward(env, &tcp)
            .await
            .map_err(|source| OpError::Forward { env: env.to_string(), source })?;
        let list: Vec<String> = tcp.iter().map(u16::to_string).collect();
        progress.step(format!("forwarded 127.0.0.1:{{{}}} from {target}", list.join(",")));
        Ok(())
    }

    /// Drops `env`'s forwards, if it has any.
    pub(super) async fn release_forwards(&self, env: &str) {
        if let Some(masters) = ssh::masters() {
            masters.release(env).await;
        }
    }

    /// At start: every ready environment on a remote engine gets the
    /// forwards of the ports its containers publish back.
    pub async fn restore_forwards(self: &Arc<Self>) {
        let rows = match self.store.all().await {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!(error = %e, "cannot read environments to restore forwards"),
        };
        let remote: Vec<(EnvRow, Endpoint)> = rows
            .into_iter()
            .filter(|r| r.docker_project.is_some() && r.phase == Phase::Ready)
            .filter_map(|r| {
                let at = super::teardown::endpoint_of(&r).ok()?;
                remote_target(&at).map(|_| (r, at))
            })
            .collect();
        let home = self.home.root().display().to_string();
        for (row, at) in remote {
            let listed =
                async { docker::project_containers(&Engine::connect(&at).await?, &home).await }.await;
            let containers = match listed {
                Ok(mut all) => row.docker_project.as_ref().and_then(|p| all.remove(p)).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(env = %row.name, error = %e, "cannot list containers to restore forwards");
                    continue;
                }
            };
            let ports: Vec<(u16, &str)> = containers
                .iter()
                .flat_map(|c| c.ports.iter().map(|p| (p.host_port, p.protocol.as_str())))
                .collect();
            let mut progress = self.progress("forwards", None);
            progress.set_env(&row.name);
            if let Err(e) = self.forward_ports(&row.name, &at, &ports, &progress).await {
                tracing::warn!(env = %row.name, error = %e, "cannot restore forwards");
            }
            // Destroyed meanwhile: its teardown released before these came up.
            if !self.store.by_path(&row.path).await.is_ok_and(|r| r.is_some_and(|r| r.id == row.id)) {
                self.release_forwards(&row.name).await;
            }
        }
    }
}

/// The local end of `port`'s forward, when `row`'s engine is remote.
pub(super) fn forward_of(row: &EnvRow, port: u16) -> Option<PortForward> {
    let at = super::teardown::endpoint_of(row).ok()?;
    let target = remote_target(&at)?;
    // A status read never starts an SSH login.
    let state = ssh::masters()?.running(&target).and_then(|m| m.state_of(port));
    let (up, detail) = match state {
        Some(ForwardState::Up) => (true, None),
        Some(ForwardState::Down(reason)) => (false, Some(reason)),
        None => (false, Some("not forwarded".to_string())),
    };
    Some(PortForward { local: format!("127.0.0.1:{port}"), up, detail })
}

/// `mono doctor`: each remote engine's SSH connection, and whether each of
/// its forwards is in place and answers here.
pub(super) async fn findings() -> Vec<Finding> {
    let Some(masters) = ssh::masters() else { return Vec::new() };
    let mut out = Vec::new();
    for master in masters.all() {
        let target = master.target().to_string();
        let forwards = master.forwards();
        if let Err(reason) = master.connection() {
            out.push(Finding {
                check: "forwards".into(),
                severity: if forwards.is_empty() { Severity::Warning } else { Severity::Error },
                message: format!(
                    "no SSH connection to {target} ({reason}); {} forward(s) are down",
                    forwards.len()
                ),
                fix: Some(format!("check that `ssh {}` logs in without a prompt", master.target().dest)),
            });
            continue;
        }
        let mut down = Vec::new();
        for (port, env, state) in &forwards {
            let answers = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                tokio::net::TcpStream::connect(("127.0.0.1", *port)),
            )
            .await
            .is_ok_and(|c| c.is_ok());
            match (state, answers) {
                (ForwardState::Up, true) => {}
                (ForwardState::Up, false) => {
                    down.push(format!("{env} 127.0.0.1:{port} (nothing listens here)"))
                }
                (ForwardState::Down(why), _) => down.push(format!("{env} 127.0.0.1:{port} ({why})")),
            }
        }
        out.push(match down.is_empty() {
            true => Finding {
                check: "forwards".into(),
                severity: Severity::Ok,
                message: format!(
                    "SSH connection to {target} is up; {} forward(s) answer here",
                    forwards.len()
                ),
                fix: None,
            },
            false => Finding {
                check: "forwards".into(),
                severity: Severity::Error,
                message: format!("forwards from {target} are down: {}", down.join(", ")),
                fix: Some(
                    "restart monod to set them up again, or `mono destroy` and `mono init` the environment"
                        .into(),
                ),
            },
        });
    }
    out
}
