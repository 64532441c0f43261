//! tmux, run as the user runs it.
//!
//! Commands go to the default server of the daemon's user, honouring
//! `TMUX_TMPDIR` (tests isolate themselves with it) and never the server an
//! inherited `TMUX` variable points at. Command lines are built with
//! `tmux_interface` as argv, never through a shell. The daemon hands that
//! argv to the server over its socket in tmux's client protocol
//! ([`direct`]), sparing a process per command.
//!
//! Nothing secret goes on a command line: a command carrying variable
//! values (a new session's environment, the run window's script) only ever
//! goes over the socket; when no server runs, monod first starts one with
//! a command that carries none ([`server`]), and a command that cannot go
//! over the socket fails with the reason instead of running as a `tmux`
//! process. Queries, which carry names only, run as a `tmux` process when
//! the socket cannot take them. Targets are exact (`=name`), so `web` never
//! matches `web2`.

mod direct;
mod server;

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use tmux_interface::{
    HasSession, KillSession, ListSessions, NewSession, PipePane, SendKeys, SetHook, SetOption,
    Tmux as TmuxCmd, TmuxCommand,
};

use mono_proto::Component;

#[cfg(test)]
pub(crate) use direct::isolate_for_tests;
pub use direct::{COMMAND_ROOM, NotRun};

/// How long a command sent through the socket may take: a server that
/// stops answering must not hold an operation forever.
const DIRECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// How many times a command that needs a server starts one when none
/// answers (a server may be on its way out when it is first started).
const START_ATTEMPTS: usize = 3;

/// What went wrong running tmux.
#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    /// The binary is missing.
    #[error("tmux is not installed (not found on PATH); install tmux and try again")]
    NotInstalled,
    /// It could not be started for another reason.
    #[error("cannot run tmux: {0}")]
    Spawn(std::io::Error),
    /// It ran and failed.
    #[error("tmux {command} failed: {stderr}")]
    Failed {
        /// The tmux command (`new-session`, ...).
        command: &'static str,
        /// What tmux printed.
        stderr: String,
    },
    /// A command carrying variable values could not go over the server's
    /// socket, and is never put on a command line instead.
    #[error(
        "cannot send tmux {command} over the tmux server's socket: {why}; mono hands variables to tmux only that way, never on a command line (`mono doctor` checks tmux)"
    )]
    Unsendable {
        /// The tmux command.
        command: &'static str,
        /// Why the socket could not take it.
        why: NotRun,
    },
    /// The session's protected variables do not fit one tmux command.
    #[error(transparent)]
    EnvTooLarge(#[from] EnvTooLarge),
}

/// What a command carries, which decides where it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carries {
    /// Names only: without a server it finds nothing, and a `tmux` process
    /// runs it when the socket cannot.
    Names,
    /// Variable values: over the socket or not at all.
    Values,
    /// Values, and it makes a session: a server is started when none runs.
    NewSession,
}

/// Checks that tmux runs; reports its version.
pub async fn probe() -> Component {
    match run("-V", TmuxCmd::new().version(), Carries::Names).await {
        Ok(v) => Component { available: true, detail: v.trim().to_string() },
        Err(e) => Component { available: false, detail: e.to_string() },
    }
}

/// The window `mono run` runs the run script in.
pub const RUN_WINDOW: &str = "mono-run";

/// The session option holding the shell command that captures a pane.
const CAPTURE_OPTION: &str = "@mono-capture";

/// The session option naming the `MONO_HOME` whose daemon made the session:
/// one tmux server serves every home of a user, and `mono gc` of one home
/// must never take another's sessions for orphans.
const HOME_OPTION: &str = "@mono-home";

/// Pipes a new pane's output into the capture command; the run window's
/// capture also marks the end of its output. Option values are not expanded
/// again, so nothing in the command (paths included) is read as a format.
const CAPTURE_PANE: &str = "pipe-pane -O \"#{@mono-capture}#{?#{==:#{window_name},mono-run}, --done,}\"";

/// The session option the run window's shell leaves its status in when it
/// cannot write its status file (a full disk): `<pane id> <exit status>`.
const RUN_EXIT_OPTION: &str = "@mono-run-exit";

/// A session to create, as [`new_session`] makes it.
pub struct SessionSpec<'a> {
    /// The session's name.
    pub name: &'a str,
    /// Its variables.
    pub env: &'a [(String, String)],
    /// Variables never left out, besides `PATH` and `MONO_*`: `mono.yml`'s
    /// `env:`.
    pub protected: &'a HashSet<&'a str>,
    /// The shell, run as `shell -i`.
    pub shell: &'a str,
    /// The shell command every pane's output is piped into.
    pub capture: &'a str,
    /// The `MONO_HOME` the session is tagged with.
    pub home: &'a str,
}

/// The variables a session gets.
#[derive(Debug)]
pub struct Fit<'a> {
    /// Passed to the session.
    pub kept: Vec<&'a (String, String)>,
    /// Left out (the caller's largest), by name.
    pub left_out: Vec<String>,
}

/// The protected variables of a session alone do not fit one tmux command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the environment does not fit a tmux session: its {count} variables that are never left out (PATH, MONO_* and mono.yml's env:) take {needed} bytes of a tmux command, which carries at most {limit} ({room} once the session's own arguments are in); the largest: {}; remove or shorten some",
    largest.iter().map(|(name, bytes)| format!("{name} ({bytes} bytes)")).collect::<Vec<_>>().join(", ")
)]
pub struct EnvTooLarge {
    /// What one tmux command carries.
    pub limit: usize,
    /// What is left of it for variables.
    pub room: usize,
    /// How many variables are protected.
    pub count: usize,
    /// What they take.
    pub needed: usize,
    /// The largest protected variables and what each takes.
    pub largest: Vec<(String, usize)>,
}

impl SessionSpec<'_> {
    /// Whether `name` is never left out.
    fn is_protected(&self, name: &str) -> bool {
        name == "PATH" || name.starts_with("MONO_") || self.protected.contains(name)
    }

    /// The variables that fit one tmux command with the rest of the
    /// session's commands: all when they fit, else all but the caller's
    /// largest. Fails when the protected ones alone do not fit.
    pub fn fit(&self) -> Result<Fit<'_>, EnvTooLarge> {
        let base = direct::command_size(&argv_of(self.commands(&[])));
        let room = COMMAND_ROOM.saturating_sub(base);
        fit_env(self.env, &|name| self.is_protected(name), room)
    }

    /// The session, its capture option, home tag and hooks, and the first
    /// pane's capture, as one command list.
    fn commands(&self, env: &[&(String, String)]) -> TmuxCmd<'static> {
        // No `-c`: tmux expands formats in a start directory, and `#(...)` in
        // a format runs a shell command, while `##[` cannot be escaped. The
        // client's directory is the workspace instead, which a new session
        // takes as is, so a folder named `#(rm -rf ~)` stays a name.
        let mut ns = NewSession::new().detached().session_name(self.name.to_string());
        for (k, v) in env {
            ns = ns.environment(k.clone(), v.clone());
        }
        let mut cmd: TmuxCommand = ns.build();
        // Two arguments: tmux runs them directly (no `sh -c`), as an
        // interactive, non-login shell, so a profile cannot reset the PATH
        // we pass.
        cmd.push_param(self.shell.to_string()).push_param("-i");
        let session = format!("={}:", self.name);
        let option = SetOption::new()
            .target_pane(session.clone())
            .option(CAPTURE_OPTION)
            .value(self.capture.to_string());
        let owner =
            SetOption::new().target_pane(session.clone()).option(HOME_OPTION).value(self.home.to_string());
        let hook =
            |h| SetHook::new().target_session(session.clone()).hook_name(h).command(CAPTURE_PANE).build();
        let first =
            PipePane::new().stdin().target_pane(session.clone()).shell_command("#{@mono-capture}").build();
        TmuxCmd::with_command(cmd)
            .add_command(option.build())
            .add_command(owner.build())
            .add_command(hook("after-new-window"))
            .add_command(hook("after-split-window"))
            .add_command(first)
    }
}

/// Creates a detached session running `shell -i` in `cwd` with the
/// variables that [`SessionSpec::fit`], every pane of it (now and later)
/// piped into the capture command and tagged as its home's. The session,
/// its capture and its hooks are made by one command list, before tmux
/// reads any output, so nothing the shell prints is missed. Returns the
/// names of the variables left out.
pub async fn new_session(spec: &SessionSpec<'_>, cwd: &Path) -> Result<Vec<String>, TmuxError> {
    let fit = spec.fit()?;
    let tmux = spec.commands(&fit.kept);
    run_in("new-session", tmux, Some(cwd), Carries::NewSession).await?;
    Ok(fit.left_out)
}

/// A run started in its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPane {
    /// tmux's pane id (`%12`).
    pub pane: String,
    /// The pane's process: leader of the run's process group.
    pub pid: i32,
}

/// Opens the run window in the background and runs `script` there through
/// `sh -c`; when it ends, its exit status is written to `exit_file` (or,
/// when that cannot be written, handed to tmux for [`run_exit`]) and the
/// window closes. The script and the file
/// name travel as environment variables, never through tmux's command or
/// format parsers. The window starts in `cwd` (tmux takes a detached
/// client's directory).
pub async fn new_run_window(
    session: &str,
    cwd: &Path,
    script: &str,
    exit_file: &Path,
) -> Result<RunPane, TmuxError> {
    // Traps, not ignores: ignored signals would stay ignored in the script.
    // The outer shell survives the interrupt that ends the script and still
    // records how it ended (128 + signal for a signal). A hang-up (the
    // window or session killed) is not trapped: the shell, which leads the
    // pane's session, dies of it, and the kernel then hangs up the whole
    // foreground process group, so a server the script started does not
    // outlive its session. (A trap would not help: sh runs traps only after
    // the foreground command ends.) The status file is written owner-only
    // under a umask of its own, so the script keeps the caller's umask.
    // When it cannot be written (a full disk), the shell hands the status
    // to its tmux server (the pane knows it through TMUX and TMUX_PANE),
    // which needs no disk. The pane is not kept after its shell exits
    // (`remain-on-exit`): tmux would then wait for SIGCHLD to close it, and
    // Debian's tmux (built with libutempter) can miss one, leaving the run
    // unfinished.
    const WRAPPER: &str = "trap : INT TERM; s=$MONO_RUN_SCRIPT; e=$MONO_RUN_EXIT; \
        unset MONO_RUN_SCRIPT MONO_RUN_EXIT; sh -c \"$s\"; code=$?; \
        (umask 077; printf '%s\\n' \"$code\" > \"$e.tmp\") && mv -f \"$e.tmp\" \"$e\" \
        || tmux set-option -t \"$TMUX_PANE\" @mono-run-exit \"$TMUX_PANE $code\"";
    let target = format!("={session}:");
    let script_var = format!("MONO_RUN_SCRIPT={script}");
    let exit_var = format!("MONO_RUN_EXIT={}", exit_file.display());
    // Built by hand: the builder keeps only one `-e`.
    let mut cmd = TmuxCommand::new_full("new-window");
    cmd.push_flag("-d").push_flag("-P").push_option("-F", "#{pane_id} #{pane_pid}");
    cmd.push_option("-t", target).push_option("-n", RUN_WINDOW);
    cmd.push_option("-e", script_var).push_option("-e", exit_var);
    cmd.push_param("/bin/sh").push_param("-c").push_param(WRAPPER);
    let out = run_in("new-window", TmuxCmd::with_command(cmd), Some(cwd), Carries::Values).await?;
    let mut parts = out.split_whitespace();
    match (parts.next(), parts.next().and_then(|p| p.parse().ok())) {
        (Some(pane), Some(pid)) => Ok(RunPane { pane: pane.to_string(), pid }),
        _ => Err(TmuxError::Failed { command: "new-window", stderr: format!("unexpected reply {out:?}") }),
    }
}

/// The status the run window's shell of pane `pane` in session `name`
/// handed to tmux because it could not write its status file (see
/// [`new_run_window`]). `None` when it handed none for that pane.
pub async fn run_exit(name: &str, pane: &str) -> Result<Option<i32>, TmuxError> {
    let mut show = TmuxCommand::new_full("show-options");
    show.push_flag("-v").push_option("-t", format!("={name}:")).push_param(RUN_EXIT_OPTION);
    match run("show-options", TmuxCmd::with_command(show), Carries::Names).await {
        Ok(out) => Ok(parse_run_exit(&out, pane)),
        Err(TmuxError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `<pane> <status>` as the shell writes it (`<pane>  <signal>`, a signal
/// instead, is read too), for `pane`.
fn parse_run_exit(value: &str, pane: &str) -> Option<i32> {
    let mut parts = value.trim_end_matches('\n').split(' ');
    if parts.next()? != pane {
        return None;
    }
    let (status, signal) = (parts.next()?, parts.next().unwrap_or(""));
    match (status.parse::<i32>(), signal.parse::<i32>()) {
        (Ok(status), _) => Some(status),
        (_, Ok(signal)) => Some(128 + signal),
        _ => None,
    }
}

/// Whether a pane of this id exists.
pub async fn pane_alive(pane: &str) -> Result<bool, TmuxError> {
    let mut list = TmuxCommand::new_full("list-panes");
    list.push_flag("-a").push_option("-F", "#{pane_id}");
    match run("list-panes", TmuxCmd::with_command(list), Carries::Names).await {
        Ok(out) => Ok(out.lines().any(|l| l == pane)),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a session of exactly this name exists.
pub async fn has_session(name: &str) -> Result<bool, TmuxError> {
    match run(
        "has-session",
        TmuxCmd::with_command(HasSession::new().target_session(exact(name))),
        Carries::Names,
    )
    .await
    {
        Ok(_) => Ok(true),
        Err(TmuxError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Kills a session; `Ok(false)` when there was none.
pub async fn kill_session(name: &str) -> Result<bool, TmuxError> {
    match run(
        "kill-session",
        TmuxCmd::with_command(KillSession::new().target_session(exact(name))),
        Carries::Names,
    )
    .await
    {
        Ok(_) => Ok(true),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Names of all sessions, in one tmux call. No server means no sessions.
pub async fn list_sessions() -> Result<HashSet<String>, TmuxError> {
    match run(
        "list-sessions",
        TmuxCmd::with_command(ListSessions::new().format("#{session_name}")),
        Carries::Names,
    )
    .await
    {
        Ok(out) => Ok(out.lines().map(str::to_string).collect()),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// Sessions tagged as `home`'s (see [`new_session`]), in one tmux call.
pub async fn sessions_of(home: &str) -> Result<Vec<String>, TmuxError> {
    // The name first: mono's names have no tab, a home path might.
    let format = format!("#{{session_name}}\t#{{{HOME_OPTION}}}");
    match run(
        "list-sessions",
        TmuxCmd::with_command(ListSessions::new().format(format.as_str())),
        Carries::Names,
    )
    .await
    {
        Ok(out) => Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, owner)| *owner == home)
            .map(|(name, _)| name.to_string())
            .collect()),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Types `text` into the session's active pane and presses Enter.
pub async fn send_line(name: &str, text: &str) -> Result<(), TmuxError> {
    let target = format!("={name}:");
    let literal: TmuxCommand = {
        let mut c = SendKeys::new().disable_lookup().target_pane(target.as_str()).build();
        // `--` so text starting with `-` is not read as a flag.
        c.push_param("--").push_param(text.to_string());
        c
    };
    let enter = SendKeys::new().target_pane(target.as_str()).key("Enter").build();
    run("send-keys", TmuxCmd::new().add_command(literal).add_command(enter), Carries::Values).await.map(drop)
}

fn exact(name: &str) -> String {
    format!("={name}")
}

/// tmux's ways of saying "no server" or "no such session".
fn is_absent(stderr: &str) -> bool {
    ["no server running", "can't find session", "error connecting to", "No such file or directory"]
        .iter()
        .any(|m| stderr.contains(m))
}

/// Splits variables into those that fit in `room` bytes of a command and
/// those left out, dropping the largest unprotected ones first. Sorting
/// makes it O(n log n), whatever the number of variables.
fn fit_env<'a>(
    env: &'a [(String, String)],
    protected: &dyn Fn(&str) -> bool,
    room: usize,
) -> Result<Fit<'a>, EnvTooLarge> {
    let total: usize = env.iter().map(env_arg_size).sum();
    if total <= room {
        return Ok(Fit { kept: env.iter().collect(), left_out: Vec::new() });
    }
    let (kept, mut droppable): (Vec<_>, Vec<_>) = env.iter().partition(|kv| protected(&kv.0));
    let needed: usize = kept.iter().map(|kv| env_arg_size(kv)).sum();
    if needed > room {
        let mut largest: Vec<(String, usize)> =
            kept.iter().map(|kv| (kv.0.clone(), env_arg_size(kv))).collect();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        largest.truncate(3);
        return Err(EnvTooLarge { limit: COMMAND_ROOM, room, count: kept.len(), needed, largest });
    }
    droppable.sort_by(|a, b| env_arg_size(b).cmp(&env_arg_size(a)).then_with(|| a.0.cmp(&b.0)));
    let mut excess = total - room;
    let mut left_out = HashSet::new();
    for kv in droppable {
        if excess == 0 {
            break;
        }
        excess = excess.saturating_sub(env_arg_size(kv));
        left_out.insert(kv.0.as_str());
    }
    let kept = env.iter().filter(|kv| !left_out.contains(kv.0.as_str())).collect();
    let mut left_out: Vec<String> = left_out.into_iter().map(str::to_string).collect();
    left_out.sort();
    Ok(Fit { kept, left_out })
}

/// What `-e K=V` takes in a command frame: both arguments with their NULs,
/// the value escaped as [`argv_literal`] sends it.
fn env_arg_size(kv: &(String, String)) -> usize {
    let escaped = usize::from(kv.1.ends_with(';'));
    "-e".len() + 1 + kv.0.len() + 1 + kv.1.len() + escaped + 1
}

async fn run(command: &'static str, tmux: TmuxCmd<'_>, carries: Carries) -> Result<String, TmuxError> {
    run_in(command, tmux, None, carries).await
}

/// A command list's arguments as sent to tmux.
fn argv_of(tmux: TmuxCmd<'_>) -> Vec<OsString> {
    let std_cmd: std::process::Command = tmux.into_command();
    std_cmd.get_args().map(argv_literal).collect()
}

/// Runs a tmux command (several, separated by `;`), in `cwd` when given,
/// straight through the server's socket ([`direct`]). When no server runs,
/// a new session starts one first and other commands find nothing; when
/// the socket cannot take a command, a query runs as a `tmux` process and
/// a command carrying values fails.
async fn run_in(
    command: &'static str,
    tmux: TmuxCmd<'_>,
    cwd: Option<&Path>,
    carries: Carries,
) -> Result<String, TmuxError> {
    let argv = argv_of(tmux);
    let started = std::time::Instant::now();
    let here = match cwd {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().unwrap_or_else(|_| "/".into()),
    };
    let (mut attempt, mut start_failed) = (0, None);
    loop {
        attempt += 1;
        let reply =
            tokio::time::timeout(DIRECT_DEADLINE, direct::run(&argv, &here)).await.unwrap_or_else(|_| {
                direct::Reply::Lost(format!(
                    "the tmux server did not answer within {}s",
                    DIRECT_DEADLINE.as_secs()
                ))
            });
        let why = match reply {
            direct::Reply::Exited { status, stdout, stderr } => {
                tracing::debug!(command, elapsed_us = started.elapsed().as_micros() as u64, "tmux (socket)");
                return if status == 0 {
                    Ok(stdout)
                } else {
                    Err(TmuxError::Failed { command, stderr: stderr.trim().to_string() })
                };
            }
            direct::Reply::Lost(stderr) => return Err(TmuxError::Failed { command, stderr }),
            direct::Reply::NotRun(why) => why,
        };
        match (why, carries) {
            (NotRun::NoServer, Carries::NewSession) if attempt <= START_ATTEMPTS => {
                start_failed = server::start().await.err();
            }
            (NotRun::NoServer, Carries::NewSession) => {
                return Err(start_failed.unwrap_or_else(|| TmuxError::Failed {
                    command,
                    stderr: "the tmux server monod started does not answer on its socket".into(),
                }));
            }
            (NotRun::NoServer, _) => {
                return Err(TmuxError::Failed { command, stderr: "no server running".into() });
            }
            (_, Carries::Names) => {
                let out = spawn(command, &argv, cwd).await;
                tracing::debug!(command, elapsed_us = started.elapsed().as_micros() as u64, "tmux (process)");
                return out;
            }
            (why, _) => return Err(TmuxError::Unsendable { command, why }),
        }
    }
}

/// Runs a tmux client process for a query, in `cwd` when given.
async fn spawn(command: &'static str, argv: &[OsString], cwd: Option<&Path>) -> Result<String, TmuxError> {
    let out =
        server::command(argv, cwd.unwrap_or(Path::new("/"))).output().await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TmuxError::NotInstalled,
            _ => TmuxError::Spawn(e),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(TmuxError::Failed { command, stderr })
    }
}

/// A tmux argv argument as given: tmux reads a trailing `;` as the end of
/// a command (`PROMPT_COMMAND=history -a;` in `-e` would split
/// `new-session`) unless written `\;`. A lone `;` is a separator and kept.
fn argv_literal(arg: &OsStr) -> OsString {
    let bytes = arg.as_bytes();
    match bytes.split_last() {
        Some((b';', head)) if !head.is_empty() => {
            let mut out = head.to_vec();
            out.extend_from_slice(b"\\;");
            OsString::from_vec(out)
        }
        _ => arg.to_os_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_stay_in_their_argument() {
        assert_eq!(argv_literal(OsStr::new("FOO=history -a;")), "FOO=history -a\\;");
        assert_eq!(argv_literal(OsStr::new("a\\;")), "a\\\\;");
        assert_eq!(argv_literal(OsStr::new(";")), ";");
        assert_eq!(argv_literal(OsStr::new("x;y")), "x;y");
    }

    fn var(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn the_run_windows_recorded_status_is_read_for_its_pane_only() {
        assert_eq!(parse_run_exit("%12 3 \n", "%12"), Some(3));
        assert_eq!(parse_run_exit("%12  9\n", "%12"), Some(137));
        assert_eq!(parse_run_exit("%12 0 ", "%12"), Some(0));
        assert_eq!(parse_run_exit("%11 3 ", "%12"), None);
        assert_eq!(parse_run_exit("%12  ", "%12"), None);
        assert_eq!(parse_run_exit("", "%12"), None);
    }

    #[test]
    fn env_fits_by_dropping_largest_caller_vars() {
        let big = "x".repeat(9000);
        let env = vec![
            var("MONO_ENV_ID", "1"),
            var("PATH", "/bin"),
            var("HUGE", &big),
            var("ALSO_HUGE", &big),
            var("FROM_MONO_YML", &big),
            var("SMALL", "s"),
        ];
        let protected = |k: &str| k == "FROM_MONO_YML" || k == "PATH" || k.starts_with("MONO_");
        let fit = fit_env(&env, &protected, 14 * 1024).unwrap();
        // Too big together: the caller's two large ones go, the protected stays.
        assert_eq!(fit.left_out, vec!["ALSO_HUGE".to_string(), "HUGE".to_string()]);
        assert_eq!(fit.kept.len(), 4);
        assert!(fit.kept.iter().all(|kv| kv.0 != "ALSO_HUGE"));
        // With room for everything, nothing is left out.
        assert!(fit_env(&env, &protected, 64 * 1024).unwrap().left_out.is_empty());
    }

    #[test]
    fn protected_vars_that_cannot_fit_are_an_error_naming_the_largest() {
        let env = vec![var("A_YML", &"a".repeat(9000)), var("B_YML", &"b".repeat(8000)), var("C", "c")];
        let err = fit_env(&env, &|k| k.ends_with("_YML"), 16000).unwrap_err();
        assert_eq!((err.count, err.needed), (2, 17020));
        assert_eq!(err.largest, vec![("A_YML".to_string(), 9010), ("B_YML".to_string(), 8010)]);
        let text = err.to_string();
        assert!(text.contains("at most 16368 (16000 once") && text.contains("A_YML (9010 bytes)"), "{text}");
    }

    #[test]
    fn many_variables_are_fitted_by_size() {
        let env: Vec<_> = (0..20_000).map(|i| var(&format!("V{i:05}"), &"v".repeat(i % 50))).collect();
        let fit = fit_env(&env, &|k| k == "V19999", 14 * 1024).unwrap();
        // Only the smallest fit, and the protected one, however large.
        assert!(fit.kept.iter().any(|kv| kv.0 == "V19999"));
        assert!(fit.kept.iter().all(|kv| kv.0 == "V19999" || kv.1.len() < 20), "{:?}", fit.kept.len());
        assert_eq!(fit.kept.len() + fit.left_out.len(), env.len());
        let used: usize = fit.kept.iter().map(|kv| env_arg_size(kv)).sum();
        assert!(used <= 14 * 1024);
    }

    #[test]
    fn a_fitted_session_fills_one_tmux_command_and_no_more() {
        let env: Vec<_> = (0..2000).map(|i| var(&format!("CALLER_{i:04}"), "some value;")).collect();
        let protected = HashSet::new();
        let spec = SessionSpec {
            name: "mono-app-one",
            env: &env,
            protected: &protected,
            shell: "/bin/sh",
            capture: "exec /usr/bin/monod capture --dir /home/u/.mono/logs/app-one",
            home: "/home/u/.mono",
        };
        let fit = spec.fit().unwrap();
        assert!(!fit.left_out.is_empty());
        let size = direct::command_size(&argv_of(spec.commands(&fit.kept)));
        assert!(size <= COMMAND_ROOM, "{size}");
        assert!(size + env_arg_size(&env[0]) > COMMAND_ROOM, "room was left: {size}");
    }
}
