//! `mono daemon start|stop|status|install|uninstall`.
//!
//! `start` and `stop` look at the lock, not the socket, to tell whether a
//! daemon runs: with socket activation a connect would start one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mono_proto::DaemonStatus;
use mono_proto::methods::{DAEMON_STATUS, DAEMON_STOP, NoParams};

use crate::connect::{Endpoint, find_monod};
use crate::render;
use crate::service::{self, Inputs, LAUNCHD_LABEL, Platform, SYSTEMD_UNITS, sh_quote};
use crate::unary;

/// Starts monod in the background unless it is running (through the
/// service manager when one holds the socket).
pub fn start() -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    let already = ep.daemon_alive();
    let status = ep.ensure()?;
    let verb = if already { "is already running" } else { "started" };
    println!("monod {verb} (pid {}, {})", status.pid, ep.socket.display());
    Ok(())
}

/// Stops monod and waits until it has exited.
pub fn stop() -> anyhow::Result<()> {
    // Unchecked: a daemon an older mono started in a home now refused can
    // still be stopped (this writes nothing there).
    let ep = Endpoint::locate()?;
    // Checking the lock first: connecting to a socket-activated monod that
    // is not running would start it only to stop it. A hung one is named
    // (`liveness::Hung`), not taken for absent.
    let not_running = || println!("monod is not running");
    if !ep.daemon_alive() {
        not_running();
        return Ok(());
    }
    let status: DaemonStatus = match ep.call(DAEMON_STATUS, NoParams {}) {
        Err(e) if e.is::<unary::NotRunning>() => {
            not_running();
            return Ok(());
        }
        other => other?,
    };
    let () = ep.call(DAEMON_STOP, NoParams {})?;
    ep.wait_for_exit()?;
    println!("monod stopped (pid {})", status.pid);
    Ok(())
}

/// Reports on the running daemon; fails when none runs.
pub fn status(json: bool) -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    let s: DaemonStatus = match ep.call(DAEMON_STATUS, NoParams {}) {
        Err(e) if e.is::<unary::NotRunning>() => {
            bail!("monod is not running for {}; `mono daemon start` starts it", ep.home.display())
        }
        other => other?,
    };
    if json {
        render::json(&s);
        return Ok(());
    }
    let component = |c: &mono_proto::Component| {
        if c.available { format!("yes ({})", c.detail) } else { format!("no ({})", c.detail) }
    };
    println!("monod {} (protocol {}), pid {}, up {}s", s.version, s.protocol, s.pid, s.uptime_ms / 1000);
    println!("home:          {}", s.home);
    println!("environments:  {}", s.environments);
    println!("operations:    {}", s.operations);
    println!("tmux:          {}", component(&s.tmux));
    println!("docker:        {}", component(&s.docker));
    println!("router:        {}", component(&s.router));
    if s.protocol != mono_proto::PROTOCOL_VERSION {
        println!(
            "note: this mono speaks protocol {}; the next command replaces monod when it is idle",
            mono_proto::PROTOCOL_VERSION
        );
    }
    Ok(())
}

/// Writes the service unit(s) of `platform` (default: this machine's) for
/// this monod and `MONO_HOME`, and says how to enable them. Re-running
/// rewrites them.
pub fn install(platform: Option<Platform>) -> anyhow::Result<()> {
    let platform = platform.unwrap_or_else(Platform::current);
    let ep = Endpoint::from_env()?;
    // Absolute, not canonical: a symlink on PATH (a package manager's)
    // keeps pointing at the current version after an upgrade.
    let found = find_monod()?;
    let monod = std::path::absolute(&found).with_context(|| format!("invalid path {}", found.display()))?;
    let files = service::render(platform, &Inputs::new(monod.clone(), ep.home.clone())?)?;
    let dir = unit_dir(platform)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rewrote = false;
    for file in &files {
        let path = dir.join(&file.name);
        let before = std::fs::read_to_string(&path).ok();
        write_atomically(&path, &file.text)?;
        match before {
            None => println!("wrote {}", path.display()),
            Some(old) => {
                rewrote = true;
                let how = if old == file.text { "unchanged" } else { "updated" };
                println!("rewrote {} (it was already installed; {how})", path.display());
            }
        }
    }
    println!("  monod:     {}", monod.display());
    println!("  MONO_HOME: {} (socket {})", ep.home.display(), ep.socket.display());
    match platform {
        Platform::Systemd => {
            println!("enable it (systemd then starts monod on the first connection to its socket):");
            println!("  systemctl --user daemon-reload && systemctl --user enable --now monod.socket");
            if rewrote {
                println!("if it is already enabled, apply the new units with:");
                println!("  systemctl --user daemon-reload && systemctl --user try-restart monod.service");
            }
        }
        Platform::Launchd => {
            let plist = sh_quote(&dir.join(&files[0].name).to_string_lossy());
            if rewrote {
                println!(
                    "if it is already loaded, unload it first: launchctl bootout gui/$(id -u)/{LAUNCHD_LABEL}"
                );
            }
            println!("load it (monod starts now and at every login):");
            println!("  launchctl bootstrap gui/$(id -u) {plist}");
        }
    }
    if ep.daemon_alive() {
        let pid = recorded_pid(&ep).map_or_else(String::new, |p| format!(" (pid {p})"));
        println!(
            "note: monod is running{pid}; if mono started it, run `mono daemon stop` first, so that the service's monod takes over"
        );
    }
    Ok(())
}

/// Removes the service unit(s) of `platform` (default: this machine's).
/// Refuses while systemd units are enabled: `systemctl disable` needs the
/// files.
pub fn uninstall(platform: Option<Platform>) -> anyhow::Result<()> {
    let platform = platform.unwrap_or_else(Platform::current);
    let dir = unit_dir(platform)?;
    let names: Vec<String> = match platform {
        Platform::Systemd => SYSTEMD_UNITS.iter().map(|n| n.to_string()).collect(),
        Platform::Launchd => vec![format!("{LAUNCHD_LABEL}.plist")],
    };
    if platform == Platform::Systemd
        && let Some(link) = enabled_link(&dir)
    {
        bail!(
            "monod is enabled ({}); disable and stop it first with `systemctl --user disable --now monod.socket monod.service`, then run `mono daemon uninstall` again",
            link.display()
        );
    }
    let mut removed = 0;
    for name in &names {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                removed += 1;
                println!("removed {}", path.display());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    if removed == 0 {
        println!("no monod service is installed in {}; nothing to remove", dir.display());
        return Ok(());
    }
    match platform {
        Platform::Systemd => {
            println!(
                "if it still runs, stop it and forget the units (tmux sessions survive: KillMode=process):"
            );
            println!("  systemctl --user stop monod.socket monod.service; systemctl --user daemon-reload");
        }
        Platform::Launchd => {
            println!("if it is still loaded, unload it (tmux sessions survive: AbandonProcessGroup):");
            println!("  launchctl bootout gui/$(id -u)/{LAUNCHD_LABEL}");
        }
    }
    Ok(())
}

/// The directory the service manager reads the user's units from.
fn unit_dir(platform: Platform) -> anyhow::Result<PathBuf> {
    service::unit_dir(platform, std::env::var_os("HOME"), std::env::var_os("XDG_CONFIG_HOME"))
}

/// A link `systemctl --user enable` made to one of monod's units, if any
/// (`<target>.wants/monod.socket` and the like).
fn enabled_link(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries.flatten().find_map(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.ends_with(".wants") || name.ends_with(".requires")) {
            return None;
        }
        SYSTEMD_UNITS
            .iter()
            .map(|unit| entry.path().join(unit))
            .find(|link| std::fs::symlink_metadata(link).is_ok())
    })
}

/// Writes `text` to `path` through a temporary file and a rename, so a
/// service manager never reads half a unit.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("cannot write {}", path.display()))
    })
}

/// The pid recorded in the lock file, for messages.
fn recorded_pid(ep: &Endpoint) -> Option<u32> {
    std::fs::read_to_string(ep.home.join(mono_proto::paths::LOCK_FILE)).ok()?.trim().parse().ok()
}
