//! `mono logs [PATH] [-f] [-n LINES]`: an environment's session output;
//! `mono logs [PATH] --service NAME|all [-f] [-n LINES]`: its containers'.

use std::io::Write;
use std::path::Path;

use anyhow::bail;
use mono_proto::api::MonoApiClient;
use mono_proto::{LogItem, ServiceLogItem};

use crate::connect::Endpoint;
use crate::error::from_rpc;
use crate::workspace::{Existence, resolve};

/// Prints the kept output (the last `lines` lines), then new output while
/// `follow`.
pub fn run(path: Option<&Path>, lines: Option<u64>, follow: bool, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    super::block_on(&ep, async {
        let client = ep.websocket().await?;
        let sub = client.logs_follow(path, lines, Some(follow)).await.map_err(from_rpc)?;
        print_until_end(sub, json, follow, |out, item| {
            match item {
                LogItem::Output { data } if !json => {
                    let _ = out.write_all(data.as_bytes());
                }
                LogItem::RunExited(exit) if !json => {
                    eprintln!("[mono] run {} exited ({})", exit.run, exit.describe());
                }
                LogItem::End { reason } => return Some(reason),
                _ => {}
            }
            None
        })
        .await
    })
}

/// Prints a service's container logs (both streams, in order), or every
/// service's with a `name | ` prefix (`all`), as `docker compose logs` does:
/// the last `lines` lines of each container, then new lines while `follow`.
pub fn services(
    path: Option<&Path>,
    service: &str,
    lines: Option<u64>,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    super::block_on(&ep, async {
        let client = ep.websocket().await?;
        let sub =
            client.logs_services(path, service.to_string(), lines, Some(follow)).await.map_err(from_rpc)?;
        let mut width = None;
        print_until_end(sub, json, follow, |out, item| {
            match item {
                ServiceLogItem::Services { services } if services.len() > 1 || service == "all" => {
                    width = Some(services.iter().map(|s| s.chars().count()).max().unwrap_or(0));
                }
                ServiceLogItem::Line { service, data, .. } if !json => {
                    let _ = match width {
                        Some(w) => {
                            let end = if data.ends_with('\n') { "" } else { "\n" };
                            write!(out, "{service:<w$} | {data}{end}")
                        }
                        None => out.write_all(data.as_bytes()),
                    };
                }
                ServiceLogItem::End { reason } => return Some(reason),
                _ => {}
            }
            None
        })
        .await
    })
}

/// Prints a log subscription's items until its end item: each as a JSON
/// line with `json`, and as `show` renders it (`show` returns the end's
/// reason, said on stderr when following).
async fn print_until_end<T: serde::Serialize + serde::de::DeserializeOwned>(
    mut sub: jsonrpsee::core::client::Subscription<T>,
    json: bool,
    follow: bool,
    mut show: impl FnMut(&mut std::io::StdoutLock<'static>, T) -> Option<String>,
) -> anyhow::Result<()> {
    while let Some(item) = sub.next().await {
        let item = item.map_err(|e| anyhow::anyhow!("unreadable output from monod: {e}"))?;
        let mut out = std::io::stdout().lock();
        if json {
            let _ = writeln!(out, "{}", serde_json::to_string(&item).unwrap_or_default());
        }
        if let Some(reason) = show(&mut out, item) {
            if follow {
                eprintln!("[mono] {reason}");
            }
            return Ok(());
        }
        let _ = out.flush();
    }
    bail!("monod closed the connection")
}
