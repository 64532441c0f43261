//! The daemon's life: one per home, start on demand, permissions, signals,
//! protocol versions.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use mono_e2e::{Bounded, Sandbox, WAIT, alive, kill, wait_until};

#[test]
fn home_and_socket_are_private() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sb.home), 0o700);
    assert_eq!(mode(&sb.home.join("monod.sock")), 0o600);
    let status = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(status["protocol"], mono_proto::PROTOCOL_VERSION);
    assert_eq!(status["pid"], sb.daemon_pid().unwrap());
    assert_eq!(status["home"], sb.home.to_str().unwrap());
    assert_eq!(status["tmux"]["available"], true);
    assert!(status["docker"]["detail"].is_string());
    assert!(status["uptime_ms"].is_u64());
}

#[test]
fn ten_clients_at_once_start_one_daemon() {
    let sb = Sandbox::new();
    let children: Vec<_> = (0..10)
        .map(|_| sb.mono_cmd().args(["list"]).stdout(Stdio::null()).stderr(Stdio::piped()).start())
        .collect();
    for c in children {
        c.finish().ok();
    }
    assert_eq!(sb.daemons().len(), 1);
}

#[test]
fn a_second_daemon_for_the_same_home_refuses_to_start() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let pid = sb.daemon_pid().unwrap();
    let out = std::process::Command::new(mono_e2e::bin_dir().join("monod"))
        .env("MONO_HOME", &sb.home)
        .env("TMUX_TMPDIR", &sb.tmux_dir)
        .run();
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&format!("monod is already running for {} (pid {pid})", sb.home.display())),
        "{}",
        out.stderr
    );
    assert!(sb.home.join("monod.sock").exists(), "the second daemon removed the live socket");
    sb.mono(["list"]).ok();
    let again = sb.mono(["daemon", "start"]).ok();
    assert!(again.stdout.contains("already running"), "{}", again.stdout);
}

#[test]
fn stale_socket_and_lock_file_from_a_killed_daemon_are_recovered() {
    let sb = Sandbox::new();
    sb.init_workspace("p/crash", "");
    let pid = sb.daemon_pid().unwrap();
    kill(pid, 9);
    wait_until(WAIT, "the daemon to die", || !alive(pid));
    assert!(sb.home.join("monod.sock").exists(), "a killed daemon leaves its socket");
    // The next client starts a fresh daemon, which clears the stale socket.
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "p-crash");
    assert_ne!(sb.daemon_pid(), Some(pid));
}

#[test]
fn daemon_status_and_stop_without_a_daemon() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "status"]).fails_with("monod is not running");
    assert!(sb.mono(["daemon", "stop"]).ok().stdout.contains("not running"));
    assert!(sb.daemons().is_empty(), "status or stop started a daemon");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let sb = Sandbox::new();
    let mut child = sb.spawn_daemon(&[]);
    sb.init_workspace("p/term", "");
    kill(child.id() as i32, 15);
    let code = child.wait_code();
    assert_eq!(code, 0, "monod exited with {code}");
    assert!(!sb.home.join("monod.sock").exists(), "socket left behind");
    // The lock is free: a new daemon starts and sees the state.
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "p-term");
    let check = sb.db().query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn sigterm_during_init_rolls_it_back() {
    let sb = Sandbox::new();
    let mut child = sb.spawn_daemon(&[]);
    let ws = sb.workspace("p/interrupted");
    let started = sb.root().join("started");
    sb.mono_yml(&ws, &format!("scripts:\n  init: touch '{}'; exec sleep 600\n", started.display()));
    let init = sb
        .mono_cmd()
        .args(["init", ws.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .start();
    wait_until(WAIT, "the init script to start", || started.exists());
    kill(child.id() as i32, 15);
    assert_eq!(child.wait_code(), 0);
    let out = init.finish();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("interrupted because monod is shutting down"), "{}", out.stderr);
    assert_eq!(sb.env_rows(), 0);
    assert!(!sb.home.join("data/p-interrupted").exists());
}

#[test]
fn idle_daemon_of_another_protocol_is_replaced() {
    let sb = Sandbox::new();
    let mut old = sb.spawn_daemon(&[("MONO_TEST_REPORT_PROTOCOL", "999")]);
    let out = sb.mono(["list"]).ok();
    assert!(out.stderr.contains("replacing idle monod"), "{}", out.stderr);
    assert_eq!(old.wait_code(), 0, "the old daemon did not exit cleanly");
    let status = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(status["protocol"], mono_proto::PROTOCOL_VERSION);
    assert_ne!(status["pid"], old.id());
}

#[test]
fn busy_daemon_of_another_protocol_is_left_running() {
    let sb = Sandbox::new();
    let mut old = sb.spawn_daemon(&[("MONO_TEST_REPORT_PROTOCOL", "999")]);
    let ws = sb.workspace("p/busy");
    let gate = sb.gate();
    // An operation started by another client (any JSON-RPC caller).
    let caller = sb.held_init_over_http(&ws, &gate);
    sb.mono(["list"]).fails_with("operation(s) in progress");
    assert_eq!(sb.daemon_pid(), Some(old.id() as i32));
    gate.open();
    let (_, reply) = caller.join().unwrap();
    assert!(reply.contains("\"name\":\"p-busy\""), "{reply}");
    kill(old.id() as i32, 15);
    assert_eq!(old.wait_code(), 0);
}

#[test]
fn curl_speaks_the_documented_protocol() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    mono_e2e::require_program("curl", "curl");
    let out = std::process::Command::new("curl")
        .args(["-s", "--unix-socket", sb.home.join("monod.sock").to_str().unwrap()])
        .args([
            "--json",
            r#"{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{}}"#,
            "http://localhost/",
        ])
        .run();
    let v = out.json();
    assert_eq!(v["result"]["protocol"], mono_proto::PROTOCOL_VERSION, "{v}");
    assert_eq!(v["result"]["pid"], sb.daemon_pid().unwrap());
}

#[test]
fn version_and_help() {
    let sb = Sandbox::new();
    let v = sb.mono(["--version"]).ok();
    assert!(v.stdout.starts_with("mono "), "{}", v.stdout);
    let help = sb.mono(["--help"]).ok().stdout;
    for cmd in ["init", "destroy", "run", "status", "attach", "list", "daemon"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
    let usage = sb.mono(["frobnicate"]);
    assert_eq!(usage.code, 2, "usage errors exit 2");
    assert!(sb.daemons().is_empty(), "--help or a usage error started a daemon");
}
