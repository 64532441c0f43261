//! `mono daemon start|stop|status`.

use anyhow::bail;
use mono_proto::DaemonStatus;
use mono_proto::methods::{DAEMON_STATUS, DAEMON_STOP, NoParams};

use crate::connect::Endpoint;
use crate::render;
use crate::unary;

/// Starts monod in the background unless it is running.
pub fn start() -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    let already = ep.answering();
    let status = ep.ensure()?;
    let verb = if already { "is already running" } else { "started" };
    println!("monod {verb} (pid {}, {})", status.pid, ep.socket.display());
    Ok(())
}

/// Stops monod and waits until it has exited.
pub fn stop() -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    if !ep.answering() {
        println!("monod is not running");
        return Ok(());
    }
    let status: DaemonStatus = ep.call(DAEMON_STATUS, NoParams {})?;
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
    if s.protocol != mono_proto::PROTOCOL_VERSION {
        println!(
            "note: this mono speaks protocol {}; the next command replaces monod when it is idle",
            mono_proto::PROTOCOL_VERSION
        );
    }
    Ok(())
}
