//! With a tmux server running, monod sends its tmux commands through the
//! server's socket (no `tmux` process); the argv must arrive exactly as
//! built, whatever the directory names and variables hold.

use mono_e2e::{Sandbox, wait_until};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn commands_through_the_socket_keep_every_argument_exact() {
    let sb = Sandbox::new();
    let canary = sb.root().join("pwned");
    // A server that was running before mono, as on a developer's machine.
    sb.tmux(["new-session", "-d", "-s", "keeper", "sleep 3600"]).ok();
    let server = sb.tmux(["display-message", "-p", "-t", "=keeper:", "#{pid}"]).ok().stdout;
    let started =
        sb.mono_cmd().env("MONO_LOG", "monod::tmux=debug").args(["daemon", "start"]).output().unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));

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
    let out = init.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
