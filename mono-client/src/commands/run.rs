//! `mono run [PATH] [--detach]`: the run script in the run window.
//!
//! In the foreground the client follows the environment's log from before
//! the run starts, prints the run's output and exits with the run's status.
//! SIGINT, SIGTERM or SIGHUP ask monod to stop the run (interrupt, then kill
//! after the grace period) and the client still waits for the run's exit,
//! so Conductor's Run and Stop buttons map onto a plain process.

use std::io::Write;
use std::path::Path;

use anyhow::bail;
use mono_proto::api::MonoApiClient;
use mono_proto::methods::{ENV_RUN, EnvRunParams};
use mono_proto::{LogItem, RunExit, RunStarted};
use tokio::signal::unix::{SignalKind, signal};

use crate::connect::Endpoint;
use crate::error::from_rpc;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Starts the run; in the foreground, returns its exit status.
pub fn run(path: Option<&Path>, detach: bool, json: bool) -> anyhow::Result<u8> {
    let path = resolve(path, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    if detach {
        let started: RunStarted = ep.call(ENV_RUN, EnvRunParams { path, env: Some(super::caller_env()) })?;
        if json {
            render::json(&started);
        } else {
            announce(&started);
            println!("follow its output with `mono logs -f`, stop it with `mono stop`");
        }
        return Ok(0);
    }
    super::block_on(&ep, foreground(&ep, path, json))
}

async fn foreground(ep: &Endpoint, path: String, json: bool) -> anyhow::Result<u8> {
    let client = ep.websocket().await?;
    // Subscribed first, so not a byte of the run is missed.
    let mut logs = client.logs_follow(path.clone(), Some(0), Some(true)).await.map_err(from_rpc)?;
    let (mut int, mut term, mut hup) =
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?, signal(SignalKind::hangup())?);
    let start = client.env_run(path.clone(), Some(super::caller_env()));
    tokio::pin!(start);
    let mut started: Option<RunStarted> = None;
    let mut ended: Vec<RunExit> = Vec::new();
    let mut stop_wanted = false;
    let mut stop = None;
    loop {
        if let Some(s) = &started {
            if let Some(exit) = ended.iter().find(|e| e.run == s.run.run) {
                return exit_status(exit);
            }
            // One stop request per signal: the run's exit follows on the log
            // stream, and a repeated request could find no run to stop.
            if stop_wanted && stop.is_none() {
                stop = Some(Box::pin(client.env_stop(path.clone())));
                stop_wanted = false;
            }
        }
        tokio::select! {
            result = &mut start, if started.is_none() => {
                let s = result.map_err(from_rpc)?;
                if !json {
                    eprint!("[mono] ");
                    announce_to(&mut std::io::stderr(), &s);
                }
                started = Some(s);
            }
            item = logs.next() => match item {
                Some(Ok(item)) => match &item {
                    LogItem::Output { data } => print(&item, data, json),
                    LogItem::RunExited(exit) => ended.push(exit.clone()),
                    LogItem::End { reason } => bail!("the run's output ended: {reason}"),
                },
                Some(Err(e)) => bail!("unreadable output from monod: {e}"),
                None => bail!("monod closed the connection; the run may still go on (`mono status`)"),
            },
            result = async { stop.as_mut().expect("guarded").await }, if stop.is_some() => {
                // The exit itself arrives on the log stream, after the output.
                result.map_err(from_rpc)?;
                stop = None;
            }
            _ = int.recv() => stop_wanted = true,
            _ = term.recv() => stop_wanted = true,
            _ = hup.recv() => stop_wanted = true,
        }
    }
}

/// The status `mono run` exits with: the run's, within 0..=255; a failure
/// saying why when it is not known (rather than a made-up status).
fn exit_status(exit: &RunExit) -> anyhow::Result<u8> {
    match exit.code {
        Some(code) => Ok(u8::try_from(code).unwrap_or(1)),
        None => bail!("run {} ended, but its {}", exit.run, exit.describe()),
    }
}

fn print(item: &LogItem, data: &str, json: bool) {
    let mut out = std::io::stdout().lock();
    // A closed terminal (SIGHUP) must not end the wait for the exit.
    let _ = if json {
        writeln!(out, "{}", serde_json::to_string(item).unwrap_or_default())
    } else {
        out.write_all(data.as_bytes())
    };
    let _ = out.flush();
}

fn announce(s: &RunStarted) {
    announce_to(&mut std::io::stdout(), s);
}

fn announce_to(out: &mut impl Write, s: &RunStarted) {
    if let Some(prev) = &s.stopped {
        let _ = writeln!(out, "{}: stopped the previous run {} ({})", s.name, prev.run, prev.describe());
    }
    let _ =
        writeln!(out, "{}: run {} started `{}` in {}:{}", s.name, s.run.run, s.script, s.session, s.window);
}
