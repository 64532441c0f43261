//! `mono doctor`: checks everything mono depends on and says what to do.
//!
//! The client checks what it can see without a daemon (the home's
//! permissions, the socket, the lock, whether monod answers and which
//! version it is), so the doctor also works when monod is down or hung; the
//! daemon adds its own checks (`daemon.doctor`): state, tmux, Docker, port
//! blocks, environments needing attention, orphans, start-up recovery.

use std::fs::{File, TryLockError};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use mono_proto::methods::{DAEMON_DOCTOR, DAEMON_STATUS, NoParams};
use mono_proto::{DaemonStatus, DoctorReport, Finding, PROTOCOL_VERSION, Severity, VERSION, paths};

use crate::connect::Endpoint;
use crate::render;
use crate::unary::NotRunning;

fn finding(check: &str, severity: Severity, message: String, fix: Option<&str>) -> Finding {
    Finding { check: check.to_string(), severity, message, fix: fix.map(str::to_string) }
}

/// Runs every check; exit status 1 when something needs attention.
pub fn run(json: bool) -> anyhow::Result<u8> {
    let ep = Endpoint::locate()?;
    let mut findings = local_checks(&ep);
    let status = daemon_check(&ep, &mut findings);
    if status.is_some_and(|s| s.protocol == PROTOCOL_VERSION) {
        match ep.call::<DoctorReport>(DAEMON_DOCTOR, NoParams {}) {
            Ok(report) => findings.extend(report.findings),
            Err(e) => findings.push(finding(
                "daemon",
                Severity::Error,
                format!("daemon.doctor failed: {e:#}"),
                None,
            )),
        }
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

/// The home directory and the socket: ours, and private.
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
        (Ok(Some(_)), Ok(m)) => out.push(private(
            "home",
            &ep.home,
            &m,
            "others can read environments' data and logs",
            "set MONO_HOME to a directory of your own",
            "700",
        )),
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
fn daemon_check(ep: &Endpoint, out: &mut Vec<Finding>) -> Option<DaemonStatus> {
    let lock_path = ep.home.join(paths::LOCK_FILE);
    let holder = lock_holder(&lock_path);
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
            Some(s)
        }
        Err(e) if e.is::<NotRunning>() => {
            match holder {
                Some(pid) => out.push(finding(
                    "daemon",
                    Severity::Error,
                    format!("pid {pid} holds {} but the socket does not answer; it may be hung", lock_path.display()),
                    Some(&format!("kill {pid}, then run any command (or `mono daemon start`)")),
                )),
                None => out.push(finding(
                    "daemon",
                    Severity::Warning,
                    "monod is not running".into(),
                    Some("any command starts it, or `mono daemon start` (see `mono daemon install` to run it as a service)"),
                )),
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

/// The pid recorded in the lock file, when a live process holds the lock.
fn lock_holder(path: &std::path::Path) -> Option<u32> {
    let file = File::open(path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => std::fs::read_to_string(path).ok()?.trim().parse().ok(),
        Err(TryLockError::Error(_)) => None,
    }
}
