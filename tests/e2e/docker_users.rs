//! Docker mode as users see it: a destroy that does not wait for nothing,
//! service logs, published ports in `mono status`, and Docker Compose v2
//! working on mono's projects. Real engine, real binaries.

use std::time::{Duration, Instant};

use mono_e2e::Sandbox;
use mono_e2e::docker::{TEST_IMAGE, labelled, require_docker};

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
    let ws = sb.docker_workspace("stubborn");
    // Two services that ignore SIGTERM, one depending on the other, and one
    // that exits on its own stop signal (SIGUSR1) although its grace is long.
    sb.compose(
        &ws,
        &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    command: {STUBBORN}\n    volumes: [\"data:/data\"]\n  worker:\n    image: {TEST_IMAGE}\n    command: {STUBBORN}\n    depends_on: [db]\n  polite:\n    image: {TEST_IMAGE}\n    stop_signal: SIGUSR1\n    stop_grace_period: 30s\n    command: [\"sh\", \"-c\", \"trap 'exit 0' USR1; trap '' TERM; while :; do sleep 1; done\"]\nvolumes:\n  data:\n"
        ),
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let took = timed_destroy(&sb, &ws, &format!("mono-{}-stubborn", sb.id));
    // Before: 10 s for each stubborn container (the Engine's default).
    // Now: about 1 s for the worker, then 1 s for the db it depends on.
    assert!(took < Duration::from_secs(5), "destroy took {took:?}");
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
    assert!(took < Duration::from_secs(8), "destroy took {took:?}");
    let took = timed_destroy(&sb, &configured, &format!("mono-{}-configured", sb.id));
    assert!(took >= Duration::from_millis(2500), "compose.destroy_grace 2500ms not honoured: {took:?}");
    assert!(took < Duration::from_secs(8), "destroy took {took:?}");
}
