//! Docker mode against the real engine: isolation, lifecycle, failures.
//! Every test skips only when MONO_TEST_NO_DOCKER is set; otherwise a
//! missing engine fails it.

use std::time::Duration;

use mono_e2e::docker::{TEST_IMAGE, docker, labelled, require_docker};
use mono_e2e::{Bounded, Sandbox, Spawned, WAIT, http_get, wait_until};

/// A web service behind a health-gated database, with a named volume, a
/// read-only bind mount and a fixed container_name.
fn web_and_db() -> String {
    format!(
        r#"services:
  web:
    image: {TEST_IMAGE}
    init: true
    container_name: fixed-web
    command: ["sh", "-c", "mkdir -p /www && cp /site/index.html /www/ && echo \"$$WHO\" > /www/who.txt && cat /data/seed.txt > /www/seed.txt; exec httpd -f -p 8080 -h /www"]
    environment:
      WHO: ${{MONO_ENV_NAME}}
    ports:
      - 8080
    volumes:
      - data:/data
      - ./site:/site:ro
    depends_on:
      db:
        condition: service_healthy
  db:
    image: {TEST_IMAGE}
    init: true
    command: ["sh", "-c", "echo seeded-by-db > /data/seed.txt; touch /tmp/ready; exec sleep 3600"]
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 20
volumes:
  data:
"#
    )
}

fn project_objects(project: &str) -> Vec<String> {
    labelled(&format!("com.docker.compose.project={project}"))
}

#[test]
fn two_environments_of_one_compose_file_run_side_by_side() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let mut envs = Vec::new();
    for name in ["alpha", "beta"] {
        let ws = sb.docker_workspace(name);
        std::fs::create_dir_all(ws.join("site")).unwrap();
        std::fs::write(ws.join("site/index.html"), format!("site of {name}\n")).unwrap();
        sb.compose(&ws, &web_and_db());
        sb.mono_yml(&ws, "scripts:\n  setup: echo \"web is on $MONO_WEB_PORT ($MONO_WEB_PORT_8080)\"\n");
        let out = sb.mono(["init", ws.to_str().unwrap()]).ok();
        assert!(out.stderr.contains("container_name"), "no warning about container_name:\n{}", out.stderr);
        let info = sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
        let env_name = info["name"].as_str().unwrap().to_string();
        let port = info["port_base"].as_u64().unwrap() as u16;
        assert!(out.stdout.contains(&format!("web is on {port} ({port})")), "{}", out.stdout);
        envs.push((ws, env_name, port));
    }
    assert_ne!(envs[0].2, envs[1].2);
    for (ws, name, port) in &envs {
        // Each environment serves its own content on its own port.
        wait_until(WAIT, "web to answer", || http_get(*port, "/who.txt").is_some());
        assert_eq!(http_get(*port, "/who.txt").unwrap(), format!("{name}\n"));
        assert_eq!(
            http_get(*port, "/index.html").unwrap(),
            format!("site of {}\n", ws.file_name().unwrap().to_str().unwrap())
        );
        assert_eq!(http_get(*port, "/seed.txt").unwrap(), "seeded-by-db\n");
        // Names and labels of a normal compose project.
        let project = format!("mono-{name}");
        let container = format!("{project}-web-1");
        let (ok, labels, _) = docker(["inspect", "--format", "{{json .Config.Labels}}", &container]);
        assert!(ok, "container {container} missing");
        let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
        assert_eq!(labels["com.docker.compose.project"], project.as_str());
        assert_eq!(labels["com.docker.compose.service"], "web");
        assert_eq!(labels["com.docker.compose.container-number"], "1");
        assert_eq!(labels["com.docker.compose.oneoff"], "False");
        assert!(labels["com.docker.compose.config-hash"].as_str().is_some_and(|h| h.len() == 64));
        assert_eq!(labels["com.docker.compose.project.working_dir"], ws.to_str().unwrap());
        assert_eq!(labels["com.docker.compose.depends_on"], "db:service_healthy:false");
        assert!(docker(["volume", "inspect", &format!("{project}_data")]).0);
        assert!(docker(["network", "inspect", &format!("{project}_default")]).0);
        // Bound to loopback only.
        let (_, ports, _) = docker(["port", &container, "8080/tcp"]);
        assert_eq!(ports.trim(), format!("127.0.0.1:{port}"));
        // list/status show the containers' states.
        let status = sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
        let states: Vec<(String, String)> = status["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["service"].as_str().unwrap().to_string(), c["state"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(states, vec![("db".into(), "running".into()), ("web".into(), "running".into())]);
        let table = sb.mono(["list"]).ok().stdout;
        let row = table.lines().find(|l| l.starts_with(name.as_str())).expect("row in mono list");
        assert!(row.ends_with("2/2 running"), "{table}");
        // init ran db's check itself; the Engine says healthy after its own
        // first check, one interval later.
        let mut human = String::new();
        wait_until(WAIT, "db healthy in mono status", || {
            human = sb.mono(["status", ws.to_str().unwrap()]).ok().stdout;
            human.contains("running (healthy)")
        });
        assert!(human.contains(&format!("db           {project}-db-1")), "{human}");
    }
    assert!(!docker(["inspect", "fixed-web"]).0, "container_name was not rewritten");
    for (ws, name, _) in &envs {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
        assert_eq!(project_objects(&format!("mono-{name}")), Vec::<String>::new());
    }
}

#[test]
fn a_dependency_is_healthy_when_its_check_first_passes_not_an_interval_later() {
    // The Engine runs db's first check an hour after its start; mono runs
    // the same check itself from the start, so app starts once db's check
    // passes (after db has made /tmp/ready), not an hour later and not before.
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.init_docker_workspace(
        "probe",
        &format!(
            r#"services:
  db:
    image: {TEST_IMAGE}
    init: true
    command: ["sh", "-c", "sleep 2; cut -d' ' -f1 /proc/uptime > /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1h
  app:
    image: {TEST_IMAGE}
    init: true
    command: ["sh", "-c", "cut -d' ' -f1 /proc/uptime > /tmp/started; exec sleep 3600"]
    depends_on:
      db:
        condition: service_healthy
"#
        ),
    );
    let out = &ws.init;
    assert!(out.stderr.contains("db is healthy"), "{}", out.stderr);
    let project = format!("mono-{}-probe", sb.id);
    // Both read the host's uptime (one clock for every container).
    let uptime = |service: &str, file: &str| -> f64 {
        let (_, text, _) = docker(["exec", &format!("{project}-{service}-1"), "cat", file]);
        text.trim().parse().unwrap_or_else(|_| panic!("{service} {file}: {text:?}"))
    };
    let (ready, started) = (uptime("db", "/tmp/ready"), uptime("app", "/tmp/started"));
    assert!(started >= ready, "app started {:.2} s before db was ready", ready - started);
    // The Engine itself has not run its first check yet.
    let (_, health, _) = docker(["inspect", "-f", "{{.State.Health.Status}}", &format!("{project}-db-1")]);
    assert_eq!(health.trim(), "starting");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn failing_health_check_fails_init_and_leaves_nothing() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("sick");
    sb.compose(
        &ws,
        &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    healthcheck:\n      test: [\"CMD-SHELL\", \"echo db-not-ready-yet; exit 1\"]\n      interval: 1s\n      retries: 2\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    depends_on:\n      db:\n        condition: service_healthy\nvolumes:\n  unused: {{}}\n"
        ),
    );
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with("service db is unhealthy");
    assert!(line.contains("db-not-ready-yet"), "no health-check output in: {line}");
    // Said only once the Engine listed nothing of the environment's.
    assert!(line.ends_with("rolled back: nothing was left behind"), "{line}");
    assert_eq!(sb.env_rows(), 0);
    assert_eq!(project_objects(&format!("mono-{}-sick", sb.id)), Vec::<String>::new());
    // Fixed, init works.
    sb.compose(
        &ws,
        &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n"
        ),
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
}

#[test]
fn destroy_after_manual_removal() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.init_docker_workspace("manual", &format!("services:\n  a:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n  b:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n"));
    let project = format!("mono-{}-manual", sb.id);
    assert!(docker(["rm", "-f", &format!("{project}-a-1")]).0);
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(project_objects(&project), Vec::<String>::new());
    assert_eq!(sb.env_rows(), 0);
}

#[test]
fn unreachable_docker_fails_docker_mode_only() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("nodocker");
    sb.compose(&ws, &format!("services:\n  a:\n    image: {TEST_IMAGE}\n"));
    // The daemon this command starts looks for Docker where nothing is.
    let out = sb
        .mono_cmd()
        .args(["init", ws.to_str().unwrap()])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    assert_ne!(out.code, 0, "{out:?}");
    let err = &out.stderr;
    assert!(err.contains("Docker is not reachable at unix:///nonexistent/docker.sock"), "{err}");
    assert!(err.contains("start Docker (or set DOCKER_HOST)"), "{err}");
    assert_eq!(sb.env_rows(), 0);
    // Simple mode still works on the same daemon.
    sb.init_workspace("plain/ws", "");
}

#[test]
fn build_services_are_built_through_the_engine_and_reused_from_the_cache() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("built");
    std::fs::create_dir_all(ws.join("app")).unwrap();
    // A context of this test's own, so no earlier run's image is reused.
    std::fs::write(ws.join("app/run-id"), &sb.id).unwrap();
    std::fs::write(
        ws.join("app/Dockerfile"),
        format!(
            "FROM {TEST_IMAGE}\nARG FLAVOUR=plain\nRUN mkdir -p /www && echo \"built-by-mono $FLAVOUR\" > /www/built.txt\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n"
        ),
    )
    .unwrap();
    sb.compose(&ws, "services:\n  app:\n    init: true\n    build:\n      context: ./app\n      args:\n        FLAVOUR: vanilla\n    ports:\n      - \"80\"\n");
    let out = sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("building"), "{}", out.stderr);
    let port =
        sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()["port_base"].as_u64().unwrap() as u16;
    wait_until(WAIT, "the built service to answer", || http_get(port, "/built.txt").is_some());
    assert_eq!(http_get(port, "/built.txt").unwrap(), "built-by-mono vanilla\n");

    // A second workspace with the same context reuses the image.
    let twin = sb.docker_workspace("twin");
    copy_dir(&ws.join("app"), &twin.join("app"));
    std::fs::copy(ws.join("compose.yaml"), twin.join("compose.yaml")).unwrap();
    let out = sb.mono(["init", twin.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("reusing the image built from the same context"), "{}", out.stderr);
    assert!(!out.stderr.contains("building"), "{}", out.stderr);
    let port = sb.mono(["status", twin.to_str().unwrap(), "--json"]).ok().json()["port_base"]
        .as_u64()
        .unwrap() as u16;
    wait_until(WAIT, "the reused image to answer", || http_get(port, "/built.txt").is_some());
    let stats = sb.mono(["cache", "stats", "--json"]).ok().json();
    let image = stats["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "image")
        .expect("an image entry")
        .clone();
    assert_eq!(
        (image["hits"].as_u64(), image["misses"].as_u64(), image["saved"].as_bool()),
        (Some(1), Some(1), Some(true)),
        "{stats}"
    );
    assert!(image["size"].as_u64().unwrap() > 0);
    let key = image["key"].as_str().unwrap().to_string();
    // In use: clean leaves it. Once the environments are gone, it goes.
    let busy = sb.mono(["cache", "clean", "--all", "--json"]).ok().json();
    assert!(busy["busy"].as_array().unwrap().iter().any(|k| k.as_str().unwrap().starts_with(&key)), "{busy}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    sb.mono(["destroy", twin.to_str().unwrap()]).ok();
    let cleaned = sb.mono(["cache", "clean", "--all", "--json"]).ok().json();
    assert_eq!(cleaned["removed"][0]["key"], key.as_str(), "{cleaned}");
    let (_, images, _) = docker(["images", "-q", "--filter", &format!("label=dev.mono.cache={key}")]);
    assert!(images.trim().is_empty(), "the cached image is still there: {images}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A registry on a loopback port for the duration of a test.
struct Registry {
    _child: Spawned,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        Registry { _child: mono_e2e::engines::serve(&config, port), port, _dir: dir }
    }
}

#[test]
fn missing_images_are_pulled_from_a_registry() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let registry = Registry::start();
    let image = format!("127.0.0.1:{}/mono-test/pulled:{}", registry.port, sb.id);
    assert!(docker(["tag", TEST_IMAGE, &image]).0);
    let (ok, _, err) = docker(["push", &image]);
    assert!(ok, "push to the local registry failed: {err}");
    assert!(docker(["rmi", &image]).0);
    assert!(!docker(["image", "inspect", &image]).0);

    let ws = sb.init_docker_workspace(
        "pull",
        &format!(
            "services:\n  app:\n    image: {image}\n    init: true\n    command: [\"sleep\", \"3600\"]\n"
        ),
    );
    let out = &ws.init;
    assert!(out.stderr.contains(&format!("pulling {image}")), "{}", out.stderr);
    assert!(docker(["image", "inspect", &image]).0, "the image was not pulled");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    let _ = docker(["rmi", &image]);
}

#[test]
fn profiles_and_interpolation() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("prof");
    std::fs::write(ws.join(".env"), "GREETING=hello\nSHADOWED=from-dotenv\n").unwrap();
    sb.compose(
        &ws,
        &format!(
            "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    environment:\n      MSG: \"${{GREETING}}-${{MONO_ENV_ID}}-${{UNSET_VAR:-fallback}}\"\n      SHADOW: ${{SHADOWED}}\n      DATA: ${{MONO_DATA_DIR}}\n  debug:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    profiles: [debug]\n"
        ),
    );
    let info = sb
        .mono_cmd()
        .args(["init", ws.to_str().unwrap(), "--json"])
        .env("SHADOWED", "from-caller")
        .run()
        .ok()
        .json();
    let name = info["name"].as_str().unwrap();
    let (_, env, _) = docker(["inspect", "--format", "{{json .Config.Env}}", &format!("mono-{name}-app-1")]);
    let env: Vec<String> = serde_json::from_str(&env).unwrap();
    assert!(env.contains(&format!("MSG=hello-{}-fallback", info["id"])), "{env:?}");
    assert!(
        env.contains(&"SHADOW=from-caller".to_string()),
        "the caller's variable must win over .env: {env:?}"
    );
    assert!(env.contains(&format!("DATA={}", info["data_dir"].as_str().unwrap())), "{env:?}");
    assert!(
        !docker(["inspect", &format!("mono-{name}-debug-1")]).0,
        "a profiled service started without its profile"
    );
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();

    sb.mono_yml(&ws, "compose:\n  profiles: [debug]\n");
    let info = sb.mono(["init", ws.to_str().unwrap(), "--json"]).ok().json();
    assert!(
        docker(["inspect", &format!("mono-{}-debug-1", info["name"].as_str().unwrap())]).0,
        "profile debug was not enabled"
    );
}

#[test]
fn docker_compose_sees_a_normal_compose_project() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.init_docker_workspace("labels", &format!(
            "services:\n  web:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"httpd\", \"-f\", \"-p\", \"8080\"]\n    ports: [\"8080\"]\n  db:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    volumes: [\"data:/data\"]\nvolumes:\n  data:\n"
        ));
    let project = format!("mono-{}-labels", sb.id);
    let compose = |args: &[&str]| {
        mono_e2e::require_program("docker-compose", "docker-compose");
        let out = std::process::Command::new("docker-compose")
            .args(["-p", &project])
            .args(args)
            .current_dir(&ws)
            .run();
        assert_eq!(out.code, 0, "docker-compose {args:?}: {}", out.stderr);
        out.stdout
    };
    // compose finds both containers of the project by their labels...
    let ids = compose(&["ps", "-q"]);
    assert_eq!(ids.lines().count(), 2, "{ids}");
    // ...and takes the whole project down, volumes and network included.
    compose(&["down", "-v"]);
    assert_eq!(project_objects(&project), Vec::<String>::new());
    // mono's own teardown then finds nothing left and still succeeds.
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(sb.env_rows(), 0);
}

#[test]
fn destroy_honours_stop_signal_and_grace_period() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("signals");
    std::fs::create_dir_all(ws.join("out")).unwrap();
    // `polite` records the signal it gets and exits; `stubborn` ignores
    // SIGTERM, so only the grace period (2 s, not Docker's 10 s) ends it.
    sb.compose(
        &ws,
        &format!(
            r#"services:
  polite:
    image: {TEST_IMAGE}
    stop_signal: SIGUSR1
    command: ["sh", "-c", "trap 'echo got-usr1 > /out/polite; exit 0' USR1; touch /out/ready; while true; do sleep 0.1; done"]
    volumes: ["./out:/out"]
  stubborn:
    image: {TEST_IMAGE}
    stop_grace_period: 2s
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
"#
        ),
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    wait_until(WAIT, "polite to install its trap", || ws.join("out/ready").exists());
    // The grace period reaches the Engine as the container's own, which
    // mono's destroy waits for (and not Docker's default 10 s).
    let stubborn = format!("mono-{}-signals-stubborn-1", sb.id);
    let (ok, timeout, err) = docker(["inspect", "--format", "{{json .Config.StopTimeout}}", &stubborn]);
    assert!(ok, "{err}");
    assert_eq!(timeout.trim(), "2", "stop_grace_period 2s is not the container's StopTimeout");
    let started = std::time::Instant::now();
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    let took = started.elapsed();
    assert_eq!(std::fs::read_to_string(ws.join("out/polite")).unwrap(), "got-usr1\n");
    assert!(took >= Duration::from_secs(2), "the grace period was not waited for ({took:?})");
    assert_eq!(project_objects(&format!("mono-{}-signals", sb.id)), Vec::<String>::new());
}

#[test]
fn container_state_changes_are_events() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.init_docker_workspace("watched", &format!(
            "services:\n  worker:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n"
        ));
    let env = format!("{}-watched", sb.id);
    let mut follower = sb.follow_events(&["--since", "0", "--kind", "container.state", "--env", &env]);
    let has = |v: &[serde_json::Value], action: &str| v.iter().any(|e| e["data"]["action"] == action);
    follower.collect_until("start and healthy", |v| {
        has(v, "start") && v.iter().any(|e| e["data"]["health"] == "healthy")
    });
    // A container killed by hand is reported with its exit code.
    assert!(docker(["kill", &format!("mono-{env}-worker-1")]).0);
    follower.collect_until("die", |v| has(v, "die"));
    let seen = std::mem::take(&mut follower.seen);
    drop(follower);
    let die = seen.iter().find(|e| e["data"]["action"] == "die").unwrap();
    assert_eq!(die["env"], env.as_str());
    assert_eq!(die["data"]["service"], "worker");
    assert_eq!(die["data"]["exit_code"], 137, "{die}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn dangerous_settings_are_warned_at_init_and_kept() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.init_docker_workspace("risky", &format!(
            "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    volumes:\n      - ..:/up\n"
        ));
    let out = &ws.init;
    let file = ws.join("compose.yaml");
    let expected = format!(
        "warning: {}: service app: services.app.volumes[0]: a read-write bind of {}, which holds the workspace",
        file.display(),
        ws.parent().unwrap().display()
    );
    assert!(out.stderr.contains(&expected), "no warning {expected:?} in:\n{}", out.stderr);
    // Kept as written: the container sees the folder above the workspace.
    let container = format!("mono-{}-risky-app-1", sb.id);
    let (ok, listing, err) = docker(["exec", &container, "ls", "/up"]);
    assert!(ok, "{err}");
    assert!(listing.lines().any(|l| l == "risky"), "{listing}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

/// Runs a sleeping container labelled as environment `env` of `home`.
fn labelled_sleeper(name: &str, env: &str, home: &std::path::Path) {
    let project = format!("mono-{env}");
    let (ok, _, err) = docker([
        "run",
        "-d",
        "--name",
        name,
        "--label",
        &format!("dev.mono.home={}", home.display()),
        "--label",
        &format!("dev.mono.env={project}"),
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=sleeper",
        TEST_IMAGE,
        "sleep",
        "3600",
    ]);
    assert!(ok, "docker run {name}: {err}");
}

#[test]
fn container_events_of_other_homes_are_not_recorded() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    sb.docker_workspace("unused");
    sb.mono(["daemon", "start"]).ok();
    let stored = |env: &str| -> Vec<serde_json::Value> {
        let out =
            sb.mono(["events", "--since", "0", "--no-follow", "--json", "--kind", "container.state"]).ok();
        out.stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["env"] == env)
            .collect()
    };
    let mine = format!("{}-mine", sb.id);
    let mine_container = format!("mono-{mine}-sleeper-1");
    labelled_sleeper(&mine_container, &mine, &sb.home);
    // SIGWINCH is a `kill` event that leaves `sleep` running: once one of
    // ours is recorded, the watcher follows the stream.
    let signal = |name: &str| assert!(docker(["kill", "--signal", "WINCH", name]).0);
    wait_until(WAIT, "an event of this home's container", || {
        signal(&mine_container);
        !stored(&mine).is_empty()
    });

    let foreign = format!("{}-foreign", sb.id);
    let foreign_container = format!("mono-{foreign}-sleeper-1");
    labelled_sleeper(&foreign_container, &foreign, std::path::Path::new("/elsewhere/home"));
    signal(&foreign_container);
    // Events arrive in order: once a later one of ours is recorded, the
    // other home's would have been too.
    let before = stored(&mine).len();
    signal(&mine_container);
    wait_until(WAIT, "a later event of this home's container", || stored(&mine).len() > before);
    assert_eq!(stored(&foreign), Vec::<serde_json::Value>::new(), "another home's events were recorded");
    for name in [&mine_container, &foreign_container] {
        docker(["rm", "-f", name]);
    }
}
