//! `mono doctor`: checks everything mono depends on and says what to do.
//!
//! The client checks what it can see without a daemon (the home's
//! permissions and file system, the socket, the lock, whether monod answers
//! and which version it is), so the doctor also works when monod is down
//! or hung; the daemon adds its own checks (`daemon.doctor`): state, tmux,
//! Docker, port blocks, environments needing attention, sessions, orphans,
//! start-up recovery. When no daemon answers, `monod doctor` checks what
//! keeps one from starting (the state database) without one.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use mono_proto::methods::{DAEMON_DOCTOR, DAEMON_STATUS, DoctorParams, NoParams};
use mono_proto::{DaemonStatus, DoctorReport, Finding, PROTOCOL_VERSION, Severity, VERSION, paths};

use crate::connect::{Endpoint, find_monod};
use crate::liveness::{self, Hung};
use crate::render;
use crate::unary::NotRunning;

/// Less room than this on the home's file system is a full disk: SQLite,
/// the logs and the run window's status files need some.
const FULL_BELOW: u64 = 1024 * 1024;

fn finding(check: &str, severity: Severity, message: String, fix: Option<&str>) -> Finding {
    Finding { check: check.to_string(), severity, message, fix: fix.map(str::to_string) }
}

/// Runs every check; exit status 1 when something needs attention.
pub fn run(json: bool) -> anyhow::Result<u8> {
    let ep = Endpoint::locate()?;
    let mut findings = local_checks(&ep);
    match daemon_check(&ep, &mut findings) {
        Some(Checked::Answered(status)) if status.protocol == PROTOCOL_VERSION => {
            match ep.call::<DoctorReport>(DAEMON_DOCTOR, DoctorParams { env: Some(super::docker_env()) }) {
                Ok(report) => findings.extend(report.findings),
                Err(e) => findings.push(finding(
                    "daemon",
                    Severity::Error,
                    format!("daemon.doctor failed: {e:#}"),
                    None,
                )),
            }
        }
        Some(Checked::Answered(_) | Checked::Offline) => {}
        None => findings.extend(offline_checks(&ep)),
    }
    let problems = findings.iter().filter(|f| f.severity != Severity::Ok).count();
    if json {
        render::json(&DoctorReport { findings });
    } else {
        print(&findings);
        if problems == 0 {
            println!("\nall checks passed");
        }
    }
    if problems > 0 {
        eprintln!("mono: doctor found {problems} problem(s); each says what to do");
    }
    Ok(u8::from(problems > 0))
}

fn print(findings: &[Finding]) {
    let width = findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
    for f in findings {
        let mark = match f.severity {
            Severity::Ok => "ok",
            Severity::Warning => "WARN",
            Severity::Error => "ERROR",
        };
        println!("{mark:5} {:width$}  {}", f.check, f.message);
        if let Some(fix) = &f.fix {
            println!("      {:width$}  fix: {fix}", "");
        }
    }
}

/// The home directory and the socket: ours, and private; the home's file
/// system writable, with room.
fn local_checks(ep: &Endpoint) -> Vec<Finding> {
    let mut out = Vec::new();
    let home = ep.home.display();
    match (mono_proto::home::open(&ep.home), std::fs::metadata(&ep.home)) {
        (Err(refused), _) => out.push(finding(
            "home",
            Severity::Error,
            refused.to_string(),
            Some("set MONO_HOME to a directory of your own (or fix this one as the line says)"),
        )),
        (Ok(None), _) | (_, Err(_)) => out.push(finding(
            "home",
            Severity::Ok,
            format!("{home} does not exist yet (the first command creates it)"),
            None,
        )),
        (Ok(Some(_)), Ok(m)) => {
            out.push(private(
                "home",
                &ep.home,
                &m,
                "others can read environments' data and logs",
                "set MONO_HOME to a directory of your own",
                "700",
            ));
            out.push(storage(&ep.home));
        }
    }
    if let Ok(m) = std::fs::symlink_metadata(&ep.socket) {
        out.push(private(
            "socket",
            &ep.socket,
            &m,
            "other users may reach the daemon (it refuses them)",
            "stop the other user's monod, or use your own MONO_HOME",
            "600",
        ));
    }
    out
}

/// Whether the home's file system takes writes: not mounted read-only, and
/// not full.
fn storage(home: &Path) -> Finding {
    use rustix::fs::StatVfsMountFlags;
    let shown = home.display();
    let vfs = match rustix::fs::statvfs(home) {
        Ok(vfs) => vfs,
        Err(e) => {
            return finding(
                "disk",
                Severity::Warning,
                format!("cannot check {shown}'s file system: {e}"),
                None,
            );
        }
    };
    let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
    if vfs.f_flag.contains(StatVfsMountFlags::RDONLY) {
        finding(
            "disk",
            Severity::Error,
            format!(
                "{shown} is on a read-only file system: monod cannot start, and nothing (state, logs, run statuses) can be recorded"
            ),
            Some("remount it read-write, or set MONO_HOME to a writable directory"),
        )
    } else if free < FULL_BELOW || vfs.f_favail == 0 {
        finding(
            "disk",
            Severity::Error,
            format!(
                "the file system of {shown} is full ({} KiB free, {} files): state.db, the logs and run statuses cannot be written",
                free / 1024,
                vfs.f_favail
            ),
            Some(&format!("free space on it (`df -h {shown}`)")),
        )
    } else {
        finding(
            "disk",
            Severity::Ok,
            format!("{} MiB free on {shown}'s file system", free / (1024 * 1024)),
            None,
        )
    }
}

/// The checks that need no daemon, from `monod doctor` (the state
/// database, read-only): what keeps a daemon from starting.
fn offline_checks(ep: &Endpoint) -> Vec<Finding> {
    let unchecked = |why: String| vec![finding("state", Severity::Warning, why, None)];
    if !ep.home.is_dir() {
        return Vec::new();
    }
    let monod = match find_monod() {
        Ok(m) => m,
        Err(e) => return unchecked(format!("state.db not checked: {e:#}")),
    };
    let out = Command::new(&monod)
        .arg("doctor")
        .env(paths::MONO_HOME_VAR, &ep.home)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match out {
        Ok(out) if out.status.success() => match serde_json::from_slice::<DoctorReport>(&out.stdout) {
            Ok(report) => report.findings,
            Err(e) => {
                unchecked(format!("state.db not checked: {} answered no report ({e})", monod.display()))
            }
        },
        Ok(out) => unchecked(format!(
            "state.db not checked: {} doctor failed: {}",
            monod.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => unchecked(format!("state.db not checked: cannot run {}: {e}", monod.display())),
    }
}

/// Whether `path` belongs to this user and no one else can use it.
fn private(
    check: &str,
    path: &Path,
    m: &std::fs::Metadata,
    exposed: &str,
    not_mine: &str,
    mode: &str,
) -> Finding {
    let me = rustix::process::geteuid().as_raw();
    let shown = path.display();
    if m.uid() != me {
        finding(
            check,
            Severity::Error,
            format!("{shown} belongs to uid {}, not to you (uid {me})", m.uid()),
            Some(not_mine),
        )
    } else if m.permissions().mode() & 0o077 != 0 {
        let message = format!("{shown} has mode {:o}; {exposed}", m.permissions().mode() & 0o777);
        finding(check, Severity::Warning, message, Some(&format!("chmod {mode} {shown}")))
    } else {
        finding(check, Severity::Ok, format!("{shown}, private to you"), None)
    }
}

/// Whether monod answers, which version it is, and whether the lock agrees.
/// How far [`daemon_check`] got.
enum Checked {
    /// A daemon answered.
    Answered(DaemonStatus),
    /// None runs; the checks that need none were added.
    Offline,
}

/// Whether a daemon answers, and what it says; `None` when none answers
/// and the checks that need no daemon are still to run.
fn daemon_check(ep: &Endpoint, out: &mut Vec<Finding>) -> Option<Checked> {
    let lock_path = ep.lock();
    let holder = liveness::lock_holder(&lock_path);
    match ep.call::<DaemonStatus>(DAEMON_STATUS, NoParams {}) {
        Ok(s) => {
            out.push(finding(
                "daemon",
                Severity::Ok,
                format!(
                    "monod {} (protocol {}), pid {}, up {}s",
                    s.version,
                    s.protocol,
                    s.pid,
                    s.uptime_ms / 1000
                ),
                None,
            ));
            if s.protocol != PROTOCOL_VERSION {
                out.push(finding(
                    "version",
                    Severity::Error,
                    format!("monod speaks protocol {}, this mono {VERSION} speaks {PROTOCOL_VERSION}", s.protocol),
                    Some("once its operations finish, `mono daemon stop`; the next command starts the new monod"),
                ));
            } else if s.version != VERSION {
                out.push(finding(
                    "version",
                    Severity::Warning,
                    format!("monod is {}, this mono is {VERSION}", s.version),
                    Some("the next command replaces monod when it is idle, or run `mono daemon stop`"),
                ));
            }
            match holder {
                Some(pid) if pid != s.pid => out.push(finding(
                    "lock",
                    Severity::Error,
                    format!(
                        "{} is held by pid {pid}, but the socket is answered by pid {}",
                        lock_path.display(),
                        s.pid
                    ),
                    Some("stop both (`mono daemon stop`, then kill the other), then run any command"),
                )),
                _ => out.push(finding("lock", Severity::Ok, format!("held by monod (pid {})", s.pid), None)),
            }
            Some(Checked::Answered(s))
        }
        Err(e) if e.is::<Hung>() => {
            let pid = e.downcast_ref::<Hung>().map_or(0, |h| h.pid);
            out.push(finding(
                "daemon",
                Severity::Error,
                format!(
                    "pid {pid} holds {} but does not answer on {} within {}s: it is stopped or hung",
                    lock_path.display(),
                    ep.socket.display(),
                    liveness::PATIENCE.as_secs()
                ),
                Some(&format!(
                    "`kill -CONT {pid}` if it was stopped; else `kill {pid}` (`kill -9 {pid}` if it stays), then run any command"
                )),
            ));
            None
        }
        Err(e) if e.is::<NotRunning>() => {
            match holder {
                Some(pid) => out.push(finding(
                    "daemon",
                    Severity::Error,
                    format!(
                        "pid {pid} holds {} but the socket does not answer; it may be hung",
                        lock_path.display()
                    ),
                    Some(&format!("kill {pid}, then run any command (or `mono daemon start`)")),
                )),
                None => {
                    // What keeps a daemon from starting decides what to say.
                    let offline = offline_checks(ep);
                    out.push(if offline.iter().any(|f| f.severity == Severity::Error) {
                        finding(
                            "daemon",
                            Severity::Error,
                            "monod is not running, and cannot start until the problem below is fixed".into(),
                            None,
                        )
                    } else {
                        finding(
                            "daemon",
                            Severity::Warning,
                            "monod is not running".into(),
                            Some("any command starts it, or `mono daemon start` (see `mono daemon install` to run it as a service)"),
                        )
                    });
                    out.extend(offline);
                    return Some(Checked::Offline);
                }
            }
            None
        }
        Err(e) => {
            out.push(finding(
                "daemon",
                Severity::Error,
                format!("{e:#}"),
                Some("see monod.log in MONO_HOME; `mono daemon stop` and try again"),
            ));
            None
        }
    }
}
