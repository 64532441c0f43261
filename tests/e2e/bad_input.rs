//! Bad input gets one clear error line and changes nothing.

use std::os::unix::process::CommandExt;
use std::path::Path;

use mono_e2e::{Bounded, Sandbox, WAIT, require_root};

/// Nothing exists for the sandbox's environments: no rows, no data
/// directories, no mono sessions.
pub(crate) fn assert_untouched(sb: &Sandbox) {
    if sb.home.join("state.db").exists() {
        assert_eq!(sb.env_rows(), 0);
    }
    let data = sb.home.join("data");
    if data.exists() {
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "data directories were left behind");
    }
    let sessions = sb.tmux(["list-sessions", "-F", "#{session_name}"]).stdout;
    assert!(!sessions.lines().any(|s| s.starts_with("mono-")), "sessions left: {sessions}");
}

#[test]
fn missing_path_and_file_instead_of_directory() {
    let sb = Sandbox::new();
    sb.mono(["init", "/definitely/not/here"]).fails_with("/definitely/not/here: no such directory");
    let file = sb.root().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    sb.mono(["init", file.to_str().unwrap()]).fails_with("not a directory");
    assert_untouched(&sb);
}

#[test]
fn relative_and_symlinked_paths_resolve_to_one_environment() {
    let sb = Sandbox::new();
    let ws = sb.workspace("proj/real");
    let link = sb.root().join("ws/link");
    std::os::unix::fs::symlink(&ws, &link).unwrap();
    // Relative to the caller's directory.
    let out =
        sb.mono_cmd().args(["init", "real", "--json"]).current_dir(sb.root().join("ws/proj")).run().ok();
    assert_eq!(out.json()["path"], ws.to_str().unwrap());
    // The same workspace through a symlink is the same environment.
    sb.mono(["init", link.to_str().unwrap()])
        .fails_with("is already registered as environment proj-real; run `mono destroy");
    assert_eq!(sb.mono(["status", link.to_str().unwrap(), "--json"]).ok().json()["name"], "proj-real");
}

#[test]
fn hostile_directory_names_are_data_not_code() {
    let sb = Sandbox::new();
    let canary = sb.root().join("pwned");
    let names = [
        "with space",
        "quote'single",
        "quote\"double",
        "ünïcødé-日本",
        "$(touch ${CANARY})",
        "semi;touch ${CANARY};x",
        "`touch ${CANARY}`",
        "#(touch ${CANARY})",
        "fmt-#{session_name}-#[fg=red]",
        "-dash-first",
    ];
    for (i, raw) in names.iter().enumerate() {
        let dir = raw.replace("${CANARY}", canary.to_str().unwrap());
        let ws = sb.workspace(&format!("hostile{i}/{dir}"));
        sb.mono_yml(&ws, "scripts:\n  init: pwd > \"$MONO_DATA_DIR/pwd.txt\"\n  run: pwd > ran.txt\n");
        let info = sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json();
        let name = info["name"].as_str().unwrap().to_string();
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
        assert_eq!(info["path"], ws.to_str().unwrap());
        let pwd = std::fs::read_to_string(sb.home.join("data").join(&name).join("pwd.txt")).unwrap();
        assert_eq!(pwd.trim_end(), ws.to_str().unwrap());
        sb.mono(["run", ws.to_str().unwrap()]).ok();
        mono_e2e::wait_until(WAIT, "run script output", || ws.join("ran.txt").exists());
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }
    assert!(!canary.exists(), "a directory name was executed as a command");
    assert_untouched(&sb);
}

#[test]
fn malformed_mono_yml_names_file_line_and_column() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/badyml");
    sb.mono_yml(&ws, "scripts:\n  init: [unclosed\n");
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with(&format!("{}/mono.yml:", ws.display()));
    assert!(line.contains("fix the file"), "{line}");
    sb.mono_yml(&ws, "env:\n  A: 1\nscirpts:\n  run: x\n");
    sb.mono(["init", ws.to_str().unwrap()]).fails_with("mono.yml:3:1: unknown field `scirpts`");
    sb.mono_yml(&ws, "env:\n  A: \"${UNCLOSED\"\n");
    sb.mono(["init", ws.to_str().unwrap()]).fails_with("env.A: invalid interpolation format");
    assert_untouched(&sb);
}

#[test]
fn unknown_paths_are_errors_for_every_command() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/unregistered");
    for cmd in ["run", "status", "stop", "logs"] {
        sb.mono([cmd, ws.to_str().unwrap()]).fails_with("no environment is registered for");
    }
    // destroy is idempotent: nothing registered is what it makes.
    let out = sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("nothing to destroy"), "{}", out.stderr);
    sb.mono(["attach", ws.to_str().unwrap()]).fails_with("no environment is registered for");
    assert_untouched(&sb);
}

#[test]
fn malformed_requests_get_json_rpc_errors_and_daemon_survives() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let pid = sb.daemon_pid().unwrap();
    let (status, body) = sb.post("{not json");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("-32700"), "{body}");
    let (_, body) = sb.post(r#"{"jsonrpc":"2.0","id":1,"method":"env.init","params":{"path":42}}"#);
    assert!(body.contains("-32602"), "{body}");
    let (_, body) = sb.post(r#"{"jsonrpc":"2.0","id":2,"method":"env.nope","params":{}}"#);
    assert!(body.contains("-32601"), "{body}");
    let (_, body) =
        sb.post(r#"{"jsonrpc":"2.0","id":3,"method":"env.init","params":{"path":"relative/dir"}}"#);
    let invalid_path = mono_proto::ErrorCode::InvalidPath.code().to_string();
    assert!(body.contains(&invalid_path) && body.contains("relative path"), "{body}");
    let (_, body) = sb.post(r#"{"jsonrpc":"2.0","id":4,"method":"env.status","params":{"path":"/nope"}}"#);
    assert!(body.contains(&mono_proto::ErrorCode::NotFound.code().to_string()), "{body}");
    assert_eq!(sb.daemon_pid(), Some(pid));
    sb.mono(["daemon", "status"]).ok();
    assert_untouched(&sb);
}

#[test]
fn another_user_is_refused() {
    require_root("runs a client as another user (uid 65534)");
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    // Loosen permissions so the kernel lets uid 65534 reach the socket; the
    // daemon's peer-credential check must still refuse it.
    let sock = sb.open_socket_to_others();
    let as_nobody = |program: &Path| {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear().env("MONO_HOME", &sb.home).env("PATH", "/usr/bin:/bin").uid(65534).gid(65534);
        cmd
    };
    // The client refuses another user's home before it connects...
    let out = as_nobody(&mono_e2e::bin_dir().join("mono")).arg("list").run();
    assert_ne!(out.code, 0, "another user was served: {}", out.stdout);
    assert!(out.stderr.contains("belongs to uid 0, not to you (uid 65534)"), "{}", out.stderr);
    // ...and the daemon refuses any other program of that user.
    mono_e2e::require_program("curl", "curl");
    let body = as_nobody(Path::new("curl"))
        .args(["-s", "--unix-socket", sock.to_str().unwrap(), "--json"])
        .args([r#"{"jsonrpc":"2.0","id":1,"method":"env.list","params":{}}"#, "http://localhost/"])
        .run()
        .stdout;
    assert!(
        body.contains("permission denied: this monod belongs to uid 0, the caller is uid 65534"),
        "{body}"
    );
    // The owner is still served.
    sb.mono(["list"]).ok();
}

#[test]
fn init_fails_clearly_when_every_slot_is_taken() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    // Fill all 464 slots in the real database, as 464 inits would.
    {
        let db = rusqlite::Connection::open(sb.home.join("state.db")).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        let tx = db.unchecked_transaction().unwrap();
        for id in 1..=464 {
            tx.execute(
                "INSERT INTO environments (id, name, path, project, workspace, mode, phase) VALUES (?1, ?2, ?3, 'p', ?2, 'simple', 'ready')",
                rusqlite::params![id, format!("p-w{id}"), format!("/nowhere/w{id}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let ws = sb.workspace("p/one-too-many");
    sb.mono(["init", ws.to_str().unwrap()])
        .fails_with("no environment slot is free (464 in all, 0 free one(s) passed over");
    assert_eq!(sb.env_rows(), 464);
    assert!(!sb.home.join("data/p-one-too-many").exists());
    // Freeing one slot makes room, and the slot is reused.
    sb.mono(["destroy", "/nowhere/w300"]).ok();
    assert_eq!(sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json()["id"], 300);
}

#[test]
fn missing_tmux_is_a_clear_error_that_changes_nothing() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/notmux");
    sb.mono_yml(&ws, "scripts:\n  init: echo ran\n");
    // monod inherits this PATH from the client that starts it: no tmux.
    let out = sb.mono_cmd().args(["init", ws.to_str().unwrap()]).env("PATH", "/nonexistent").run();
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("tmux is not installed (not found on PATH); install tmux"), "{}", out.stderr);
    assert_untouched(&sb);
    let status = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(status["tmux"]["available"], false, "{status}");
}

#[test]
fn the_root_a_home_directory_and_mono_home_are_not_workspaces() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let root_link = sb.root().join("ws/root-link");
    std::os::unix::fs::symlink("/", &root_link).unwrap();
    sb.mono(["init", "/"]).fails_with("/: the root directory, which cannot be a workspace");
    // The client sends the canonical path: the link is `/` too.
    sb.mono(["init", root_link.to_str().unwrap()]).fails_with("/: the root directory");
    // The caller's home (the daemon was started with another HOME).
    let user_home = sb.workspace("user");
    let out = sb.mono_cmd().args(["init", user_home.to_str().unwrap()]).env("HOME", &user_home).run();
    assert!(
        out.code != 0 && out.stderr.contains("your home directory, which cannot be a workspace"),
        "{out:?}"
    );
    for inside in [sb.home.clone(), sb.home.join("data")] {
        sb.mono(["init", inside.to_str().unwrap()]).fails_with("inside MONO_HOME");
    }
    assert_untouched(&sb);
    assert!(sb.mono(["list", "--json"]).ok().json().as_array().unwrap().is_empty());
}
