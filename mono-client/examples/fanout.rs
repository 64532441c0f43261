//! Event fan-out benchmark (bench/run's `fanout` section).
//!
//! Opens `--subscribers` WebSockets to the monod of `$MONO_HOME`, each
//! subscribed to live `user.bench` events, then publishes `--events` events
//! from one more connection at `--rate` per second (a tokio interval with
//! `MissedTickBehavior::Burst`: the schedule is kept, a late tick is made up
//! at once; each publish is its own task, so a slow reply does not hold the
//! schedule back). For every (event, subscriber) it records the time of
//! receipt minus the event's `time` (stamped by monod when it stores the
//! event), and prints one JSON line: percentiles, delivered count, lagged
//! notices, the achieved rate and monod's and its own CPU during the run.
//!
//! ```text
//! MONO_HOME=... cargo run --release -p mono-client --example fanout -- --subscribers 100 --events 10000
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jsonrpsee::client_transport::ws::{Url, WsTransportClientBuilder};
use jsonrpsee::core::client::{Client, ClientBuilder};
use mono_proto::api::MonoApiClient;
use mono_proto::event_kinds;

/// The kind published and subscribed to.
const KIND: &str = "user.bench";
/// A subscriber that receives nothing for this long gives up (its missing
/// events count as not delivered).
const QUIET_LIMIT: Duration = Duration::from_secs(10);

struct Args {
    subscribers: usize,
    events: u64,
    rate: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { subscribers: 100, events: 10_000, rate: 1000 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--subscribers" => a.subscribers = value.parse()?,
            "--events" => a.events = value.parse()?,
            "--rate" => a.rate = value.parse()?,
            _ => bail!("unknown flag {flag}; use --subscribers N --events N --rate PER_SECOND"),
        }
    }
    if a.subscribers == 0 || a.events == 0 || a.rate == 0 {
        bail!("--subscribers, --events and --rate must be positive");
    }
    Ok(a)
}

/// A WebSocket JSON-RPC client over the daemon's Unix socket (as
/// `mono-client/src/connect.rs` opens one).
async fn connect(socket: &Path) -> anyhow::Result<Client> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| format!("cannot connect to {}", socket.display()))?;
    let url: Url = "ws://localhost/".parse()?;
    let (tx, rx) = WsTransportClientBuilder::default()
        .build_with_stream(url, stream)
        .await
        .context("WebSocket handshake")?;
    // Room for every notification of a run, so a briefly starved reader is
    // measured as late rather than dropped by the client library.
    Ok(ClientBuilder::default().max_buffer_capacity_per_subscription(1 << 20).build_with_tokio(tx, rx))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12) // utime (14), stime (15)
}

/// Context switches of all threads of a process.
fn context_switches(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// (steal, total) jiffies of all CPUs, from /proc/stat.
fn machine_steal() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    (f.get(7).copied().unwrap_or(0), f.iter().sum())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    latencies_ns: Vec<i64>,
    lagged: u64,
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let home = mono_proto::paths::mono_home().context("set MONO_HOME")?;
    let socket = mono_proto::paths::socket_path(&home);
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(bench(a, socket))
}

async fn bench(a: Args, socket: std::path::PathBuf) -> anyhow::Result<()> {
    let publisher = Arc::new(connect(&socket).await?);
    let monod_pid = publisher.daemon_status().await?.pid.to_string();

    let mut subscriptions = Vec::with_capacity(a.subscribers);
    for _ in 0..a.subscribers {
        let client = connect(&socket).await?;
        let sub = client.events_subscribe(None, None, Some(vec![KIND.to_string()]), Some(true), None).await?;
        subscriptions.push((client, sub));
    }
    // Every subscription is registered with the daemon's live channel
    // before its id comes back, so none misses the first event.
    let mut readers = tokio::task::JoinSet::new();
    for (client, mut sub) in subscriptions {
        let want = a.events;
        readers.spawn(async move {
            let _client = client;
            let mut seen = Seen { latencies_ns: Vec::with_capacity(want as usize), lagged: 0 };
            while (seen.latencies_ns.len() as u64) < want {
                // Events come every few ms while publishing goes on.
                let next = tokio::time::timeout(QUIET_LIMIT, sub.next()).await.ok().flatten();
                let Some(Ok(event)) = next else { break };
                let now = jiff::Timestamp::now();
                if event.kind == event_kinds::LAGGED {
                    seen.lagged += 1;
                    break;
                }
                if event.kind != KIND {
                    continue;
                }
                let Ok(sent) = event.time.parse::<jiff::Timestamp>() else { continue };
                let ns = now.as_nanosecond() - sent.as_nanosecond();
                seen.latencies_ns.push(i64::try_from(ns).unwrap_or(i64::MAX));
            }
            seen
        });
    }

    let ticks = clock_ticks();
    let (monod_before, self_before, steal_before) =
        (cpu_ticks(&monod_pid), cpu_ticks("self"), machine_steal());
    let switches_before = context_switches(&monod_pid);
    let start = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_nanos(1_000_000_000 / a.rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..a.events {
        interval.tick().await;
        let publisher = publisher.clone();
        publishes.spawn(async move {
            let t = Instant::now();
            publisher
                .events_publish(KIND.to_string(), None, Some(serde_json::json!({"i": i})))
                .await
                .map(|_| t.elapsed())
        });
    }
    let publish_elapsed = start.elapsed();
    let mut publish_ns: Vec<i64> = Vec::with_capacity(a.events as usize);
    while let Some(r) = publishes.join_next().await {
        publish_ns.push(r?.context("events.publish")?.as_nanos() as i64);
    }
    let mut all: Vec<i64> = Vec::with_capacity(a.events as usize * a.subscribers);
    let mut lagged = 0;
    while let Some(seen) = readers.join_next().await {
        let seen = seen?;
        lagged += seen.lagged;
        all.extend(seen.latencies_ns);
    }
    let wall = start.elapsed().as_secs_f64();
    let monod_cpu = (cpu_ticks(&monod_pid) - monod_before) as f64 / ticks;
    let self_cpu = (cpu_ticks("self") - self_before) as f64 / ticks;
    let switches = context_switches(&monod_pid) - switches_before;
    let steal_after = machine_steal();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let steal =
        (steal_after.0 - steal_before.0) as f64 / (steal_after.1 - steal_before.1).max(1) as f64 * cpus;
    all.sort_unstable();
    publish_ns.sort_unstable();
    let out = serde_json::json!({
        "subscribers": a.subscribers,
        "events": a.events,
        "rate_target": a.rate,
        "rate_achieved": a.events as f64 / publish_elapsed.as_secs_f64(),
        "tick": "Burst",
        "expected": a.events * a.subscribers as u64,
        "delivered": all.len(),
        "lagged": lagged,
        "p50_ms": percentile(&all, 0.50),
        "p99_ms": percentile(&all, 0.99),
        "p999_ms": percentile(&all, 0.999),
        "max_ms": percentile(&all, 1.0),
        "min_ms": percentile(&all, 0.0),
        "publish_p50_ms": percentile(&publish_ns, 0.50),
        "publish_p99_ms": percentile(&publish_ns, 0.99),
        "wall_s": wall,
        "monod_cpu_pct": 100.0 * monod_cpu / wall,
        "client_cpu_pct": 100.0 * self_cpu / wall,
        "monod_switches_per_event": switches as f64 / a.events as f64,
        // CPUs the host stole from this machine meanwhile (noise, not mono).
        "steal_cpus": steal,
    });
    println!("{out}");
    Ok(())
}
