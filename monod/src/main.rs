//! `monod`: runs the mono daemon in the foreground.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// glibc's malloc keeps the memory a burst frees (hundreds of connections
/// closing) resident: scattered free chunks it returns only on an explicit
/// `malloc_trim`. jemalloc, with its background thread on (see
/// [`return_freed_memory`]), gives it back within seconds.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Lets the allocator return freed memory to the system while the daemon
/// idles (jemalloc purges from one background thread; other allocators
/// return memory themselves).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let _ = tikv_jemalloc_ctl::max_background_threads::write(1);
        if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
            tracing::warn!(error = %e, "cannot start jemalloc's background thread; freed memory stays resident");
        }
    }
}

/// The mono daemon: serves JSON-RPC on $MONO_HOME/monod.sock.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Home directory [default: $MONO_HOME, else ~/.mono].
    #[arg(long)]
    home: Option<PathBuf>,
    /// Print `ready` on stdout once the socket accepts connections.
    #[arg(long)]
    notify_stdout: bool,
    /// Detach from the caller's session (used when a client starts monod).
    #[arg(long)]
    background: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Copies a tmux pane's output (stdin) to an environment's rolling log;
    /// started by tmux's pipe-pane, not by hand.
    #[command(hide = true)]
    Capture {
        /// The environment's log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Rotate a file once it reaches this many bytes.
        #[arg(long)]
        max_bytes: u64,
        /// Rotated files kept.
        #[arg(long)]
        keep: u32,
        /// Mark the end of the run window's output.
        #[arg(long)]
        done: bool,
    },
    /// Prints, as JSON, the doctor's checks that need no running daemon
    /// (the state database, read-only); run by `mono doctor` when no
    /// daemon answers.
    #[command(hide = true)]
    Doctor,
}

fn main() -> std::process::ExitCode {
    // One line, no backtrace: clients show the daemon's last line of output.
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("monod: error: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `monod capture`: the pane's output arrives on stdin, read unbuffered so
/// that `poll` on it tells the truth.
fn capture(dir: &std::path::Path, limits: monod::logs::capture::Limits, done: bool) -> anyhow::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use std::os::fd::AsFd;
    let stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let more_within = |wait: std::time::Duration| {
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        let timeout = Timespec { tv_sec: 0, tv_nsec: i64::from(wait.subsec_nanos()) };
        // An error reads as "ready": the read that follows reports it.
        poll(&mut fds, Some(&timeout)).map_or(true, |n| n > 0)
    };
    monod::logs::capture::run(dir, limits, done, &stdin, more_within)?;
    Ok(())
}

/// Takes what a service manager handed over (a listening socket, a
/// notification socket), then removes its variables from the environment so
/// that tmux, the sessions' shells and scripts do not inherit them. Runs
/// before the async runtime exists, while this is the only thread.
fn take_activation() -> anyhow::Result<monod::daemon::activation::Activation> {
    use monod::daemon::activation::{Activation, INHERITED_VARS};
    let activation = Activation::from_env()?;
    for var in INHERITED_VARS {
        // SAFETY: `remove_var` is sound only while no other thread reads or
        // writes the environment. This runs in `main` before the tokio
        // runtime (monod's first other thread) is built, and nothing before
        // it spawns a thread: parsing arguments, reading monod.yml and
        // installing the tracing subscriber do not.
        #[allow(unsafe_code)]
        unsafe {
            std::env::remove_var(var)
        };
    }
    Ok(activation)
}

/// `--home`, else `MONO_HOME`, else `~/.mono`, made absolute.
fn daemon_home(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let home = given
        .or_else(mono_proto::paths::mono_home)
        .context("cannot find a home directory: set MONO_HOME or HOME")?;
    std::path::absolute(&home).with_context(|| format!("invalid home {}", home.display()))
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Capture { dir, max_bytes, keep, done }) = args.command {
        let limits = monod::logs::capture::Limits { max_bytes, keep };
        return capture(&dir, limits, done).with_context(|| format!("monod capture into {}", dir.display()));
    }
    if let Some(Command::Doctor) = args.command {
        let home = daemon_home(args.home)?;
        // The client checked the home; one that is refused or absent has
        // no database to check.
        let report = match monod::home::Home::existing(&home) {
            Ok(Some(home)) => monod::ops::doctor::offline(&home),
            Ok(None) | Err(_) => mono_proto::DoctorReport { findings: Vec::new() },
        };
        println!("{}", serde_json::to_string(&report).context("cannot write the report")?);
        return Ok(());
    }
    if args.background {
        // Leaves the caller's session and process group, so the terminal's
        // signals and hang-up do not reach the daemon.
        let _ = rustix::process::setsid();
    }
    let home_path = daemon_home(args.home)?;
    let settings = monod::settings::Settings::load(&home_path)?;
    monod::logs::daemonlog::init(&home_path.join(mono_proto::paths::DAEMON_LOG_FILE), settings.daemon_log);
    let mut activation = take_activation()?;
    for note in activation.notes() {
        tracing::warn!("{note}");
    }
    // The lock first: a second daemon changes nothing, and only the home's
    // one daemon removes a stale socket.
    let home = monod::home::Home::open(&home_path).map_err(monod::daemon::DaemonError::from)?;
    let _lock = monod::daemon::lock::InstanceLock::acquire(&home.lock(), home.root())?;
    let listener = match activation.take_listener() {
        Some(handed) => monod::daemon::Listener::adopt(handed, &home.socket())?,
        None => {
            monod::daemon::lock::clear_stale_socket(&home.socket())?;
            monod::daemon::Listener::bind(&home.socket())?
        }
    };
    return_freed_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("monod")
        .build()
        .context("cannot start the async runtime")?;
    let config = monod::daemon::DaemonConfig {
        home,
        settings,
        notify_stdout: args.notify_stdout,
        report_protocol: std::env::var("MONO_TEST_REPORT_PROTOCOL").ok().and_then(|v| v.parse().ok()),
        report_version: std::env::var("MONO_TEST_REPORT_VERSION").ok(),
        notifier: activation.notifier().cloned(),
    };
    runtime.block_on(monod::daemon::run(config, listener, signals())).map_err(anyhow::Error::from)
}

/// Completes on SIGTERM or SIGINT. SIGHUP is ignored: the daemon outlives
/// the terminal that started it. Without handlers it never completes, and
/// only `mono daemon stop` stops monod.
async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("cannot install signal handlers; stop monod with `mono daemon stop`");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM"); return; }
            _ = int.recv() => { tracing::info!("SIGINT"); return; }
            _ = hup.recv() => tracing::info!("SIGHUP ignored"),
        }
    }
}
