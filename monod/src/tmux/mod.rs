//! tmux, run as the user runs it.
//!
//! Commands go to the default server of the daemon's user, honouring
//! `TMUX_TMPDIR` (tests isolate themselves with it) and never the server an
//! inherited `TMUX` variable points at. Command lines are built with
//! `tmux_interface` as argv, never through a shell. The daemon hands that
//! argv to the server over its socket in tmux's client protocol
//! ([`direct`]), sparing a process per command; when no server answers
//! there it runs a `tmux` process on tokio's process driver instead.
//! Targets are exact (`=name`), so `web` never matches `web2`.

mod direct;

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::Stdio;

use tmux_interface::{
    HasSession, KillSession, ListSessions, NewSession, PipePane, SendKeys, SetHook, SetOption,
    Tmux as TmuxCmd, TmuxCommand,
};

use mono_proto::Component;

/// How long a command sent through the socket may take: a server that
/// stops answering must not hold an operation forever.
const DIRECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// tmux refuses commands longer than about 16 KiB; environment variables
/// beyond this budget are left out of a new session (and reported).
pub const ENV_ARG_BUDGET: usize = 14 * 1024;

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
}

/// Checks that tmux runs; reports its version.
pub async fn probe() -> Component {
    match run("-V", TmuxCmd::new().version()).await {
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

/// Creates a detached session running `shell -i` in `cwd` with `env`, every
/// pane of it (now and later) piped into `capture`, a shell command, and
/// tagged as `home`'s. The
/// session, its capture and its hooks are made by one tmux client, before
/// tmux reads any output, so nothing the shell prints is missed.
///
/// Variables past [`ENV_ARG_BUDGET`] are left out, largest first, except
/// `PATH`, `MONO_*` and those `keep` names; their names are returned.
pub async fn new_session(
    name: &str,
    cwd: &Path,
    env: &[(String, String)],
    keep: &(dyn Fn(&str) -> bool + Sync),
    shell: &str,
    capture: &str,
    home: &str,
) -> Result<Vec<String>, TmuxError> {
    let (kept, left_out) = fit_env(env, keep);
    // No `-c`: tmux expands formats in a start directory, and `#(...)` in a
    // format runs a shell command, while `##[` cannot be escaped. The tmux
    // client runs in the workspace instead, whose directory a new session
    // takes as is, so a folder named `#(rm -rf ~)` stays a name.
    let mut ns = NewSession::new().detached().session_name(name);
    for (k, v) in kept {
        ns = ns.environment(k.as_str(), v.as_str());
    }
    let mut cmd: TmuxCommand = ns.build();
    // Two arguments: tmux runs them directly (no `sh -c`), as an interactive,
    // non-login shell, so a profile cannot reset the PATH we pass.
    cmd.push_param(shell.to_string()).push_param("-i");
    let session = format!("={name}:");
    let option = SetOption::new().target_pane(session.as_str()).option(CAPTURE_OPTION).value(capture).build();
    let owner = SetOption::new().target_pane(session.as_str()).option(HOME_OPTION).value(home).build();
    let hook = |h| SetHook::new().target_session(session.as_str()).hook_name(h).command(CAPTURE_PANE).build();
    let first =
        PipePane::new().stdin().target_pane(session.as_str()).shell_command("#{@mono-capture}").build();
    let tmux = TmuxCmd::with_command(cmd)
        .add_command(option)
        .add_command(owner)
        .add_command(hook("after-new-window"))
        .add_command(hook("after-split-window"))
        .add_command(first);
    run_in("new-session", tmux, Some(cwd)).await?;
    Ok(left_out)
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
    // the foreground command ends.) When the status file cannot be written
    // (a full disk), the shell hands the status to its tmux server (the pane
    // knows it through TMUX and TMUX_PANE), which needs no disk. The pane is
    // not kept after its shell exits (`remain-on-exit`): tmux would then
    // wait for SIGCHLD to close it, and Debian's tmux (built with
    // libutempter) can miss one, leaving the run unfinished.
    const WRAPPER: &str = "trap : INT TERM; s=$MONO_RUN_SCRIPT; e=$MONO_RUN_EXIT; \
        unset MONO_RUN_SCRIPT MONO_RUN_EXIT; sh -c \"$s\"; code=$?; \
        printf '%s\\n' \"$code\" > \"$e.tmp\" && mv -f \"$e.tmp\" \"$e\" \
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
    let out = run_in("new-window", TmuxCmd::with_command(cmd), Some(cwd)).await?;
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
    match run("show-options", TmuxCmd::with_command(show)).await {
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
    match run("list-panes", TmuxCmd::with_command(list)).await {
        Ok(out) => Ok(out.lines().any(|l| l == pane)),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a session of exactly this name exists.
pub async fn has_session(name: &str) -> Result<bool, TmuxError> {
    match run("has-session", TmuxCmd::with_command(HasSession::new().target_session(exact(name)))).await {
        Ok(_) => Ok(true),
        Err(TmuxError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Kills a session; `Ok(false)` when there was none.
pub async fn kill_session(name: &str) -> Result<bool, TmuxError> {
    match run("kill-session", TmuxCmd::with_command(KillSession::new().target_session(exact(name)))).await {
        Ok(_) => Ok(true),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Names of all sessions, in one tmux call. No server means no sessions.
pub async fn list_sessions() -> Result<HashSet<String>, TmuxError> {
    match run("list-sessions", TmuxCmd::with_command(ListSessions::new().format("#{session_name}"))).await {
        Ok(out) => Ok(out.lines().map(str::to_string).collect()),
        Err(TmuxError::Failed { stderr, .. }) if is_absent(&stderr) => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// Sessions tagged as `home`'s (see [`new_session`]), in one tmux call.
pub async fn sessions_of(home: &str) -> Result<Vec<String>, TmuxError> {
    // The name first: mono's names have no tab, a home path might.
    let format = format!("#{{session_name}}\t#{{{HOME_OPTION}}}");
    match run("list-sessions", TmuxCmd::with_command(ListSessions::new().format(format.as_str()))).await {
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
    run("send-keys", TmuxCmd::new().add_command(literal).add_command(enter)).await.map(drop)
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

/// Splits variables into those that fit tmux's command length and those
/// left out, dropping the largest first.
fn fit_env<'a>(
    env: &'a [(String, String)],
    keep: &(dyn Fn(&str) -> bool + Sync),
) -> (Vec<&'a (String, String)>, Vec<String>) {
    let size = |kv: &(String, String)| kv.0.len() + kv.1.len() + 4;
    let mut total: usize = env.iter().map(size).sum();
    let mut by_size: Vec<&(String, String)> = env.iter().collect();
    by_size.sort_by_key(|kv| std::cmp::Reverse(size(kv)));
    let mut left_out = HashSet::new();
    for kv in by_size {
        if total <= ENV_ARG_BUDGET {
            break;
        }
        if kv.0.starts_with("MONO_") || kv.0 == "PATH" || keep(&kv.0) {
            continue;
        }
        total -= size(kv);
        left_out.insert(kv.0.as_str());
    }
    let kept = env.iter().filter(|kv| !left_out.contains(kv.0.as_str())).collect();
    let mut names: Vec<String> = left_out.into_iter().map(str::to_string).collect();
    names.sort();
    (kept, names)
}

async fn run(command: &'static str, tmux: TmuxCmd<'_>) -> Result<String, TmuxError> {
    run_in(command, tmux, None).await
}

/// Runs a tmux command (several, separated by `;`), in `cwd` when given:
/// straight through the server's socket when a server answers there
/// ([`direct`]), else as a `tmux` process (which starts a server when none
/// runs, and reports what the socket path cannot).
async fn run_in(command: &'static str, tmux: TmuxCmd<'_>, cwd: Option<&Path>) -> Result<String, TmuxError> {
    let std_cmd: std::process::Command = tmux.into_command();
    let argv: Vec<OsString> = std_cmd.get_args().map(argv_literal).collect();
    let started = std::time::Instant::now();
    let here = match cwd {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().unwrap_or_else(|_| "/".into()),
    };
    let reply = tokio::time::timeout(DIRECT_DEADLINE, direct::run(&argv, &here)).await.unwrap_or_else(|_| {
        direct::Reply::Lost(format!("the tmux server did not answer within {}s", DIRECT_DEADLINE.as_secs()))
    });
    let out = match reply {
        direct::Reply::Exited { status: 0, stdout, .. } => Ok(stdout),
        direct::Reply::Exited { stderr, .. } => {
            Err(TmuxError::Failed { command, stderr: stderr.trim().to_string() })
        }
        direct::Reply::Lost(stderr) => Err(TmuxError::Failed { command, stderr }),
        direct::Reply::Unavailable => {
            let out = spawn(command, &argv, cwd).await;
            tracing::debug!(command, elapsed_us = started.elapsed().as_micros() as u64, "tmux (process)");
            return out;
        }
    };
    tracing::debug!(command, elapsed_us = started.elapsed().as_micros() as u64, "tmux (socket)");
    out
}

/// Runs a tmux client process, in `cwd` when given.
async fn spawn(command: &'static str, argv: &[OsString], cwd: Option<&Path>) -> Result<String, TmuxError> {
    let mut cmd = tokio::process::Command::new("tmux");
    cmd.args(argv);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.env_remove("TMUX").env_remove("TMUX_PANE");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let out = cmd.output().await.map_err(|e| match e.kind() {
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
            ("MONO_ENV_ID".to_string(), "1".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
            ("HUGE".to_string(), big.clone()),
            ("ALSO_HUGE".to_string(), big.clone()),
            ("FROM_MONO_YML".to_string(), big),
            ("SMALL".to_string(), "s".to_string()),
        ];
        let (kept, out) = fit_env(&env, &|k| k == "FROM_MONO_YML");
        // Too big together: the caller's two large ones go, the protected stays.
        assert_eq!(out, vec!["ALSO_HUGE".to_string(), "HUGE".to_string()]);
        assert_eq!(kept.len(), 4);
        assert!(kept.iter().all(|kv| kv.0 != "ALSO_HUGE"));
    }
}
