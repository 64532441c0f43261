//! `mono`: the thin client of monod.
//!
//! It resolves the workspace path, forwards the caller's environment,
//! connects to monod (starting it when none answers), renders progress and
//! results, and maps them to exit codes: 0 on success, 1 on failure with one
//! line on stderr, 2 for usage errors.

mod commands;
mod connect;
mod error;
mod http;
mod liveness;
mod mcp;
mod render;
mod service;
mod ui;
mod unary;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Isolated development environments for every workspace.
#[derive(Parser)]
#[command(name = "mono", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the environment of a workspace (PATH: argument, else
    /// $CONDUCTOR_WORKSPACE_PATH, else the current directory).
    Init {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Print the result as JSON on stdout (progress goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Tear down the environment of a workspace completely.
    Destroy {
        /// The workspace folder (it may already be deleted).
        path: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the run script in the session's run window, printing its output
    /// until it exits (its exit status is mono's); Ctrl-C, SIGTERM or SIGHUP
    /// stop it. A run already going is stopped first.
    Run {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Start it and return at once.
        #[arg(long, short)]
        detach: bool,
        /// JSON: the start (with --detach) or one output item per line.
        #[arg(long)]
        json: bool,
    },
    /// Stop the run in progress (interrupt, then kill after the grace period).
    Stop {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the session's output kept in the rolling log.
    Logs {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Keep printing new output as it comes.
        #[arg(long, short)]
        follow: bool,
        /// Only the last LINES lines.
        #[arg(long, short = 'n', value_name = "LINES")]
        lines: Option<u64>,
        /// One JSON object per output chunk or run exit (per line with --service).
        #[arg(long)]
        json: bool,
        /// A docker-mode service's container logs instead (both streams);
        /// `all` interleaves every service's, prefixed `name | `.
        #[arg(long, short = 's', value_name = "NAME")]
        service: Option<String>,
    },
    /// Show one environment.
    Status {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attach to the environment's tmux session.
    Attach {
        /// The workspace folder.
        path: Option<PathBuf>,
    },
    /// List the named URLs of an environment (all environments without PATH).
    Urls {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Print them as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Open the environment's URL (or a service's) in the browser.
    Open {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// A docker-mode service (default: the environment's entry point).
        service: Option<String>,
    },
    /// Restart a docker-mode service's containers (ports, volumes and
    /// network stay).
    Restart {
        /// The compose service.
        service: String,
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A live dashboard of every environment (keys: run, stop, attach,
    /// open, destroy, follow logs).
    Ui,
    /// Serve MCP on stdio for the coding agent of the workspace
    /// ($CONDUCTOR_WORKSPACE_PATH, else the current directory):
    /// `claude mcp add mono -- mono mcp`.
    Mcp,
    /// List all environments.
    List {
        /// Print them as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Print events (state changes of every environment), live.
    Events {
        /// Replay stored events with a sequence number above SEQ first
        /// (0: the whole stored history).
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
        /// Only events of this environment (its name).
        #[arg(long, value_name = "NAME")]
        env: Option<String>,
        /// Only events of this kind (repeatable), e.g. env.ready.
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<String>,
        /// Exit after the stored events instead of following live ones.
        #[arg(long)]
        no_follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check tmux, Docker, the daemon, its socket and lock, versions, port
    /// blocks and orphans; say what to do about each problem.
    Doctor {
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List sessions, directories and Docker objects of mono's that no
    /// environment owns (left by a crash); `--yes` removes them.
    Gc {
        /// Remove what is found (default: only list it).
        #[arg(long, short)]
        yes: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The dependency cache (see `cache:` in mono.yml).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Seeded data (see `seed:` in mono.yml).
    Seed {
        #[command(subcommand)]
        action: SeedAction,
    },
    /// Manage the monod daemon.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
    },
}

#[derive(Subcommand)]
enum CacheAction {
    /// Entries, size on disk, hits, misses and last use.
    Stats {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove entries: all of them, or those not used for a while.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["all", "older_than"])))]
    Clean {
        /// Remove every entry (and the images mono built).
        #[arg(long)]
        all: bool,
        /// Remove entries not used for this long (30d, 12h).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SeedAction {
    /// Drop the snapshot this workspace was seeded from, so the next init seeds again.
    Refresh {
        /// The workspace (default: the current directory).
        path: Option<PathBuf>,
        /// Print what was dropped as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DaemonAction {
    /// Start monod in the background (clients also start it on demand).
    Start,
    /// Stop monod and wait until it has exited.
    Stop,
    /// Show the running daemon's version, pid, uptime and components.
    Status {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the service unit(s) that run monod under the service manager:
    /// systemd user units with socket activation
    /// (~/.config/systemd/user/monod.service, monod.socket) or a launchd
    /// LaunchAgent (~/Library/LaunchAgents/dev.mono.monod.plist); then
    /// print how to enable them. Re-running rewrites them.
    Install {
        /// The service manager [default: launchd on macOS, else systemd].
        #[arg(long, value_enum)]
        platform: Option<service::Platform>,
    },
    /// Remove the unit(s) `install` wrote (refused while the systemd units
    /// are enabled).
    Uninstall {
        /// The service manager [default: launchd on macOS, else systemd].
        #[arg(long, value_enum)]
        platform: Option<service::Platform>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = format!("{:#}", connect::explain(e)).replace('\n', " ");
            eprintln!("mono: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; its exit status on success (0 but for `mono run`).
fn dispatch(command: Command) -> anyhow::Result<u8> {
    use commands::*;
    let done = |r: anyhow::Result<()>| r.map(|()| 0);
    done(match command {
        Command::Run { path, detach, json } => return run::run(path.as_deref(), detach, json),
        Command::Doctor { json } => return doctor::run(json),
        Command::Gc { yes, json } => gc::run(yes, json),
        Command::Cache { action } => match action {
            CacheAction::Stats { json } => cache::stats(json),
            CacheAction::Clean { all, older_than, json } => cache::clean(all, older_than, json),
        },
        Command::Seed { action: SeedAction::Refresh { path, json } } => seed::refresh(path.as_deref(), json),
        Command::Urls { path, json } => urls::list(path.as_deref(), json),
        Command::Open { path, service } => urls::open(path.as_deref(), service.as_deref()),
        Command::Restart { service, path, json } => restart::run(&service, path.as_deref(), json),
        Command::Mcp => mcp::serve(),
        Command::Ui => ui::run(),
        Command::Init { path, json } => init::run(path.as_deref(), json),
        Command::Destroy { path, json } => destroy::run(path.as_deref(), json),
        Command::Stop { path, json } => stop::run(path.as_deref(), json),
        Command::Logs { path, follow, lines, json, service: None } => {
            logs::run(path.as_deref(), lines, follow, json)
        }
        Command::Logs { path, follow, lines, json, service: Some(service) } => {
            logs::services(path.as_deref(), &service, lines, follow, json)
        }
        Command::Status { path, json } => status::run(path.as_deref(), json),
        Command::Attach { path } => attach::run(path.as_deref()),
        Command::List { json } => list::run(json),
        Command::Events { since, env, kinds, no_follow, json } => {
            events::run(events::Filter { since, env, kinds, follow: !no_follow }, json)
        }
        Command::Daemon { action } => match action {
            DaemonAction::Start => daemon::start(),
            DaemonAction::Stop => daemon::stop(),
            DaemonAction::Status { json } => daemon::status(json),
            DaemonAction::Install { platform } => daemon::install(platform),
            DaemonAction::Uninstall { platform } => daemon::uninstall(platform),
        },
    })
}
