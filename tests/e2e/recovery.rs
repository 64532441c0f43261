//! Crash recovery: monod killed with SIGKILL at named steps of init and
//! destroy (the test hook freezes it exactly there), restarted, and checked
//! for a consistent state with nothing orphaned; orphans made by hand are
//! reported, listed by `mono gc` and removed by `mono gc --yes`.

use std::path::Path;

use mono_e2e::docker::{TEST_IMAGE, docker, labelled, require_docker};
use mono_e2e::{Sandbox, WAIT, poll_until, wait_until};

const INIT_STEPS: [&str; 4] = ["init.registered", "init.data-dir", "init.scripts-done", "init.session"];
const DESTROY_STEPS: [&str; 4] =
    ["destroy.marked", "destroy.session-killed", "destroy.docker-removed", "destroy.data-removed"];

/// After a restart: the environment is gone everywhere, and gc finds
/// nothing.
#[track_caller]
fn assert_nothing_left(sb: &Sandbox, name: &str) {
    let mut list = serde_json::Value::Null;
    let recovered = poll_until(WAIT, || {
        list = sb.mono(["list", "--json"]).ok().json();
        list.as_array().is_some_and(|a| a.is_empty())
    });
    if !recovered {
        let daemon_log = std::fs::read_to_string(sb.home.join("monod.log")).unwrap_or_default();
        panic!("recovery did not finish: {list}\nmono.log:\n{}\nmonod.log:\n{daemon_log}", sb.mono_log());
    }
    assert_eq!(sb.env_rows(), 0);
    assert!(!sb.has_session(&format!("mono-{name}")), "session of {name} left");
    assert!(!sb.home.join("data").join(name).exists(), "data directory of {name} left");
    assert!(!sb.home.join("logs").join(name).exists(), "log directory of {name} left");
    let gc = sb.mono(["gc", "--json"]).ok().json();
    assert_eq!(gc["orphans"], serde_json::json!([]), "{gc}");
}

/// The stored events of `kind` for `env`.
fn events_of(sb: &Sandbox, env: &str, kind: &str) -> Vec<serde_json::Value> {
    let out = sb.mono(["events", "--since", "0", "--no-follow", "--json", "--env", env, "--kind", kind]).ok();
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_crash_at_any_step_of_init_is_rolled_back_at_restart() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/crashy");
    sb.mono_yml(&ws, "scripts:\n  init: echo init-ran\n  setup: echo setup-ran\n");
    for step in INIT_STEPS {
        let out = sb.crash_at(step, ["init", ws.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{step}: init succeeded although monod died");
        assert!(out.stderr.contains("lost the connection to monod"), "{step}: {}", out.stderr);
        // The restarted daemon rolls the half-made environment back.
        assert_nothing_left(&sb, "p-crashy");
        let failed = events_of(&sb, "p-crashy", "env.failed");
        assert!(failed.last().is_some_and(|e| e["data"]["recovered"] == true), "{step}: {failed:?}");
        // And init works again at once.
        let info = sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json();
        assert_eq!(info["status"], "running");
        assert_eq!(info["id"], 1);
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
        sb.mono(["daemon", "stop"]).ok();
    }
}

#[test]
fn a_crash_at_any_step_of_destroy_is_finished_at_restart() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/doomed");
    sb.mono_yml(&ws, "scripts:\n  destroy: echo destroy-ran\n");
    sb.init_workspace("p/keeper", "");
    for step in DESTROY_STEPS {
        sb.mono(["init", ws.to_str().unwrap()]).ok();
        sb.mono(["daemon", "stop"]).ok();
        let out = sb.crash_at(step, ["destroy", ws.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{step}: destroy succeeded although monod died");
        wait_until(WAIT, "the destroy to be finished", || {
            sb.mono(["list", "--json"]).ok().json().as_array().is_some_and(|a| a.len() == 1)
        });
        assert!(!sb.has_session("mono-p-doomed"), "{step}");
        assert!(!sb.home.join("data/p-doomed").exists(), "{step}");
        assert!(!sb.home.join("logs/p-doomed").exists(), "{step}");
        let destroyed = events_of(&sb, "p-doomed", "env.destroyed");
        assert!(destroyed.last().is_some_and(|e| e["data"]["recovered"] == true), "{step}: {destroyed:?}");
        // The other environment was not touched.
        assert!(sb.has_session("mono-p-keeper"));
        assert!(sb.home.join("data/p-keeper").is_dir());
        let gc = sb.mono(["gc", "--json"]).ok().json();
        assert_eq!(gc["orphans"], serde_json::json!([]), "{step}: {gc}");
        // A repeated destroy is a no-op, not an error.
        let again = sb.mono(["destroy", ws.to_str().unwrap()]).ok();
        assert!(again.stderr.contains("nothing to destroy"), "{}", again.stderr);
        sb.mono(["daemon", "stop"]).ok();
    }
}

/// Tags a tmux session as a home's, as monod does.
fn tagged_session(sb: &Sandbox, name: &str, home: &Path) {
    sb.tmux(["new-session", "-d", "-s", name, "sleep 3600"]).ok();
    sb.tmux(["set-option", "-t", &format!("={name}:"), "@mono-home", home.to_str().unwrap()]).ok();
}

#[test]
fn orphans_are_reported_listed_and_collected() {
    let sb = Sandbox::new();
    sb.init_workspace("p/owned", "");
    sb.mono(["daemon", "stop"]).ok();
    // What a crash outside mono's steps, or a hand edit, might leave.
    std::fs::create_dir_all(sb.home.join("data/ghost/deep")).unwrap();
    std::fs::create_dir_all(sb.home.join("logs/ghost")).unwrap();
    tagged_session(&sb, "mono-ghost", &sb.home);
    // Not ours: another home's session, and one without a tag.
    tagged_session(&sb, "mono-elsewhere", Path::new("/some/other/home"));
    sb.tmux(["new-session", "-d", "-s", "mono-untagged", "sleep 3600"]).ok();

    // A restarted daemon reports them.
    sb.mono(["daemon", "start"]).ok();
    let mut follower = sb.follow_events(&["--since", "0", "--kind", "daemon.orphans"]);
    follower.collect_until("the orphans event", |seen| !seen.is_empty());
    let reported = follower.seen[0]["data"]["orphans"].as_array().unwrap().len();
    assert_eq!(reported, 3, "{:?}", follower.seen);

    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("tmux session mono-ghost (of ghost) belongs to no environment"),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("fix: mono gc --yes"), "{}", doctor.stdout);

    // A dry run lists exactly the three and removes nothing.
    let listed = sb.mono(["gc", "--json"]).ok().json();
    let kinds: Vec<(String, String)> = listed["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap().to_string(), o["owner"].as_str().unwrap().to_string()))
        .collect();
    let expected = ["session", "data_dir", "log_dir"].map(|k| (k.to_string(), "ghost".to_string()));
    assert_eq!(kinds, expected.to_vec());
    assert!(sb.home.join("data/ghost/deep").is_dir() && sb.has_session("mono-ghost"));

    let removed = sb.mono(["gc", "--yes"]).ok();
    assert!(removed.stdout.contains("removed 3 orphan(s)"), "{}", removed.stdout);
    assert!(!sb.home.join("data/ghost").exists());
    assert!(!sb.home.join("logs/ghost").exists());
    assert!(!sb.has_session("mono-ghost"));
    // Others' sessions and the registered environment are untouched.
    assert!(sb.has_session("mono-elsewhere") && sb.has_session("mono-untagged"));
    assert!(sb.has_session("mono-p-owned") && sb.home.join("data/p-owned").is_dir());
    assert!(sb.mono(["gc"]).ok().stdout.contains("nothing to collect"));
}

fn sleeper_compose() -> String {
    format!(
        "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    ports:\n      - 8080\n    volumes:\n      - state:/state\nvolumes:\n  state:\n"
    )
}

/// Containers, networks and volumes labelled with this home.
fn home_objects(home: &Path) -> Vec<String> {
    labelled(&format!("dev.mono.home={}", home.display()))
}

#[test]
fn docker_mode_crashes_leave_no_containers_and_gc_collects_labelled_orphans() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("crash");
    sb.compose(&ws, &sleeper_compose());
    let name = ws.strip_prefix(sb.root().join("ws")).unwrap().to_str().unwrap().replace('/', "-");

    // Init killed after the containers started: rolled back at restart.
    sb.crash_at("init.scripts-done", ["init", ws.to_str().unwrap()]);
    assert!(!home_objects(&sb.home).is_empty(), "the crash came before the containers");
    assert_nothing_left(&sb, &name);
    wait_until(WAIT, "the containers to go", || home_objects(&sb.home).is_empty());

    // Destroy killed after the session, before the containers: finished.
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    sb.mono(["daemon", "stop"]).ok();
    sb.crash_at("destroy.session-killed", ["destroy", ws.to_str().unwrap()]);
    assert_nothing_left(&sb, &name);
    wait_until(WAIT, "the containers to go", || home_objects(&sb.home).is_empty());

    // Labelled objects no environment owns: ours are collected, another
    // home's are not.
    let ghost = format!("mono-{}-ghost", sb.id);
    let home_label = format!("dev.mono.home={}", sb.home.display());
    let project = format!("com.docker.compose.project={ghost}");
    let env_label = format!("dev.mono.env={ghost}");
    let other = format!("{ghost}-other-home");
    for args in [
        vec!["network", "create", "--label", &home_label, "--label", &env_label, "--label", &project, &ghost],
        vec!["volume", "create", "--label", &home_label, "--label", &env_label, "--label", &project, &ghost],
        vec![
            "run",
            "-d",
            "--name",
            &ghost,
            "--network",
            &ghost,
            "-v",
            &format!("{ghost}:/v"),
            "--label",
            &home_label,
            "--label",
            &env_label,
            "--label",
            &project,
            TEST_IMAGE,
            "sleep",
            "3600",
        ],
        vec![
            "run",
            "-d",
            "--name",
            &other,
            "--label",
            "dev.mono.home=/another/home",
            "--label",
            &env_label,
            "--label",
            &project,
            TEST_IMAGE,
            "sleep",
            "3600",
        ],
    ] {
        let (ok, _, err) = docker(&args);
        assert!(ok, "docker {args:?}: {err}");
    }
    let listed = sb.mono(["gc", "--json"]).ok().json();
    let mut found: Vec<String> = listed["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["name"].as_str().unwrap()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![format!("container {ghost}"), format!("network {ghost}"), format!("volume {ghost}")]
    );
    sb.mono(["gc", "--yes"]).ok();
    assert!(home_objects(&sb.home).is_empty(), "{:?}", home_objects(&sb.home));
    assert!(docker(["inspect", &other]).0, "another home's container was removed");
    docker(["rm", "-f", &other]);
}

#[test]
fn crash_recoveries_report_no_false_orphans_and_a_real_one_still_is() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/flaky");
    sb.mono_yml(&ws, "scripts:\n  init: echo init-ran\n");
    for round in 0..20 {
        let step = INIT_STEPS[round % INIT_STEPS.len()];
        let out = sb.crash_at(step, ["init", ws.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{step}: init succeeded although monod died");
        // The restart rolls the init back; stopping waits for its orphan scan.
        wait_until(WAIT, "the interrupted init to be rolled back", || {
            sb.mono(["list", "--json"]).ok().json().as_array().is_some_and(|a| a.is_empty())
        });
        sb.mono(["daemon", "stop"]).ok();
    }
    let reported =
        sb.mono(["events", "--since", "0", "--no-follow", "--json", "--kind", "daemon.orphans"]).ok();
    assert_eq!(reported.stdout, "", "orphans reported where there were none");
    assert!(!sb.mono_log().contains("orphaned resource(s) found"), "{}", sb.mono_log());

    // A real orphan is still reported at the next start.
    sb.mono(["daemon", "stop"]).ok();
    std::fs::create_dir_all(sb.home.join("data/ghost")).unwrap();
    sb.mono(["daemon", "start"]).ok();
    let mut follower = sb.follow_events(&["--since", "0", "--kind", "daemon.orphans"]);
    follower.collect_until("the orphans event", |seen| !seen.is_empty());
    let orphans = &follower.seen[0]["data"]["orphans"];
    assert_eq!(orphans.as_array().map(Vec::len), Some(1), "{orphans}");
    assert_eq!(orphans[0]["owner"], "ghost", "{orphans}");
}
