//! `mono events`: the event stream, stored events first when `--since` is
//! given, then live ones until interrupted.

use anyhow::bail;
use mono_proto::api::MonoApiClient;
use mono_proto::{Event, event_kinds};

use crate::connect::Endpoint;
use crate::error::from_rpc;

/// What to print.
pub struct Filter {
    /// Replay stored events after this seq first.
    pub since: Option<u64>,
    /// Only this environment's events.
    pub env: Option<String>,
    /// Only these kinds (any of them).
    pub kinds: Vec<String>,
    /// Keep following live events.
    pub follow: bool,
}

/// Prints events, one per line (JSON lines with `json`).
pub fn run(filter: Filter, json: bool) -> anyhow::Result<()> {
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    super::block_on(&ep, async {
        let client = ep.websocket().await?;
        let kinds = (!filter.kinds.is_empty()).then_some(filter.kinds);
        let mut sub = client
            .events_subscribe(filter.since, filter.env, kinds, Some(filter.follow), None)
            .await
            .map_err(from_rpc)?;
        while let Some(item) = sub.next().await {
            let Ok(event) = item else { continue };
            if event.kind == event_kinds::END {
                return Ok(());
            }
            if event.kind == event_kinds::LAGGED {
                let last = event.data.get("last_seq").and_then(|v| v.as_u64()).unwrap_or(0);
                bail!("fell behind the event stream; resume with `mono events --since {last}`");
            }
            print(&event, json);
        }
        if filter.follow {
            bail!("the event stream ended (monod stopped?); resume with `mono events --since <last seq>`");
        }
        Ok(())
    })
}

fn print(e: &Event, json: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default())
    } else {
        let data = if e.data.is_null() { String::new() } else { e.data.to_string() };
        // Live-only events (operations' output) are not stored: no seq.
        let seq = if e.seq == 0 { "-".to_string() } else { e.seq.to_string() };
        writeln!(out, "{seq:>6}  {}  {:<24}  {:<16}  {data}", e.time, e.env.as_deref().unwrap_or("-"), e.kind)
    };
    let _ = out.flush();
}
