//! The life of an environment: init, list, status, run, attach, destroy.

use mono_e2e::{Bounded, Sandbox, WAIT, wait_until};

#[test]
fn init_run_list_destroy_round_trip() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace(
        "shop/.conductor/workspaces/feature-auth",
        "env:\n  APP_URL: \"http://127.0.0.1:${MONO_ENV_ID}00/${MONO_ENV_NAME}\"\n\
         scripts:\n  init: echo init-out; echo init-err >&2\n  setup: echo \"setup sees $APP_URL\"\n  \
         run: echo \"$MONO_ENV_NAME $APP_URL\" > run-output.txt\n",
    );
    let init = &ws.init;
    // Script output streams to the caller, on the stream it was written to.
    assert!(init.stdout.contains("init-out"), "{}", init.stdout);
    assert!(init.stderr.contains("init-err"), "{}", init.stderr);
    assert!(init.stdout.contains("setup sees http://127.0.0.1:100/shop-feature-auth"), "{}", init.stdout);
    assert!(init.stdout.contains("shop-feature-auth is ready"), "{}", init.stdout);

    // The event log keeps the lifecycle, not the output (live only; see progress.rs).
    let stored = sb.mono(["events", "--since", "0", "--no-follow", "--json"]).ok();
    let kinds: Vec<String> = stored
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.iter().any(|k| k == "env.created") && kinds.iter().any(|k| k == "env.ready"), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "env.progress"), "{kinds:?}");

    let data_dir = sb.home.join("data/shop-feature-auth");
    assert!(data_dir.is_dir());
    assert!(sb.has_session("mono-shop-feature-auth"));

    let list = sb.mono(["list", "--json"]).ok().json();
    let envs = list.as_array().unwrap();
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["id"], 1);
    assert_eq!(envs[0]["name"], "shop-feature-auth");
    assert_eq!(envs[0]["path"], ws.to_str().unwrap());
    assert_eq!(envs[0]["status"], "running");
    assert_eq!(envs[0]["data_dir"], data_dir.to_str().unwrap());
    assert!(envs[0]["created_at"].as_str().unwrap().ends_with('Z'));

    let table = sb.mono(["list"]).ok().stdout;
    let row = table.lines().find(|l| l.starts_with("shop-feature-auth")).expect("row in table");
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[3], "running", "{table}");
    assert!(columns[4] == "active" || columns[4].starts_with("idle") || columns[4] == "-", "{table}");
    assert_eq!(columns.last(), Some(&"-"), "{table}");
    assert!(table.starts_with("NAME"), "{table}");

    let status = sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(status["session"], "mono-shop-feature-auth");
    assert_eq!(status["port_base"], 19100);

    sb.mono(["run", ws.to_str().unwrap()]).ok();
    let out = ws.join("run-output.txt");
    wait_until(WAIT, "the run script to write its file", || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "shop-feature-auth http://127.0.0.1:100/shop-feature-auth\n"
    );

    let destroyed = sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert!(destroyed.stdout.contains("shop-feature-auth destroyed"));
    assert!(!sb.has_session("mono-shop-feature-auth"));
    assert!(!data_dir.exists());
    assert_eq!(sb.env_rows(), 0);
    assert_eq!(sb.mono(["list", "--json"]).ok().json(), serde_json::json!([]));
}

#[test]
fn session_shell_has_callers_environment_and_mono_variables() {
    let sb = Sandbox::new();
    let ws = sb.workspace("app/ws1");
    let bin = sb.root().join("caller-bin");
    std::fs::create_dir_all(&bin).unwrap();
    sb.mono_yml(
        &ws,
        "env:\n  DERIVED: \"${CALLER_MARKER}-${MONO_ENV_ID}\"\nscripts:\n  run: env > env-dump.txt\n",
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    sb.mono_cmd()
        .args(["init", ws.to_str().unwrap()])
        .env("CALLER_MARKER", "marker 42")
        .env("PATH", &path)
        .run()
        .ok();
    sb.mono(["run", ws.to_str().unwrap()]).ok();
    let dump = ws.join("env-dump.txt");
    wait_until(WAIT, "the session to dump its environment", || {
        std::fs::read_to_string(&dump).is_ok_and(|s| s.contains("MONO_DATA_DIR="))
    });
    let env = std::fs::read_to_string(&dump).unwrap();
    let has = |kv: &str| env.lines().any(|l| l == kv);
    assert!(has("CALLER_MARKER=marker 42"), "{env}");
    assert!(has(&format!("PATH={path}")), "PATH not forwarded:\n{env}");
    assert!(has("MONO_ENV_NAME=app-ws1"), "{env}");
    assert!(has("MONO_ENV_ID=1"), "{env}");
    assert!(has(&format!("MONO_ENV_PATH={}", ws.display())), "{env}");
    assert!(has(&format!("MONO_DATA_DIR={}", sb.home.join("data/app-ws1").display())), "{env}");
    assert!(has("DERIVED=marker 42-1"), "{env}");
    // The shell starts in the workspace.
    assert!(has(&format!("PWD={}", ws.display())), "{env}");
}

#[test]
fn mono_log_has_the_documented_format() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("shop/feat", "scripts:\n  init: echo added 847 packages; echo oops >&2\n");
    let log = sb.mono_log();
    let line_re = |l: &str| {
        // [HH:MM:SS.mmm] [+elapsed] [tag] message
        let b = l.as_bytes();
        b.len() > 16
            && b[0] == b'['
            && b[3] == b':'
            && b[6] == b':'
            && b[9] == b'.'
            && l[13..].starts_with("] [+")
            && l.split("] [").nth(1).is_some_and(|e| e.ends_with('s'))
    };
    for l in log.lines() {
        assert!(line_re(l), "bad log line: {l:?}");
    }
    let find = |needle: &str| {
        log.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in\n{log}"))
    };
    assert!(find("] [shop-feat] mono init ").ends_with(ws.to_str().unwrap()));
    find("] [shop-feat] created data directory");
    find("] [shop-feat] running init script: echo added 847 packages; echo oops >&2");
    find("] [shop-feat|out] added 847 packages");
    find("] [shop-feat|err] oops");
    find("] [shop-feat] init script completed (exit 0)");
    find("] [shop-feat] created tmux session mono-shop-feat");
}

#[test]
fn failing_init_script_rolls_back_and_retry_works() {
    let sb = Sandbox::new();
    let ws = sb.workspace("proj/rollback");
    sb.mono_yml(&ws, "scripts:\n  init: echo partial > \"$MONO_DATA_DIR/x\"; exit 3\n");
    let err = sb.mono(["init", ws.to_str().unwrap()]).fails_with("init script failed (exit 3)");
    assert!(err.contains("mono.yml"), "{err}");
    assert_eq!(sb.env_rows(), 0);
    assert!(!sb.home.join("data/proj-rollback").exists());
    assert!(!sb.has_session("mono-proj-rollback"));

    // A failing setup script also undoes the data directory and the row.
    sb.mono_yml(&ws, "scripts:\n  setup: exit 7\n");
    sb.mono(["init", ws.to_str().unwrap()]).fails_with("setup script failed (exit 7)");
    assert_eq!(sb.env_rows(), 0);
    assert!(!sb.home.join("data/proj-rollback").exists());

    sb.mono_yml(&ws, "scripts:\n  init: echo fixed\n");
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert_eq!(sb.env_rows(), 1);
    assert!(sb.has_session("mono-proj-rollback"));
}

#[test]
fn slots_are_reused_after_destroy() {
    let sb = Sandbox::new();
    let ids: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let ws = sb.workspace(&format!("p/{n}"));
            sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json()["id"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    sb.mono(["destroy", sb.workspace("p/b").to_str().unwrap()]).ok();
    let d = sb.workspace("p/d");
    let info = sb.mono(["init", d.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(info["id"], 2);
    assert_eq!(info["port_base"], 19200);
}

#[test]
fn destroy_works_when_session_data_dir_and_workspace_are_gone() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/gone", "scripts:\n  destroy: echo never runs\n");
    sb.tmux(["kill-session", "-t", "=mono-p-gone"]).ok();
    assert_eq!(sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()["status"], "stopped");
    std::fs::remove_dir_all(sb.home.join("data/p-gone")).unwrap();
    std::fs::remove_dir_all(&ws).unwrap();
    let out = sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("was already gone"), "{}", out.stderr);
    assert!(!out.stdout.contains("never runs"));
    assert_eq!(sb.env_rows(), 0);
    // Idempotent: a second destroy says there is nothing to do and succeeds.
    let again = sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert!(again.stderr.contains("nothing to destroy: no environment is registered"), "{}", again.stderr);
}

#[test]
fn destroy_runs_destroy_script_first_and_survives_its_failure() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/dump", "scripts:\n  destroy: ls \"$MONO_DATA_DIR\" > ../dumped.txt; tmux has-session -t =mono-p-dump && echo session-alive >> ../dumped.txt; exit 4\n");
    std::fs::write(sb.home.join("data/p-dump/db.sqlite"), "x").unwrap();
    let out = sb.mono(["destroy", ws.to_str().unwrap(), "--json"]).ok();
    // It ran before the data directory and the session were removed.
    let dumped = std::fs::read_to_string(ws.parent().unwrap().join("dumped.txt")).unwrap();
    assert_eq!(dumped, "db.sqlite\nsession-alive\n");
    let result = out.json();
    assert!(result["warnings"][0].as_str().unwrap().contains("destroy script failed (exit 4)"), "{result}");
    assert_eq!(sb.env_rows(), 0);
}

#[test]
fn state_persists_across_daemon_restart() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/persist", "");
    let first = sb.daemon_pid().expect("daemon running");
    sb.mono(["daemon", "stop"]).ok();
    assert!(sb.daemon_pid().is_none());
    // The next command starts a new daemon, which knows the environment.
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_ne!(sb.daemon_pid(), Some(first));
    assert_eq!(list[0]["name"], "p-persist");
    assert_eq!(list[0]["status"], "running");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn attach_enters_the_session() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/attach", "");
    // Run `mono attach` in a terminal: a pane of another session.
    let mono = mono_e2e::bin_dir().join("mono");
    sb.tmux(["new-session", "-d", "-s", "outer", "-x", "80", "-y", "24"]).ok();
    let cmd = format!(
        "env -u TMUX MONO_HOME='{}' TMUX_TMPDIR='{}' '{}' attach '{}'",
        sb.home.display(),
        sb.tmux_dir.display(),
        mono.display(),
        ws.display()
    );
    sb.tmux(["send-keys", "-t", "=outer:", "-l", &cmd]).ok();
    sb.tmux(["send-keys", "-t", "=outer:", "Enter"]).ok();
    wait_until(WAIT, "a client attached to mono-p-attach", || {
        sb.tmux(["list-clients", "-t", "=mono-p-attach", "-F", "#{client_session}"])
            .stdout
            .contains("mono-p-attach")
    });
}

#[test]
fn run_without_script_or_session_is_a_clear_error() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/norun", "");
    sb.mono(["run", ws.to_str().unwrap()]).fails_with("no run script; add `scripts: {run: ...}`");
    sb.mono_yml(&ws, "scripts:\n  run: echo hi\n");
    sb.tmux(["kill-session", "-t", "=mono-p-norun"]).ok();
    sb.mono(["run", ws.to_str().unwrap()]).fails_with("tmux session mono-p-norun is gone");
}

#[test]
fn init_completes_after_its_client_is_killed() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/orphan");
    let gate = sb.gate();
    sb.mono_yml(&ws, &gate.mono_yml());
    let mut client = sb
        .mono_cmd()
        .args(["init", ws.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .start();
    gate.wait_started();
    client.stop();
    gate.open();
    wait_until(WAIT, "the orphaned init to finish", || {
        sb.mono(["status", ws.to_str().unwrap(), "--json"]).json()["status"] == "running"
    });
    assert!(sb.home.join("data/p-orphan").is_dir());
    assert!(sb.has_session("mono-p-orphan"));
}
