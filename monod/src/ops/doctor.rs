//! `mono doctor`, the daemon's half: every check says what it found and,
//! when something is wrong, what to do. The client adds what only it can
//! see (the home's permissions and file system, the lock, whether the
//! daemon answers, and version mismatches) and renders both.
//!
//! When no daemon answers (none runs, it cannot start, it is hung), the
//! client still gets the checks that need none from `monod doctor`
//! ([`offline`]): a damaged, truncated or too new `state.db` is what keeps
//! a daemon from starting.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mono_proto::{CallerEnv, DoctorReport, Finding, Severity};

use super::{Ops, shell_quote};
use crate::docker::cli_config::DockerVars;
use crate::docker::{Endpoint, Engine, EngineError, owned};
use crate::home::Home;
use crate::ports::{self, listening};
use crate::state::{self, EnvRow, FileCheck, Phase, StateError};
use crate::tmux;

fn finding(check: &str, severity: Severity, message: String, fix: Option<String>) -> Finding {
    Finding { check: check.to_string(), severity, message, fix }
}

impl Ops {
    /// Runs the daemon's checks; `caller` holds the caller's Docker
    /// variables (empty: monod's own are all there is to check).
    pub async fn doctor(&self, caller: &CallerEnv) -> DoctorReport {
        let mut findings = Vec::new();
        findings.push(self.check_state().await);
        let tmux = tmux::probe().await;
        findings.push(if tmux.available {
            finding("tmux", Severity::Ok, tmux.detail, None)
        } else {
            finding("tmux", Severity::Error, tmux.detail, Some("install tmux (3.2 or newer)".into()))
        });
        let rows = self.store.all().await.unwrap_or_default();
        let (engine, docker_findings) = check_engines(&rows, caller).await;
        findings.extend(docker_findings);
        findings.extend(super::forwards::findings().await);
        findings.extend(self.check_environments(&rows));
        findings.extend(check_sessions(&rows).await);
        let published = match &engine {
            Ok(engine) => owned::published_ports(engine, &self.home.root().display().to_string())
                .await
                .unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        findings.extend(check_ports(&rows, &published).await);
        findings.extend(self.check_orphans().await);
        for line in self.recovered() {
            findings.push(finding("recovery", Severity::Ok, format!("at start-up: {line}"), None));
        }
        DoctorReport { findings }
    }

    async fn check_state(&self) -> Finding {
        let checked =
            self.store.check().await.map(|(version, verdict)| FileCheck::Checked { version, verdict });
        state_finding(self.store.path(), checked)
    }

    fn check_environments(&self, rows: &[EnvRow]) -> Vec<Finding> {
        let mut out = Vec::new();
        for row in rows {
            let destroy = Some(format!("mono destroy {}", shell_quote(&row.path)));
            if row.phase == Phase::Failed {
                let why =
                    row.failure.as_deref().unwrap_or("an operation on it was interrupted or failed part-way");
                out.push(finding(
                    "environments",
                    Severity::Warning,
                    format!("{}: {why}", row.name),
                    destroy.clone(),
                ));
            }
            if !Path::new(&row.path).is_dir() {
                out.push(finding(
                    "environments",
                    Severity::Warning,
                    format!("{}: its workspace {} no longer exists", row.name, row.path),
                    destroy,
                ));
            }
        }
        if out.is_empty() {
            out.push(finding(
                "environments",
                Severity::Ok,
                format!("{} registered, none needs attention", rows.len()),
                None,
            ));
        }
        out
    }

    async fn check_orphans(&self) -> Vec<Finding> {
        match self.orphans().await {
            Ok((orphans, skipped)) => {
                let mut out: Vec<Finding> = orphans
                    .iter()
                    .map(|o| {
                        let what = if o.kind == mono_proto::OrphanKind::Link {
                            "sits where mono keeps a directory, and mono does not follow it"
                        } else {
                            "belongs to no environment"
                        };
                        finding(
                            "orphans",
                            Severity::Warning,
                            format!("{} {} (of {}) {what}", o.kind, o.name, o.owner),
                            Some("mono gc --yes".into()),
                        )
                    })
                    .collect();
                if out.is_empty() {
                    out.push(finding(
                        "orphans",
                        Severity::Ok,
                        "no orphaned sessions, directories or Docker objects".into(),
                        None,
                    ));
                }
                out.extend(skipped.into_iter().map(|s| finding("orphans", Severity::Warning, s, None)));
                out
            }
            Err(e) => vec![finding("orphans", Severity::Error, e.to_string(), None)],
        }
    }
}

/// The `docker` findings: every engine an environment was created on
/// (its endpoint as recorded, and why it was chosen), then the one monod's
/// own environment leads to, which status and the cache use and which
/// callers that forward no environment get. Returns that one's client.
/// The engines that matter: each one environments were created on, monod's
/// own (events, gc), and the caller's, which `mono init` from the caller's
/// shell would use.
async fn check_engines(rows: &[EnvRow], caller: &CallerEnv) -> (Result<Engine, EngineError>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut used: Vec<(Endpoint, usize)> = Vec::new();
    for row in rows.iter().filter(|r| r.docker_project.is_some()) {
        match super::teardown::endpoint_of(row) {
            Ok(at) => match used.iter_mut().find(|(u, _)| u.host == at.host && u.tls == at.tls) {
                Some((_, n)) => *n += 1,
                None => used.push((at, 1)),
            },
            Err(e) => findings.push(finding("docker", Severity::Error, e.to_string(), None)),
        }
    }
    let own = Endpoint::resolve(&DockerVars::own());
    for (at, n) in &used {
        if own.as_ref().is_ok_and(|o| o.host == at.host && o.tls == at.tls) {
            continue;
        }
        let of = format!("{n} environment(s) were created on it");
        findings.push(match connect(at).await {
            Ok(engine) => finding(
                "docker",
                Severity::Ok,
                format!("{} at {at}; {of}", engine_version(&engine).await),
                None,
            ),
            Err(e) => finding(
                "docker",
                Severity::Error,
                format!("{e} ({of})"),
                Some("start that engine (its destroy and events need it)".into()),
            ),
        });
    }
    let own_users = match &own {
        Ok(o) => used.iter().find(|(u, _)| u.host == o.host && u.tls == o.tls).map_or(0, |(_, n)| *n),
        Err(_) => 0,
    };
    let theirs = (!caller.is_empty()).then(|| Endpoint::resolve(&DockerVars::of_caller(caller)));
    let same = |a: &Endpoint, b: &Endpoint| a.host == b.host && a.tls == b.tls;
    let shared = matches!((&own, &theirs), (Ok(o), Some(Ok(t))) if same(o, t));
    let engine = match own {
        Ok(at) => connect(&at).await,
        Err(e) => Err(e.into()),
    };
    let whose = if shared {
        "monod's environment and the caller's"
    } else {
        "monod's environment; `mono init` follows the caller's"
    };
    findings.push(match &engine {
        Ok(engine) => {
            let of = if own_users > 0 {
                format!("; {own_users} environment(s) were created on it")
            } else {
                String::new()
            };
            finding(
                "docker",
                Severity::Ok,
                format!("{} at {} ({whose}){of}", engine_version(engine).await, engine.endpoint),
                None,
            )
        }
        Err(e) => {
            let needed = own_users > 0;
            let severity = if needed { Severity::Error } else { Severity::Warning };
            let why = if needed { "docker-mode environments need it" } else { "only docker mode needs it" };
            finding(
                "docker",
                severity,
                format!("{e} ({why}; {whose})"),
                Some("start Docker, or set DOCKER_HOST or DOCKER_CONTEXT".into()),
            )
        }
    });
    if !shared && let Some(theirs) = theirs {
        let whose = "the caller's environment: `mono init` from this shell uses it";
        let fix = "start that engine, or fix DOCKER_HOST / DOCKER_CONTEXT in this shell";
        findings.push(match theirs {
            Ok(at) => match connect(&at).await {
                Ok(engine) => finding(
                    "docker",
                    Severity::Ok,
                    format!("{} at {} ({whose})", engine_version(&engine).await, engine.endpoint),
                    None,
                ),
                Err(e) => finding("docker", Severity::Error, format!("{e} ({whose})"), Some(fix.into())),
            },
            Err(e) => finding("docker", Severity::Error, format!("{e} ({whose})"), Some(fix.into())),
        });
    }
    (engine, findings)
}

/// How long doctor waits for one engine (a remote one behind a dropped
/// network would otherwise hold the report for ssh's timeouts).
const ENGINE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// [`Engine::connect`], giving up after [`ENGINE_WAIT`].
async fn connect(at: &Endpoint) -> Result<Engine, EngineError> {
    tokio::time::timeout(ENGINE_WAIT, Engine::connect(at)).await.unwrap_or_else(|_| {
        Err(EngineError::Unreachable {
            endpoint: at.to_string(),
            reason: format!("it did not answer within {} s", ENGINE_WAIT.as_secs()),
        })
    })
}

async fn engine_version(engine: &Engine) -> String {
    let version = engine.docker.version().await.ok().and_then(|v| v.version).unwrap_or_default();
    format!("Docker Engine {version}")
}

/// The checks that need no daemon, for `monod doctor` (run by the client
/// when no daemon answers): the state database, opened read-only.
pub fn offline(home: &Home) -> DoctorReport {
    let path = home.state_db();
    let checked =
        state::refuse_truncated(&path, || home.environment_dirs()).and_then(|()| state::check_file(&path));
    DoctorReport { findings: vec![state_finding(&path, checked)] }
}

/// What a check of the state database found, with the fix.
fn state_finding(path: &Path, checked: Result<FileCheck, StateError>) -> Finding {
    let shown = path.display();
    let restore = "stop monod, keep a copy of the file, and restore state.db from a backup; or move it away to \
                   start with no environments (`mono gc` then lists what they left)";
    match checked {
        Ok(FileCheck::Missing) => {
            finding("state", Severity::Ok, format!("{shown} does not exist yet (monod creates it)"), None)
        }
        Ok(FileCheck::Empty) => finding(
            "state",
            Severity::Ok,
            format!("{shown} is empty (monod sets it up when it starts)"),
            None,
        ),
        Ok(FileCheck::Checked { version, verdict }) if verdict == "ok" => {
            finding("state", Severity::Ok, format!("{shown}: schema {version}, intact"), None)
        }
        Ok(FileCheck::Checked { verdict, .. }) => {
            finding("state", Severity::Error, format!("{shown} is damaged: {verdict}"), Some(restore.into()))
        }
        Err(StateError::Damaged { reason, .. }) => {
            finding("state", Severity::Error, format!("{shown} is damaged ({reason})"), Some(restore.into()))
        }
        Err(e @ StateError::TooNew { .. }) => {
            finding("state", Severity::Error, e.to_string(), Some("upgrade mono (both binaries)".into()))
        }
        Err(e @ StateError::Truncated { .. }) => finding(
            "state",
            Severity::Error,
            e.to_string(),
            Some(
                "restore state.db from a backup, or remove the empty file to start with no environments"
                    .into(),
            ),
        ),
        Err(e) => finding("state", Severity::Error, e.to_string(), None),
    }
}

/// Ready environments whose tmux session is gone: their shells and runs
/// ended with it. All of them at once means the tmux server went away.
async fn check_sessions(rows: &[EnvRow]) -> Vec<Finding> {
    let ready: Vec<&EnvRow> = rows.iter().filter(|r| r.phase == Phase::Ready).collect();
    if ready.is_empty() {
        return Vec::new();
    }
    let Ok(sessions) = tmux::list_sessions().await else { return Vec::new() };
    let gone: Vec<&EnvRow> = ready
        .iter()
        .copied()
        .filter(|r| !sessions.contains(&mono_proto::paths::session_name(&r.name)))
        .collect();
    let recreate = |r: &EnvRow| {
        let path = shell_quote(&r.path);
        format!("mono destroy {path} && mono init {path}")
    };
    if gone.is_empty() {
        return vec![finding(
            "sessions",
            Severity::Ok,
            format!("all {} have their tmux session", ready.len()),
            None,
        )];
    }
    if gone.len() == ready.len() && ready.len() > 1 {
        let names: Vec<&str> = gone.iter().map(|r| r.name.as_str()).collect();
        return vec![finding(
            "sessions",
            Severity::Warning,
            format!(
                "every environment's tmux session is gone ({}): the tmux server was killed or restarted, and their shells and runs with it",
                names.join(", ")
            ),
            Some(format!("recreate each: {} (and so on)", recreate(gone[0]))),
        )];
    }
    gone.iter()
        .map(|r| {
            finding(
                "sessions",
                Severity::Warning,
                format!(
                    "{}: its tmux session {} is gone (status stopped)",
                    r.name,
                    mono_proto::paths::session_name(&r.name)
                ),
                Some(recreate(r)),
            )
        })
        .collect()
}

/// Ports in an environment's block that a program other than the
/// environment's own processes (or its containers) listens on.
async fn check_ports(rows: &[EnvRow], published: &BTreeMap<String, BTreeSet<u16>>) -> Vec<Finding> {
    let listening = match listening::listening_ports() {
        Ok(l) => l,
        Err(e) => {
            return vec![finding(
                "ports",
                Severity::Warning,
                format!("cannot read the listening ports: {e}"),
                None,
            )];
        }
    };
    let in_blocks: BTreeSet<u16> =
        rows.iter().flat_map(|r| listening.range(ports::block(r.id)).copied().collect::<Vec<_>>()).collect();
    let holders =
        tokio::task::spawn_blocking(move || listening::holders(&in_blocks)).await.unwrap_or_default();
    let mut out = Vec::new();
    for row in rows {
        let own_published = row.docker_project.as_ref().and_then(|p| published.get(p));
        for port in listening.range(ports::block(row.id)) {
            let found = holders.get(port);
            let own = match found {
                Some(list) if !list.is_empty() => list.iter().all(|h| {
                    runs_in_env(h.pid, &row.name) || own_published.is_some_and(|p| p.contains(port))
                }),
                _ => own_published.is_some_and(|p| p.contains(port)),
            };
            if !own {
                let block = ports::block(row.id);
                out.push(finding(
                    "ports",
                    Severity::Warning,
                    format!(
                        "port {port} of {} (ports {}-{}) is in use by {}",
                        row.name,
                        block.start(),
                        block.end(),
                        listening::describe(found)
                    ),
                    Some(format!(
                        "stop that program, or run `mono destroy` and `mono init` on {} to move it to a free block",
                        shell_quote(&row.path)
                    )),
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(finding(
            "ports",
            Severity::Ok,
            "no other program listens in an environment's port block".into(),
            None,
        ));
    }
    out
}

/// Whether a process belongs to the environment: its session's shell and
/// everything started from it carry `MONO_ENV_NAME`. Unknown (another
/// user's process, or not Linux) counts as not.
fn runs_in_env(pid: u32, env: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let wanted = format!("MONO_ENV_NAME={env}");
    environ.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes())
}
