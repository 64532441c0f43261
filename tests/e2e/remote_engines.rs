//! Remote engines: environments on a Docker Engine on another machine,
//! reached over SSH. The other machine is made here (a network namespace
//! with its own sshd and dockerd, see `mono_e2e::remote`): the services
//! run there, and answer on this machine's `127.0.0.1` block through the
//! forwards monod keeps over its SSH connection, through a network drop and
//! a daemon restart; a local environment works beside it; destroy leaves
//! nothing on the remote engine.

use std::path::Path;
use std::time::Duration;

use mono_e2e::docker::{TEST_IMAGE, labelled, require_docker};
use mono_e2e::engines::write_context;
use mono_e2e::remote::RemoteHost;
use mono_e2e::{Bounded, Sandbox, WAIT, require_program, require_root, wait_until};

/// The body of `http://127.0.0.1:PORT/PATH`, or why there is none.
fn get(port: u16, path: &str) -> Result<String, String> {
    get_as(port, "x", path)
}

/// The same, with `host` as the Host header (for the router).
fn get_as(port: u16, host: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") => {
            Ok(body.to_string())
        }
        Some((head, _)) => Err(head.lines().next().unwrap_or_default().to_string()),
        None => Err(format!("no response: {text:?}")),
    }
}

/// The environment's status, as JSON.
fn status(sb: &Sandbox, ws: &Path) -> serde_json::Value {
    sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()
}

/// The host port `service` publishes, and its forward (null when local).
fn published(sb: &Sandbox, ws: &Path, service: &str) -> (u16, serde_json::Value) {
    let s = status(sb, ws);
    let c = s["containers"].as_array().unwrap().iter().find(|c| c["service"] == service).cloned();
    let p = &c.unwrap_or_else(|| panic!("no {service} in {s}"))["ports"][0];
    (p["host_port"].as_u64().unwrap() as u16, p["forward"].clone())
}

fn remote_workspace(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let ws = sb.docker_workspace(name);
    sb.compose(
        &ws,
        &format!(
            "services:\n  web:\n    build: .\n    ports: [\"80\"]\n    command: [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n  \
             keeper:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sh\", \"-c\", \"echo keeper-up; exec sleep 3600\"]\n    volumes: [\"data:/data\"]\n\
             volumes:\n  data: {{}}\n"
        ),
    );
    std::fs::write(ws.join("Dockerfile"), format!("FROM {TEST_IMAGE}\nCOPY www /www\n")).unwrap();
    std::fs::create_dir_all(ws.join("www")).unwrap();
    std::fs::write(ws.join("www/index.html"), "served from the remote engine\n").unwrap();
    std::fs::write(ws.join("www/secret.txt"), "left out by .dockerignore\n").unwrap();
    std::fs::write(ws.join(".dockerignore"), "www/secret.txt\n").unwrap();
    ws
}

#[test]
fn an_environment_on_a_remote_engine_answers_here_through_drops_and_restarts() {
    let Some(_engine) = require_docker() else { return };
    require_root("makes a second machine in a network namespace");
    require_program("sshd", "openssh-server");
    require_program("curl", "curl");
    let sb = Sandbox::new();
    // The router on a port of its own: other tests' daemons may hold 19000.
    let router = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let slot = std::env::var("MONO_TEST_FIRST_SLOT").unwrap_or_else(|_| "101".to_string());
    sb.monod_yml(&format!("ports:\n  first_slot: {slot}\nrouter:\n  listen: 127.0.0.1:{router}\n"));
    let remote = RemoteHost::up(&sb.root().join("remote"), &[TEST_IMAGE]);
    sb.set_env("PATH", &remote.path());
    // The workspace pins a context: the caller's shell says nothing.
    let config = sb.root().join("docker-config");
    write_context(&config, "far", &remote.docker_host());
    sb.set_env("DOCKER_CONFIG", config.to_str().unwrap());

    // A bind of a workspace path cannot cross machines: refused first.
    let bound = sb.docker_workspace("bound");
    sb.compose(
        &bound,
        &format!("services:\n  app:\n    image: {TEST_IMAGE}\n    volumes: [\"./src:/src\"]\n"),
    );
    sb.mono_yml(&bound, "compose:\n  context: far\n");
    let line = sb.mono(["init", bound.to_str().unwrap()]).fails_with("bind-mounts");
    assert!(line.contains("service app") && line.contains("/src") && line.contains("named volume"), "{line}");
    assert_eq!(sb.env_rows(), 0);

    let far = remote_workspace(&sb, "far");
    sb.mono_yml(
        &far,
        "compose:\n  context: far\nscripts:\n  setup: curl -sf http://127.0.0.1:$MONO_WEB_PORT/ > setup-saw.txt\n",
    );
    let out = sb.mono(["init", far.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("from compose.context in mono.yml"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("from {}", remote.docker_host())), "{}", out.stderr);
    // The setup script already reached the service on this machine.
    let saw = std::fs::read_to_string(far.join("setup-saw.txt")).unwrap();
    assert_eq!(saw, "served from the remote engine\n");
    let project = format!("mono-{}-far", sb.id);
    let label = format!("com.docker.compose.project={project}");
    assert_eq!(labelled(&label), Vec::<String>::new(), "nothing of it on this machine's engine");
    assert!(remote.labelled(&label).len() >= 3, "containers, network, volume: {:?}", remote.labelled(&label));
    let (port, forward) = published(&sb, &far, "web");
    assert_eq!(forward["local"], format!("127.0.0.1:{port}"));
    assert_eq!(forward["up"], true, "{forward}");
    assert_eq!(get(port, "").unwrap(), "served from the remote engine\n");
    // The image was built on the remote engine, from the context as
    // .dockerignore leaves it.
    assert!(get(port, "secret.txt").unwrap_err().contains("404"));
    // Logs and gc reach the engine the environment is on.
    wait_until(WAIT, "the remote service's logs", || {
        sb.mono(["logs", far.to_str().unwrap(), "--service", "keeper"]).ok().stdout.contains("keeper-up")
    });
    let gc = sb.mono(["gc"]).ok().stdout;
    assert!(!gc.contains("not checked") && !gc.contains(&project), "{gc}");
    // Its named URL leads there too, through the router and the forward.
    let named = format!("web.{}-far.localhost:{router}", sb.id);
    wait_until(WAIT, "the remote service through the router", || {
        get_as(router, &named, "").is_ok_and(|b| b == "served from the remote engine\n")
    });
    let text = sb.mono(["status", far.to_str().unwrap()]).ok().stdout;
    assert!(text.contains(&format!("80/tcp -> remote 127.0.0.1:{port} -> local 127.0.0.1:{port}")), "{text}");

    // A local environment beside it.
    let near = sb.docker_workspace("near");
    sb.compose(
        &near,
        &format!(
            "services:\n  web:\n    image: {TEST_IMAGE}\n    ports: [\"80\"]\n    command: [\"sh\", \"-c\", \
             \"mkdir -p /www && echo local > /www/index.html && exec httpd -f -p 80 -h /www\"]\n"
        ),
    );
    sb.mono(["init", near.to_str().unwrap()]).ok();
    let (near_port, near_forward) = published(&sb, &near, "web");
    assert!(near_forward.is_null(), "{near_forward}");
    wait_until(WAIT, "the local service", || get(near_port, "").is_ok_and(|b| b == "local\n"));
    assert!(labelled(&format!("com.docker.compose.project=mono-{}-near", sb.id)).len() >= 2);

    // The network drops: the forward is down a moment, then back.
    remote.drop_ssh();
    wait_until(Duration::from_secs(10), "the forward seen down", || {
        published(&sb, &far, "web").1["up"] == false
    });
    wait_until(WAIT, "the forward back after the drop", || get(port, "").is_ok());
    assert_eq!(published(&sb, &far, "web").1["up"], true);

    // The network goes silent: keep-alives notice within seconds, and the
    // forward comes back once the link does.
    remote.link(false);
    let log = sb.root().join("home/monod.log");
    let downs = || std::fs::read_to_string(&log).unwrap_or_default().matches("ssh master down").count();
    let before = downs();
    wait_until(Duration::from_secs(40), "monod noticing the silent link", || downs() > before);
    remote.link(true);
    wait_until(WAIT, "the forward back after the link", || get(port, "").is_ok());

    // monod restarts: it sets the forwards up again by itself.
    sb.mono(["daemon", "stop"]).ok();
    assert!(get(port, "").is_err(), "the forward outlived monod");
    sb.mono(["daemon", "start"]).ok();
    wait_until(WAIT, "the forward back after a restart", || get(port, "").is_ok());
    let doctor = sb.mono(["doctor"]).stdout;
    assert!(doctor.contains(&format!("SSH connection to {} is up", remote.docker_host())), "{doctor}");

    // Seeded data works on the remote engine: found there by DOCKER_HOST.
    let (first, second) = (seeded(&sb, "seed1"), seeded(&sb, "seed2"));
    let out = init_on(&sb, &first, &remote.docker_host());
    assert!(out.contains("MONO_SEED=miss") && out.contains("seed captured"), "{out}");
    let out = init_on(&sb, &second, &remote.docker_host());
    assert!(out.contains("MONO_SEED=hit"), "{out}");
    let logs = sb.mono(["logs", second.to_str().unwrap(), "--service", "db"]).ok().stdout;
    assert_eq!(logs, format!("seeded by {}-seed1\n", sb.id), "the second started from the first's volume");
    for ws in [&first, &second] {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }

    // Destroy follows the recorded engine, whatever the workspace and the
    // shell say now; it leaves nothing there, and the port closes here.
    sb.mono_yml(&far, "");
    let mut destroy = sb.mono_cmd();
    destroy.args(["destroy", far.to_str().unwrap()]).env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    assert_eq!(destroy.run().code, 0);
    assert_eq!(remote.labelled(&label), Vec::<String>::new());
    assert!(get(port, "").is_err(), "the forward outlived its environment");
    sb.mono(["destroy", near.to_str().unwrap()]).ok();
    assert_eq!(sb.env_rows(), 0);
}

/// A workspace whose service seeds its volume on its first start, only
/// when the volume is empty, saying which environment seeded it.
fn seeded(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let ws = sb.docker_workspace(name);
    sb.compose(
        &ws,
        &format!(
            r#"services:
  db:
    image: {TEST_IMAGE}
    init: true
    command: ["sh", "-c", "[ -f /data/seeded ] || echo \"seeded by $$WHO\" > /data/seeded; cat /data/seeded; exec sleep 3600"]
    environment:
      WHO: ${{MONO_ENV_NAME}}
    volumes: ["pgdata:/data"]
volumes:
  pgdata: {{}}
"#
        ),
    );
    std::fs::create_dir_all(ws.join("db")).unwrap();
    std::fs::write(ws.join("db/schema.sql"), "create table t();\n").unwrap();
    sb.mono_yml(&ws, "scripts:\n  setup: echo \"MONO_SEED=$MONO_SEED\"\nseed:\n  key: [db/schema.sql]\n  volumes: [pgdata]\n");
    ws
}

/// `mono init WS` with `DOCKER_HOST` set for it alone; what it printed.
fn init_on(sb: &Sandbox, ws: &Path, docker_host: &str) -> String {
    let mut cmd = sb.mono_cmd();
    cmd.args(["init", ws.to_str().unwrap()]).env("DOCKER_HOST", docker_host);
    let out = cmd.run();
    assert_eq!(out.code, 0, "init failed: {}{}", out.stdout, out.stderr);
    format!("{}{}", out.stdout, out.stderr)
}

#[test]
fn a_tcp_engine_on_another_machine_and_binds_on_a_remote_one_are_refused_before_anything_exists() {
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("tcp");
    sb.compose(
        &ws,
        &format!("services:\n  app:\n    image: {TEST_IMAGE}\n    command: [\"sleep\", \"1\"]\n"),
    );
    sb.set_env("DOCKER_HOST", "tcp://192.0.2.1:2375");
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with("over SSH only");
    assert!(line.contains("tcp://192.0.2.1:2375") && line.contains("ssh://"), "{line}");
    // Nothing listens at that address: the refusal came before any connection.
    sb.set_env("DOCKER_HOST", "ssh://root@192.0.2.1");
    sb.compose(
        &ws,
        &format!(
            "services:\n  app:\n    image: {TEST_IMAGE}\n    secrets: [token]\nsecrets:\n  token:\n    file: ./token.txt\n"
        ),
    );
    std::fs::write(ws.join("token.txt"), "s3cret").unwrap();
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with("bind-mounts");
    assert!(line.contains("token.txt") && line.contains("ssh://root@192.0.2.1"), "{line}");
    assert_eq!(sb.env_rows(), 0);
    // An engine SSH cannot reach: ssh's own words, and what to try.
    sb.compose(
        &ws,
        &format!("services:\n  app:\n    image: {TEST_IMAGE}\n    command: [\"sleep\", \"1\"]\n"),
    );
    sb.set_env("DOCKER_HOST", "ssh://root@127.0.0.1:1");
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with("Connection refused");
    assert!(line.contains("`ssh -p 1 root@127.0.0.1 docker version`"), "{line}");
    assert_eq!(sb.env_rows(), 0);
}
