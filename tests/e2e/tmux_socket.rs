//! With a tmux server running, monod sends its tmux commands through the
//! server's socket (no `tmux` process); the argv must arrive exactly as
//! built, whatever the directory names and variables hold.

use mono_e2e::{Bounded, Sandbox, WAIT, wait_until};
use std::process::Stdio;

#[test]
fn commands_through_the_socket_keep_every_argument_exact() {
    let sb = Sandbox::new();
    let canary = sb.root().join("pwned");
    // A server that was running before mono, as on a developer's machine.
    sb.tmux(["new-session", "-d", "-s", "keeper", "sleep 3600"]).ok();
    let server = sb.tmux(["display-message", "-p", "-t", "=keeper:", "#{pid}"]).ok().stdout;
    sb.mono_cmd().env("MONO_LOG", "monod::tmux=debug").args(["daemon", "start"]).run().ok();

    let dir = format!("odd #(touch {0}) ##[x] it's ; kill-server ;", canary.display());
    let ws = sb.workspace(&format!("p/{dir}"));
    sb.mono_yml(
        &ws,
        "scripts:\n  run: for v in V1 V2 V3 V4 V5; do printenv $v > $v.txt; done; pwd > pwd.txt\n",
    );
    let values = [
        ("V1", "history -a;".to_string()),
        ("V2", "x ; kill-server".to_string()),
        ("V3", format!("#(touch {})", canary.display())),
        ("V4", "two\nlines and 'quotes' \"too\"".to_string()),
        ("V5", "-t =keeper \\; kill-session".to_string()),
    ];
    let mut init = sb.mono_cmd();
    init.args(["init", ws.to_str().unwrap()]);
    for (k, v) in &values {
        init.env(k, v);
    }
    init.run().ok();
    sb.mono(["run", ws.to_str().unwrap()]).ok();
    wait_until(WAIT, "the run script to write its files", || ws.join("pwd.txt").exists());

    for (k, v) in &values {
        assert_eq!(std::fs::read_to_string(ws.join(format!("{k}.txt"))).unwrap(), format!("{v}\n"), "{k}");
    }
    assert_eq!(std::fs::read_to_string(ws.join("pwd.txt")).unwrap(), format!("{}\n", ws.display()));
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();

    assert!(!canary.exists(), "an argument was run as a command");
    let now = sb.tmux(["display-message", "-p", "-t", "=keeper:", "#{pid}"]).ok().stdout;
    assert_eq!(now, server, "the tmux server was restarted");
    // Each of init, run and destroy went through the socket.
    let log = std::fs::read_to_string(sb.home.join("monod.log")).unwrap();
    for command in ["new-session", "new-window", "kill-session"] {
        let line = format!("tmux (socket) command=\"{command}\"");
        assert!(log.contains(&line), "no `{line}` in monod.log:\n{log}");
    }
    assert!(!log.contains("tmux (process) command=\"new-session\""), "{log}");
}

/// Destroying the last environment lets a tmux server exit (its last
/// session is gone); an init right after must not meet a server on its way
/// out ("server exited unexpectedly"). `MONO_TEST_EXIT_RACE_CYCLES` sets the
/// number of cycles (default 300, about 35 s in a debug build).
#[test]
fn init_right_after_destroying_the_last_environment_never_fails() {
    let cycles: usize =
        std::env::var("MONO_TEST_EXIT_RACE_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let sb = Sandbox::new();
    let ws = sb.workspace("race/ws");
    let ws = ws.to_str().unwrap();
    let mut failures = Vec::new();
    for cycle in 0..cycles {
        let init = sb.mono(["init", ws]);
        if init.code != 0 {
            failures.push(format!("cycle {cycle}: {}", init.stderr.trim()));
        }
        sb.mono(["destroy", ws]).ok();
    }
    assert!(failures.is_empty(), "{} of {cycles} inits failed:\n{}", failures.len(), failures.join("\n"));
}

/// Connections to a Unix socket that its (stopped) server has not accepted
/// (or not closed yet), from `/proc/net/unix`: lines with the socket's path
/// that are not the listener itself (flags `00010000`).
fn pending_connections(socket: &std::path::Path) -> usize {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let path = socket.to_string_lossy();
    table
        .lines()
        .filter(|l| l.ends_with(&format!(" {path}")))
        .filter(|l| l.split_whitespace().nth(3) != Some("00010000"))
        .count()
}

/// A server that dies before it read monod's command (here: stopped, then
/// killed while the command waits to be accepted, as a server on its way
/// out never accepts it) did not run it: monod starts a server and sends
/// the command again, once; a command whose fate is unknown is never sent
/// twice (a unit test of `tmux::direct` covers that side).
#[test]
fn a_command_the_dying_server_never_read_is_sent_to_a_new_server() {
    let sb = Sandbox::new();
    // The user's own server, with tmux's default exit-empty.
    sb.tmux(["new-session", "-d", "-s", "keeper", "sleep 3600"]).ok();
    let server: i32 =
        sb.tmux(["display-message", "-p", "-t", "=keeper:", "#{pid}"]).ok().stdout.trim().parse().unwrap();
    sb.mono(["daemon", "start"]).ok();
    let uid = rustix::process::getuid().as_raw();
    let socket = sb.tmux_dir.canonicalize().unwrap().join(format!("tmux-{uid}/default"));
    // The server closes its side of the clients above (and of monod's
    // start-up queries) in its own time: none may be left when it stops.
    wait_until(WAIT, "the tmux server to close its finished connections", || {
        pending_connections(&socket) == 0
    });

    let ws = sb.workspace("dying/ws");
    mono_e2e::kill(server, 19);
    let init = sb
        .mono_cmd()
        .args(["init", ws.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    wait_until(WAIT, "monod to connect to the stopped server", || pending_connections(&socket) > 0);
    mono_e2e::kill(server, 9);
    init.finish().ok();

    let sessions = sb.tmux(["list-sessions", "-F", "#{session_name}"]).ok().stdout;
    assert_eq!(sessions.lines().collect::<Vec<_>>(), ["mono-dying-ws"], "{sessions}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}
