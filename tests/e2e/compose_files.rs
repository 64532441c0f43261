//! Compose projects made of several files, against the real engine and
//! checked against Docker Compose v2's own reading of the same files
//! (`docker-compose config --format json`): override files, `compose.files`,
//! `COMPOSE_FILE`, `include:`, `extends.file`, `!reset`, and a project in a
//! subfolder.

use std::path::Path;
use std::process::Command;

use mono_e2e::docker::{TEST_IMAGE, compose_v2, docker, labelled, require_docker};
use mono_e2e::{Run, Sandbox, run_with_deadline};
use serde_json::Value;

/// Compose v2's merged reading of the project in `ws` for `project`,
/// `args` being its `-f` options (none: compose's own discovery).
fn compose_config(ws: &Path, project: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new(compose_v2());
    cmd.current_dir(ws).args(["-p", project]).args(args).args(["config", "--format", "json"]);
    for var in ["COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PATH_SEPARATOR", "COMPOSE_PROJECT_NAME"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = run_with_deadline(cmd).ok();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("compose config is not JSON ({e}): {}", out.stdout))
}

fn inspect(container: &str) -> Value {
    let (ok, out, err) = docker(["inspect", container]);
    assert!(ok, "container {container} missing: {err}");
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn env_name(sb: &Sandbox, ws: &Path) -> String {
    let info = sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
    info["name"].as_str().unwrap().to_string()
}

/// Checks that the container mono made for `service` is what compose v2
/// reads from the same files: image, command, entrypoint, environment, bind
/// mounts and container ports (host ports are the environment's own).
fn assert_matches_compose(compose: &Value, service: &str, container: &Value) {
    let want = &compose["services"][service];
    assert!(want.is_object(), "compose has no service {service}: {compose}");
    let config = &container["Config"];
    assert_eq!(config["Image"], want["image"], "{service}: image");
    assert_eq!(config["Cmd"], want["command"], "{service}: command");
    assert_eq!(config["Entrypoint"], want["entrypoint"], "{service}: entrypoint");
    let env: Vec<&str> = config["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for (k, v) in want["environment"].as_object().into_iter().flatten() {
        let line = format!("{k}={}", v.as_str().unwrap_or_default());
        assert!(env.contains(&line.as_str()), "{service}: {line} missing from {env:?}");
    }
    let mut binds: Vec<(String, String)> = container["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Type"] == "bind")
        .map(|m| (m["Source"].as_str().unwrap().to_string(), m["Destination"].as_str().unwrap().to_string()))
        .collect();
    let mut want_binds: Vec<(String, String)> = want["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "bind")
        .map(|v| (v["source"].as_str().unwrap().to_string(), v["target"].as_str().unwrap().to_string()))
        .collect();
    binds.sort();
    want_binds.sort();
    assert_eq!(binds, want_binds, "{service}: bind mounts");
    let mut ports: Vec<String> = container["HostConfig"]["PortBindings"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.trim_end_matches("/tcp").to_string())
        .collect();
    let mut want_ports: Vec<String> =
        want["ports"].as_array().into_iter().flatten().map(|p| p["target"].to_string()).collect();
    ports.sort();
    want_ports.sort();
    assert_eq!(ports, want_ports, "{service}: container ports");
}

fn destroy(sb: &Sandbox, ws: &Path, project: &str) {
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(labelled(&format!("com.docker.compose.project={project}")), Vec::<String>::new());
}

#[test]
fn the_override_file_beside_the_compose_file_is_merged_as_compose_does() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("override");
    for dir in ["a", "b", "c"] {
        std::fs::create_dir_all(ws.join(dir)).unwrap();
    }
    sb.compose(
        &ws,
        &format!(
            "services:\n  web:\n    image: {TEST_IMAGE}\n    init: true\n    command: [sleep, '3600']\n    environment:\n      A: '1'\n      B: base\n      PROJECT: ${{COMPOSE_PROJECT_NAME}}\n    ports: ['8080']\n    volumes: ['./a:/a:ro']\n"
        ),
    );
    std::fs::write(
        ws.join("compose.override.yaml"),
        "services:\n  web:\n    command: [sh, -c, 'exec sleep 3601']\n    environment: [B=override, C=3]\n    ports: ['9090']\n    volumes: ['./b:/a:ro', './c:/c']\n",
    )
    .unwrap();
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let name = env_name(&sb, &ws);
    let project = format!("mono-{name}");
    let container = inspect(&format!("{project}-web-1"));
    let env: Vec<&str> =
        container["Config"]["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"B=override") && env.contains(&"C=3"), "{env:?}");
    assert!(env.contains(&format!("PROJECT={project}").as_str()), "COMPOSE_PROJECT_NAME: {env:?}");
    let labels = &container["Config"]["Labels"];
    assert_eq!(
        labels["com.docker.compose.project.config_files"],
        format!("{},{}", ws.join("compose.yaml").display(), ws.join("compose.override.yaml").display())
            .as_str()
    );
    assert_matches_compose(&compose_config(&ws, &project, &[], &[]), "web", &container);
    destroy(&sb, &ws, &project);
}

#[test]
fn compose_files_with_include_and_extends_file_in_a_subfolder_match_compose() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("files");
    for dir in ["deploy/site", "lib/data", "common/conf"] {
        std::fs::create_dir_all(ws.join(dir)).unwrap();
    }
    std::fs::write(
        ws.join("deploy/compose.yaml"),
        format!(
            "include:\n  - path: ../lib/db.yaml\nx-base: &base\n  image: {TEST_IMAGE}\n  init: true\nx-app: &app\n  <<: *base\n  environment: {{FROM: chain}}\nservices:\n  web:\n    <<: *app\n    extends: {{file: ../common/base.yaml, service: base}}\n    command: !reset []\n    volumes: ['./site:/site:ro']\n    ports: ['8080']\n"
        ),
    )
    .unwrap();
    std::fs::write(
        ws.join("deploy/extra.yaml"),
        "services:\n  web:\n    environment: [EXTRA=yes]\n    ports: !override ['9090']\n",
    )
    .unwrap();
    std::fs::write(ws.join("lib/.env"), "DB_WORD=included\n").unwrap();
    std::fs::write(
        ws.join("lib/db.yaml"),
        format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    init: true\n    command: [sleep, '3600']\n    environment: {{WORD: '${{DB_WORD}}'}}\n    volumes: ['./data:/data']\n"
        ),
    )
    .unwrap();
    std::fs::write(
        ws.join("common/base.yaml"),
        "services:\n  base:\n    entrypoint: [sh, -c, 'exec sleep 3600']\n    command: [dropped-by-reset]\n    volumes: ['./conf:/conf:ro']\n",
    )
    .unwrap();
    sb.mono_yml(&ws, "compose:\n  files: [deploy/compose.yaml, deploy/extra.yaml]\n");
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let name = env_name(&sb, &ws);
    let project = format!("mono-{name}");
    let compose =
        compose_config(&ws, &project, &["-f", "deploy/compose.yaml", "-f", "deploy/extra.yaml"], &[]);
    let web = inspect(&format!("{project}-web-1"));
    assert_eq!(web["Config"]["Cmd"], Value::Null, "command: !reset dropped the base's command");
    assert_eq!(
        web["Config"]["Labels"]["com.docker.compose.project.working_dir"],
        ws.join("deploy").to_str().unwrap()
    );
    assert_matches_compose(&compose, "web", &web);
    let db = inspect(&format!("{project}-db-1"));
    assert_matches_compose(&compose, "db", &db);
    let env: Vec<&str> = db["Config"]["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"WORD=included"), "the include's .env: {env:?}");
    destroy(&sb, &ws, &project);
}

#[test]
fn compose_file_from_the_caller_wins_over_the_dotenv_one() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("envfile");
    let service = |word: &str| {
        format!(
            "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [sleep, '3600']\n    environment: [WORD={word}]\n"
        )
    };
    std::fs::write(ws.join("one.yaml"), service("one")).unwrap();
    std::fs::write(ws.join("two.yaml"), service("two")).unwrap();
    std::fs::write(
        ws.join("three.yaml"),
        format!("{}  extra:\n    image: {TEST_IMAGE}\n    profiles: [extra]\n    init: true\n    command: [sleep, '3600']\n", service("three")),
    )
    .unwrap();
    std::fs::write(ws.join(".env"), "COMPOSE_FILE=one.yaml:two.yaml\nCOMPOSE_PROFILES=extra\n").unwrap();
    let mut cmd = sb.mono_cmd();
    cmd.env("COMPOSE_FILE", "one.yaml;three.yaml").env("COMPOSE_PATH_SEPARATOR", ";");
    cmd.args(["init", ws.to_str().unwrap()]);
    let run: Run = run_with_deadline(cmd);
    run.ok();
    let name = env_name(&sb, &ws);
    let project = format!("mono-{name}");
    let app = inspect(&format!("{project}-app-1"));
    let env: Vec<&str> = app["Config"]["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"WORD=three"), "the caller's COMPOSE_FILE: {env:?}");
    assert!(
        inspect(&format!("{project}-extra-1"))["State"]["Running"].as_bool().unwrap(),
        "COMPOSE_PROFILES"
    );
    let compose = compose_config(
        &ws,
        &project,
        &[],
        &[("COMPOSE_FILE", "one.yaml;three.yaml"), ("COMPOSE_PATH_SEPARATOR", ";")],
    );
    assert_matches_compose(&compose, "app", &app);
    destroy(&sb, &ws, &project);
}

#[test]
fn a_bad_value_in_the_override_file_fails_init_naming_that_file_and_line() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("badover");
    sb.compose(&ws, &format!("services:\n  web:\n    image: {TEST_IMAGE}\n    ports: ['8080']\n"));
    std::fs::write(ws.join("compose.override.yaml"), "services:\n  web:\n    ports:\n      - 'eighty'\n")
        .unwrap();
    let over = ws.join("compose.override.yaml");
    let line = sb
        .mono(["init", ws.to_str().unwrap()])
        .fails_with(&format!("{}:4:9: services.web.ports[0]", over.display()));
    assert!(line.contains("eighty"), "{line}");
    assert_eq!(sb.env_rows(), 0, "nothing registered");
    // Both compose.file and compose.files: one line naming mono.yml.
    std::fs::remove_file(&over).unwrap();
    sb.mono_yml(&ws, "compose:\n  file: compose.yaml\n  files: [compose.yaml]\n");
    sb.mono(["init", ws.to_str().unwrap()])
        .fails_with("mono.yml:1:1: compose.file and compose.files are both set");
    assert_eq!(sb.env_rows(), 0);
}
