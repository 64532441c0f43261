//! Starting the user's tmux server when none runs, and the processes monod
//! runs `tmux` as.
//!
//! A tmux server is forked by the `tmux` client that finds none, and keeps
//! two things of that client for life: its argv as the server's command
//! line (which any local user reads in `/proc/<pid>/cmdline`) and its
//! environment as the server's global environment (which every later
//! session inherits). So monod never lets a command carrying variables
//! start a server: it starts one first with a command that holds none,
//! in an environment of only what tmux and a user's tmux configuration
//! need, and then sends every command over the socket ([`super::direct`]).
//!
//! monod then owns that server and keeps it alive (`exit-empty off`): a
//! server exits when its last session ends, and a command sent while it
//! is on its way out fails ("server exited unexpectedly"), which made an
//! init right after destroying the last environment fail now and then.
//! For the user this means the default server stays up, without sessions,
//! after the last environment is destroyed, until `tmux kill-server`; a
//! server the user started keeps the user's settings.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use super::TmuxError;

/// What a `tmux` process monod starts gets of monod's environment: where
/// tmux finds its socket, configuration and terminal, the locale tmux
/// insists on, and the login identity a configuration may use. Nothing a
/// caller passed on.
const KEPT: [&str; 13] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TMUX_TMPDIR",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
];

/// The environment of a `tmux` process: [`KEPT`] and `LC_*` of monod's own.
pub fn environment() -> Vec<(OsString, OsString)> {
    let tmpdir = super::direct::test_tmpdir();
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            (KEPT.contains(&k.as_ref()) || k.starts_with("LC_")) && !(tmpdir.is_some() && k == "TMUX_TMPDIR")
        })
        .collect();
    env.extend(tmpdir.map(|dir| (OsString::from("TMUX_TMPDIR"), dir)));
    env
}

/// A `tmux` command with monod's [`environment`] and no terminal.
pub fn command(argv: &[OsString], cwd: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("tmux");
    cmd.args(argv).current_dir(cwd).env_clear().envs(environment());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// Starts the user's default server, set to outlive its last session, or
/// sets that on a server that started meanwhile (both are idempotent). The
/// command line holds nothing but these words; the server starts in `/`,
/// so it holds no workspace busy.
pub async fn start() -> Result<(), TmuxError> {
    let argv: Vec<OsString> =
        ["start-server", ";", "set-option", "-s", "exit-empty", "off"].iter().map(OsString::from).collect();
    let out = command(&argv, Path::new("/")).output().await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TmuxError::NotInstalled,
        _ => TmuxError::Spawn(e),
    })?;
    if out.status.success() {
        tracing::debug!("started the tmux server");
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(TmuxError::Failed { command: "start-server", stderr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_gets_only_what_it_needs_of_monods_environment() {
        let env = environment();
        let names: Vec<String> = env.iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| KEPT.contains(&n.as_str()) || n.starts_with("LC_")), "{names:?}");
        if std::env::var_os("PATH").is_some() {
            assert!(names.iter().any(|n| n == "PATH"));
        }
    }
}
