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
mod render;
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
    /// Start the run script in the environment's tmux session.
    Run {
        /// The workspace folder.
        path: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
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
    /// Manage the monod daemon.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("mono: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    use commands::*;
    match command {
        Command::Init { path, json } => init::run(path.as_deref(), json),
        Command::Destroy { path, json } => destroy::run(path.as_deref(), json),
        Command::Run { path, json } => run::run(path.as_deref(), json),
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
        },
    }
}
