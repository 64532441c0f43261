//! Upgrades: a state database of the first released schema is migrated by
//! the real daemon with nothing lost; a running daemon of an older version
//! is replaced by the new client when idle, and kept (with a note) while an
//! operation runs.

use mono_e2e::Sandbox;

const FIXTURE: &[u8] = include_bytes!("../../monod/tests/fixtures/state-v1.db");

#[test]
fn a_first_schema_database_is_migrated_and_served() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("state.db"), FIXTURE).unwrap();
    let list = sb.mono(["list", "--json"]).ok().json();
    let names: Vec<(&str, u64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["id"].as_u64().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("web-app-lisbon", 1, "stopped"),
            ("web-app-tokyo", 2, "stopped"),
            ("api-main", 4, "failed"),
            ("web-app-tokyo-2", 5, "stopped")
        ]
    );
    let version: i64 = sb.db().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert!(version > 1, "not migrated: user_version {version}");
    // Old environments are destroyed like new ones; a new one takes slot 3.
    sb.mono(["destroy", "/fixture/api"]).ok();
    let ws = sb.workspace("p/after-upgrade");
    assert_eq!(sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json()["id"], 3);
    // doctor points at the environments whose workspaces are gone.
    let doctor = sb.mono(["doctor"]);
    assert!(
        doctor.stdout.contains(
            "web-app-lisbon: its workspace /fixture/web-app/.conductor/workspaces/lisbon no longer exists"
        ),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("fix: mono destroy /fixture/web-app/.conductor/workspaces/lisbon"));
}

#[test]
fn an_idle_daemon_of_an_older_version_is_replaced() {
    let sb = Sandbox::new();
    let mut old = sb.spawn_daemon(&[("MONO_TEST_REPORT_VERSION", "0.0.1")]);
    let out = sb.mono(["list"]).ok();
    let replacing = format!("replacing idle monod 0.0.1 (protocol {})", mono_proto::PROTOCOL_VERSION);
    assert!(out.stderr.contains(&replacing), "{}", out.stderr);
    assert_eq!(old.wait_code(), 0, "the old daemon did not exit cleanly");
    let status = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_ne!(status["pid"], old.id());
}

#[test]
fn a_busy_daemon_of_an_older_version_keeps_running() {
    let sb = Sandbox::new();
    let mut old = sb.spawn_daemon(&[("MONO_TEST_REPORT_VERSION", "0.0.1")]);
    let ws = sb.workspace("p/busy");
    let gate = sb.gate();
    let caller = sb.held_init_over_http(&ws, &gate);
    // Same protocol: the command is served by the old daemon, with a note.
    let out = sb.mono(["list", "--json"]).ok();
    assert!(
        out.stderr.contains("monod 0.0.1 is busy with 1 operation(s), so it stays until idle"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json().as_array().unwrap().len(), 1);
    assert_eq!(sb.daemon_pid(), Some(old.id() as i32));
    gate.open();
    let (_, reply) = caller.join().unwrap();
    assert!(reply.contains("\"name\":\"p-busy\""), "{reply}");
    // Idle now: the next command replaces it.
    let out = sb.mono(["status", ws.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("replacing idle monod 0.0.1"), "{}", out.stderr);
    assert_eq!(old.wait_code(), 0);
    assert_ne!(sb.daemon_pid(), Some(old.id() as i32));
}
