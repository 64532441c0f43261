//! Docker mode as users see it: a destroy that does not wait for nothing,
//! service logs, published ports in `mono status`, and Docker Compose v2
//! working on mono's projects. Real engine, real binaries.

use std::time::{Duration, Instant};

use mono_e2e::docker::{TEST_IMAGE, docker, labelled, require_docker};
use mono_e2e::{Bounded, Sandbox, WAIT, wait_until};

/// A PID 1 that ignores SIGTERM: only a kill ends it.
const STUBBORN: &str = r#"["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]"#;

fn project_objects(project: &str) -> Vec<String> {
    labelled(&format!("com.docker.compose.project={project}"))
}

/// Times `mono destroy` of a workspace and checks nothing is left.
fn timed_destroy(sb: &Sandbox, ws: &std::path::Path, project: &str) -> Duration {
    let started = Instant::now();
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    let took = started.elapsed();
    assert_eq!(project_objects(project), Vec::<String>::new(), "{project} left objects");
    took
}

#[test]
fn destroy_kills_what_ignores_its_stop_signal_after_a_short_grace() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    // Two services that ignore SIGTERM, one depending on the other, and one
    // that exits on its own stop signal (SIGUSR1) although its grace is long.
    let ws = sb.init_docker_workspace("stubborn", &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    command: {STUBBORN}\n    volumes: [\"data:/data\"]\n  worker:\n    image: {TEST_IMAGE}\n    command: {STUBBORN}\n    depends_on: [db]\n  polite:\n    image: {TEST_IMAGE}\n    stop_signal: SIGUSR1\n    stop_grace_period: 30s\n    command: [\"sh\", \"-c\", \"trap 'exit 0' USR1; trap '' TERM; while :; do sleep 1; done\"]\nvolumes:\n  data:\n"
        ));
    let project = format!("mono-{}-stubborn", sb.id);
    let since = docker(["system", "info", "--format", "{{json .SystemTime}}"]).1;
    let took = timed_destroy(&sb, &ws, &project);
    eprintln!("destroy took {took:?}");
    // What the Engine saw: the stubborn ones were killed after their stop
    // signal (137), the polite one ended on its own stop signal (0), well
    // before its 30 s grace was up. (How long a destroy takes is measured
    // in bench/: the real stack's destroy, whose worker ignores SIGTERM.)
    let since = since.trim().trim_matches('"');
    // The Engine publishes an event a moment after the container died:
    // read the log until all three are in it.
    let mut died: Vec<String> = Vec::new();
    wait_until(WAIT, "the Engine's three die events", || {
        let (ok, out, err) = docker([
            "events",
            "--since",
            since,
            "--until",
            "0s",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "event=die",
            "--format",
            "{{index .Actor.Attributes \"com.docker.compose.service\"}} {{.Actor.Attributes.exitCode}}",
        ]);
        assert!(ok, "{err}");
        died = out.lines().map(str::to_string).collect();
        died.sort();
        died.len() >= 3
    });
    assert_eq!(died, ["db 137", "polite 0", "worker 137"]);
}

#[test]
fn destroy_gives_an_explicit_stop_grace_period_and_honours_destroy_grace() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let patient = sb.docker_workspace("patient");
    sb.compose(
        &patient,
        &format!("services:\n  slow:\n    image: {TEST_IMAGE}\n    command: {STUBBORN}\n    stop_grace_period: 3s\n"),
    );
    // A longer grace than the default 1 s, for every service of the workspace.
    let configured = sb.docker_workspace("configured");
    sb.compose(
        &configured,
        &format!("services:\n  slow:\n    image: {TEST_IMAGE}\n    command: {STUBBORN}\n"),
    );
    sb.mono_yml(&configured, "compose:\n  destroy_grace: 2500ms\n");
    for ws in [&patient, &configured] {
        sb.mono(["init", ws.to_str().unwrap()]).ok();
    }
    let took = timed_destroy(&sb, &patient, &format!("mono-{}-patient", sb.id));
    assert!(took >= Duration::from_secs(3), "the 3 s stop_grace_period was cut short: {took:?}");
    let took = timed_destroy(&sb, &configured, &format!("mono-{}-configured", sb.id));
    assert!(took >= Duration::from_millis(2500), "compose.destroy_grace 2500ms not honoured: {took:?}");
}

/// Two services that print in a known order across them (each waits for
/// the other's file in a shared volume), one line on stderr; `web` then
/// prints once more when /s/go appears and exits.
fn chatty() -> String {
    format!(
        r#"services:
  db:
    image: {TEST_IMAGE}
    init: true
    command: ["sh", "-c", "echo db-1; touch /s/db1; until test -f /s/web1; do sleep 0.1; done; echo db-2 >&2; exec sleep 3600"]
    volumes: ["shared:/s"]
  web:
    image: {TEST_IMAGE}
    init: true
    command: ["sh", "-c", "until test -f /s/db1; do sleep 0.1; done; echo web-1; touch /s/web1; until test -f /s/go; do sleep 0.1; done; echo web-2"]
    volumes: ["shared:/s"]
volumes:
  shared:
"#
    )
}

#[test]
fn logs_of_one_service_or_all_merged_by_time_and_followed_until_the_container_ends() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("chatty");
    let w = ws.to_str().unwrap();
    sb.compose(&ws, &chatty());
    sb.mono(["init", w]).ok();
    wait_until(WAIT, "db-2 in the logs", || {
        sb.mono(["logs", w, "--service", "db"]).ok().stdout.contains("db-2")
    });
    // Both streams of one container, in order.
    assert_eq!(sb.mono(["logs", w, "--service", "db"]).ok().stdout, "db-1\ndb-2\n");
    assert_eq!(sb.mono(["logs", w, "--service", "db", "-n", "1"]).ok().stdout, "db-2\n");
    let json = sb.mono(["logs", w, "--service", "db", "--json"]).ok().stdout;
    let items: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(items[0]["kind"], "services");
    let streams: Vec<(&str, &str)> = items
        .iter()
        .filter(|i| i["kind"] == "line")
        .map(|i| (i["data"].as_str().unwrap(), i["stream"].as_str().unwrap()))
        .collect();
    assert_eq!(streams, [("db-1\n", "stdout"), ("db-2\n", "stderr")]);
    // Every service, interleaved by timestamp, prefixed as compose does.
    assert_eq!(sb.mono(["logs", w, "--service", "all"]).ok().stdout, "db  | db-1\nweb | web-1\ndb  | db-2\n");

    // Following: new lines as they come, until the container ends.
    let mut follow = sb.mono_cmd();
    follow
        .args(["logs", w, "--service", "web", "-f"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = follow.start();
    let lines = mono_e2e::stdout_lines(&mut child);
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "web-1");
    let web = format!("mono-{}-chatty-web-1", sb.id);
    assert!(docker(["exec", &web, "touch", "/s/go"]).0);
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "web-2");
    let mut status = None;
    wait_until(WAIT, "mono logs -f to end when the container did", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success());

    // Wrong names say which exist.
    let line = sb.mono(["logs", w, "--service", "nope"]).fails_with("no service \"nope\"");
    assert!(line.contains("its services are db, web (or `all`)"), "{line}");
    sb.mono(["destroy", w]).ok();
    let simple = sb.init_workspace("simple", "");
    sb.mono(["logs", simple.to_str().unwrap(), "--service", "db"]).fails_with("has no services");
    sb.mono(["destroy", simple.to_str().unwrap()]).ok();
}

#[test]
fn status_shows_each_services_published_ports_and_their_variables() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("ports");
    let w = ws.to_str().unwrap();
    sb.compose(
        &ws,
        &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    ports: [\"5432\"]\n  web:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    ports: [\"8080\", \"9000/udp\"]\n"
        ),
    );
    sb.mono_yml(
        &ws,
        "scripts:\n  setup: echo \"vars $MONO_DB_PORT $MONO_WEB_PORT $MONO_WEB_PORT_9000_UDP\"\n",
    );
    let init = sb.mono(["init", w]).ok();
    let info = sb.mono(["status", w, "--json"]).ok().json();
    let mut seen = Vec::new();
    for c in info["containers"].as_array().unwrap() {
        for p in c["ports"].as_array().unwrap() {
            seen.push((
                c["service"].as_str().unwrap().to_string(),
                p["container_port"].as_u64().unwrap(),
                p["protocol"].as_str().unwrap().to_string(),
                p["host_ip"].as_str().unwrap().to_string(),
                p["host_port"].as_u64().unwrap(),
                p["vars"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect::<Vec<_>>(),
            ));
        }
    }
    let port = |service: &str, container: u64| {
        seen.iter().find(|s| s.0 == service && s.1 == container).unwrap_or_else(|| panic!("{seen:?}")).4
    };
    let (db, web, udp) = (port("db", 5432), port("web", 8080), port("web", 9000));
    // The variables the scripts saw hold the ports status shows.
    assert!(init.stdout.contains(&format!("vars {db} {web} {udp}")), "{}", init.stdout);
    let vars = |service: &str, container: u64| {
        seen.iter().find(|s| s.0 == service && s.1 == container).unwrap().5.clone()
    };
    assert_eq!(vars("db", 5432), ["MONO_DB_PORT", "MONO_DB_PORT_5432"]);
    assert_eq!(vars("web", 8080), ["MONO_WEB_PORT", "MONO_WEB_PORT_8080"]);
    assert_eq!(vars("web", 9000), ["MONO_WEB_PORT_9000_UDP"]);
    assert!(seen.iter().all(|s| s.3 == "127.0.0.1"), "{seen:?}");
    let human = sb.mono(["status", w]).ok().stdout;
    for line in [
        format!("  db   5432/tcp -> 127.0.0.1:{db}  MONO_DB_PORT MONO_DB_PORT_5432"),
        format!("  web  8080/tcp -> 127.0.0.1:{web}  MONO_WEB_PORT MONO_WEB_PORT_8080"),
        format!("  web  9000/udp -> 127.0.0.1:{udp}  MONO_WEB_PORT_9000_UDP"),
    ] {
        assert!(human.lines().any(|l| l == line), "no line {line:?} in:\n{human}");
    }
    sb.mono(["destroy", w]).ok();
}

#[test]
fn compose_v2_sees_monos_project_ps_logs_exec_and_down() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("interop");
    let w = ws.to_str().unwrap();
    sb.compose(
        &ws,
        &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sh\", \"-c\", \"echo hello-from-db; exec sleep 3600\"]\n    volumes: [\"data:/data\"]\n  web:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sh\", \"-c\", \"echo hello-from-web; exec httpd -f -p 8080\"]\n    ports: [\"8080\"]\n    depends_on: [db]\nvolumes:\n  data:\n"
        ),
    );
    sb.mono(["init", w]).ok();
    let project = format!("mono-{}-interop", sb.id);
    // Without a compose file: compose finds the project by its labels alone.
    let elsewhere = tempfile::tempdir().unwrap();
    let compose = |args: &[&str]| {
        let mut cmd = std::process::Command::new(mono_e2e::docker::compose_v2());
        cmd.args(["-p", &project]).args(args).current_dir(elsewhere.path());
        let run = mono_e2e::run_with_deadline(cmd);
        assert_eq!(run.code, 0, "docker-compose {args:?} failed:\n{}\n{}", run.stdout, run.stderr);
        run.stdout
    };
    let ps = compose(&["ps", "--format", "{{.Service}} {{.State}}"]);
    assert_eq!(ps.lines().collect::<Vec<_>>(), ["db running", "web running"], "{ps}");
    wait_until(WAIT, "both greetings", || {
        let logs = compose(&["logs", "--no-color"]);
        logs.contains("db-1   | hello-from-db") && logs.contains("web-1  | hello-from-web")
    });
    assert_eq!(compose(&["exec", "-T", "db", "echo", "inside-db"]), "inside-db\n");
    compose(&["down", "-v"]);
    assert_eq!(project_objects(&project), Vec::<String>::new());
    // mono's destroy then finds nothing left and still finishes.
    sb.mono(["destroy", w]).ok();
    assert_eq!(sb.env_rows(), 0);
}
