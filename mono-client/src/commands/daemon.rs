//! `mono daemon start|stop|status`.

use anyhow::bail;
use mono_proto::api::MonoApiClient;

use crate::connect::{Endpoint, connect, connect_existing, wait_for_exit};
use crate::error::from_rpc;
use crate::render;

/// Starts monod in the background unless it is running.
pub async fn start() -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    let already = connect_existing(&ep).await?.is_some();
    let client = connect(&ep).await?;
    let status = client.daemon_status().await.map_err(from_rpc)?;
    let verb = if already { "is already running" } else { "started" };
    println!("monod {verb} (pid {}, {})", status.pid, ep.socket.display());
    Ok(())
}

/// Stops monod and waits until it has exited.
pub async fn stop() -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    let Some(client) = connect_existing(&ep).await? else {
        println!("monod is not running");
        return Ok(());
    };
    let status = client.daemon_status().await.map_err(from_rpc)?;
    client.daemon_stop().await.map_err(from_rpc)?;
    drop(client);
    wait_for_exit(&ep).await?;
    println!("monod stopped (pid {})", status.pid);
    Ok(())
}

/// Reports on the running daemon; fails when none runs.
pub async fn status(json: bool) -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    let Some(client) = connect_existing(&ep).await? else {
        bail!("monod is not running for {}; `mono daemon start` starts it", ep.home.display());
    };
    let s = client.daemon_status().await.map_err(from_rpc)?;
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
            "note: this mono speaks protocol {}; the next command will replace monod when idle",
            mono_proto::PROTOCOL_VERSION
        );
    }
    Ok(())
}
