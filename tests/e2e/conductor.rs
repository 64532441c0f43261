//! How Conductor uses mono: its setup, run and archive scripts call `mono
//! init`, `mono run` and `mono destroy` with no PATH, in a workspace that
//! the archive deletes, at any time relative to daemon restarts; port
//! blocks other programs hold are passed over.

use std::net::TcpListener;
use std::time::Duration;

use mono_e2e::{Bounded, Run, Sandbox, WAIT, wait_until};

/// Conductor's variables for workspace `ws` of repository `repo`.
fn conductor_cmd(sb: &Sandbox, repo: &std::path::Path, ws: &std::path::Path) -> std::process::Command {
    let mut cmd = sb.mono_cmd();
    cmd.env("CONDUCTOR_ROOT_PATH", repo)
        .env("CONDUCTOR_WORKSPACE_NAME", "Tokyo")
        .env("CONDUCTOR_WORKSPACE_PATH", ws)
        .env("CONDUCTOR_PORT", "55100");
    cmd
}

#[track_caller]
fn run(mut cmd: std::process::Command, args: &[&str]) -> Run {
    cmd.args(args).run().ok()
}

#[test]
fn setup_run_and_archive_scripts_without_paths() {
    let sb = Sandbox::new();
    let repo = sb.workspace("My-Repo");
    let ws = sb.workspace("My-Repo/.conductor/workspaces/tokyo");
    sb.mono_yml(&ws, "scripts:\n  run: echo \"serving $MONO_ENV_NAME\"\n");
    // Setup script: `mono init` from anywhere (Conductor's cwd is the workspace, ours is not).
    let out = run(conductor_cmd(&sb, &repo, &ws), &["init", "--json"]);
    let info = out.json();
    assert_eq!(info["name"], "my-repo-tokyo");
    assert_eq!(info["path"], ws.to_str().unwrap());
    // Run script: the run's output and status.
    let out = run(conductor_cmd(&sb, &repo, &ws), &["run"]);
    assert!(out.stdout.contains("serving my-repo-tokyo"));
    // Archive: the workspace folder is deleted, monod restarts, destroy runs
    // twice (Conductor may retry).
    std::fs::remove_dir_all(&ws).unwrap();
    sb.mono(["daemon", "stop"]).ok();
    let out = run(conductor_cmd(&sb, &repo, &ws), &["destroy"]);
    assert!(out.stdout.contains("my-repo-tokyo destroyed"));
    let out = run(conductor_cmd(&sb, &repo, &ws), &["destroy"]);
    assert!(out.stderr.contains("nothing to destroy"));
    assert_eq!(sb.env_rows(), 0);
    assert!(!sb.has_session("mono-my-repo-tokyo"));
    assert!(!sb.home.join("data/my-repo-tokyo").exists());
}

/// Fills slots `1..=last` (and `extra`) with environments whose
/// workspaces do not exist.
fn fill_slots(sb: &Sandbox, last: u32, extra: &[u32]) {
    sb.mono(["daemon", "start"]).ok();
    let db = rusqlite::Connection::open(sb.home.join("state.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let tx = db.unchecked_transaction().unwrap();
    for &id in (1..=last).collect::<Vec<_>>().iter().chain(extra) {
        tx.execute(
            "INSERT INTO environments (id, name, path, project, workspace, mode, phase) VALUES (?1, ?2, ?3, 'f', ?2, 'simple', 'ready')",
            rusqlite::params![id, format!("f-w{id}"), format!("/nowhere/w{id}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Slots 462 to 464 (ports 65200-65499) lie above every Linux ephemeral
/// range and above the slots other tests use; the two tests below listen
/// in different ones (462-463 and 464), so they may run in parallel.
#[test]
fn init_passes_over_a_port_block_another_program_listens_on() {
    let sb = Sandbox::new();
    fill_slots(&sb, 461, &[464]);
    let squatter = TcpListener::bind("127.0.0.1:65205").expect("port 65205 is free");
    let ws = sb.workspace("p/moved");
    let out = sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok();
    assert_eq!(out.json()["id"], 463);
    let me = std::process::id();
    let passed_over = format!("ports 65200-65299 (slot 462) passed over: port 65205 is in use by pid {me} (");
    assert!(out.stderr.contains(&passed_over), "{}", out.stderr);
    // With every free block taken, init says so and changes nothing.
    let other = sb.workspace("p/blocked");
    sb.mono(["init", other.to_str().unwrap()]).fails_with(
        "no environment slot is free (464 in all, 1 free one(s) passed over because other programs listen on their ports)",
    );
    assert_eq!(sb.env_rows(), 463);
    assert!(!sb.home.join("data/p-blocked").exists());
    drop(squatter);
    assert_eq!(sb.mono(["init", other.to_str().unwrap(), "--json"]).ok().json()["id"], 462);
}

#[test]
fn doctor_names_a_foreign_listener_in_a_block_but_not_the_environments_own() {
    let sb = Sandbox::new();
    fill_slots(&sb, 463, &[]);
    let ws = sb.workspace("p/served");
    // The environment's own server, started from its session: not a problem.
    sb.mono_yml(&ws, "scripts:\n  run: exec python3 -m http.server 65411 --bind 127.0.0.1\n");
    assert_eq!(sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json()["id"], 464);
    sb.mono(["run", "--detach", ws.to_str().unwrap()]).ok();
    let serving = || std::net::TcpStream::connect("127.0.0.1:65411").is_ok();
    wait_until(WAIT, "the run's server to listen", serving);
    let clean = sb.mono(["doctor", "--json"]).json();
    // (Other tests may listen in the placeholder environments' blocks.)
    let ports: Vec<&serde_json::Value> = clean["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "ports" && f["message"].as_str().unwrap().contains("p-served"))
        .collect();
    assert!(ports.is_empty(), "{ports:?}");
    // Another program in the block is named, with what to do.
    let _squatter = TcpListener::bind("127.0.0.1:65410").unwrap();
    let out = sb.mono(["doctor"]);
    assert_eq!(out.code, 1);
    let me = std::process::id();
    let named = format!("port 65410 of p-served (ports 65400-65499) is in use by pid {me} (");
    assert!(out.stdout.contains(&named), "{}", out.stdout);
    assert!(out.stdout.contains("to move it to a free block"), "{}", out.stdout);
    assert!(!out.stdout.contains("port 65411"), "{}", out.stdout);
    // Destroy stops the run first: its server does not outlive the session.
    let destroyed = sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert!(destroyed.stderr.contains("stopped run"), "{}", destroyed.stderr);
    assert!(!serving(), "the run's server survived destroy");
}
