//! The engines and registries users have: a Docker context pointing at
//! another socket, an engine behind TLS with client certificates, and a
//! registry that wants a login, all on loopback and stopped afterwards.
//! The endpoint and the logins follow the caller's environment (what
//! `docker` would use in the caller's shell); the endpoint is recorded
//! with the environment, so its destroy reaches the same engine.

use std::path::Path;

use base64::Engine as _;
use mono_e2e::docker::{TEST_IMAGE, docker, labelled, require_docker};
use mono_e2e::engines::{AuthRegistry, Certificates, TlsFront, write_context};
use mono_e2e::proxy::FaultProxy;
use mono_e2e::{Bounded, Run, Sandbox, WAIT, wait_until};

fn sleeper() -> String {
    format!(
        "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n"
    )
}

/// `mono ARGS` with extra variables for this command only.
fn mono_with(sb: &Sandbox, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = sb.mono_cmd();
    cmd.args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.run()
}

/// Removes an image when dropped, also when the test fails.
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = docker(["rmi", "-f", &self.0]);
    }
}

#[test]
fn a_docker_context_leads_to_its_engine_and_destroy_follows_the_recorded_one() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("ctx");
    sb.compose(&ws, &sleeper());
    let project = format!("mono-{}-ctx", sb.id);
    // The context's engine: the shared one, through a socket of its own
    // whose proxy records every request.
    let proxy = FaultProxy::start(sb.root());
    let config = sb.root().join("docker-config");
    write_context(&config, "mono-test", &proxy.docker_host());
    std::fs::write(config.join("config.json"), r#"{"currentContext":"mono-test"}"#).unwrap();
    let config = config.to_str().unwrap();
    // The daemon runs without the caller's DOCKER_CONFIG: only the
    // forwarded environment can lead it to the context.
    sb.mono(["daemon", "start"]).ok();

    // A context that does not exist: one line, nothing registered.
    let line = mono_with(
        &sb,
        &["init", ws.to_str().unwrap()],
        &[("DOCKER_CONFIG", config), ("DOCKER_CONTEXT", "nope")],
    )
    .fails_with("Docker context \"nope\" (from DOCKER_CONTEXT) cannot be used");
    assert!(line.contains("docker context ls"), "{line}");
    assert_eq!(sb.env_rows(), 0);

    let out = mono_with(&sb, &["init", ws.to_str().unwrap()], &[("DOCKER_CONFIG", config)]).ok();
    assert!(
        out.stderr.contains(&format!(
            "{} (context mono-test, from currentContext in {config}/config.json)",
            proxy.docker_host()
        )),
        "{}",
        out.stderr
    );
    let created =
        |seen: &[String]| seen.iter().any(|r| r.starts_with("POST") && r.contains("/containers/create"));
    assert!(created(&proxy.seen()), "init did not go through the context's socket: {:?}", proxy.seen());
    // The container watcher follows the environment's engine too.
    wait_until(WAIT, "the watcher on the context's engine", || {
        proxy.seen().iter().any(|r| r.starts_with("GET") && r.contains("/events"))
    });

    // Destroy from a caller whose environment leads nowhere: the recorded
    // endpoint is used.
    let before = proxy.seen().len();
    mono_with(&sb, &["destroy", ws.to_str().unwrap()], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")])
        .ok();
    let later = proxy.seen()[before..].to_vec();
    assert!(later.iter().any(|r| r.starts_with("DELETE") && r.contains("/containers/")), "{later:?}");
    assert_eq!(labelled(&format!("com.docker.compose.project={project}")), Vec::<String>::new());
    assert_eq!(sb.env_rows(), 0);
}

#[test]
fn an_engine_behind_tls_is_reached_with_the_callers_certificates() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("tls");
    sb.compose(&ws, &sleeper());
    let project = format!("mono-{}-tls", sb.id);
    let certs = Certificates::new(&sb.root().join("certs"));
    let front = TlsFront::start(&certs);
    let host = front.docker_host();
    let cert_path = certs.dir.to_str().unwrap();

    // Certificates missing where DOCKER_CERT_PATH says: one line naming the file.
    let empty = sb.root().join("no-certs");
    std::fs::create_dir_all(&empty).unwrap();
    let vars = [
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", empty.to_str().unwrap()),
    ];
    let line = mono_with(&sb, &["init", ws.to_str().unwrap()], &vars).fails_with("which does not exist");
    assert!(line.contains(&format!("{host} (DOCKER_HOST)")) && line.contains("ca.pem"), "{line}");
    // A client certificate of another CA is refused by the engine's front.
    let other = Certificates::new(&sb.root().join("other-certs"));
    std::fs::copy(certs.dir.join("ca.pem"), other.dir.join("ca.pem")).unwrap();
    let vars = [
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", other.dir.to_str().unwrap()),
    ];
    let line =
        mono_with(&sb, &["init", ws.to_str().unwrap()], &vars).fails_with("Docker is not reachable at");
    assert!(line.contains(&format!("{host} (DOCKER_HOST)")), "{line}");
    assert_eq!(sb.env_rows(), 0);

    sb.set_env("DOCKER_HOST", &host);
    sb.set_env("DOCKER_TLS_VERIFY", "1");
    sb.set_env("DOCKER_CERT_PATH", cert_path);
    let out = sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert!(out.stderr.contains(&format!("({host} (DOCKER_HOST))")), "{}", out.stderr);
    assert_eq!(labelled(&format!("com.docker.compose.project={project}")).len(), 2, "container and network");
    // The daemon was started by the first command above, whose certificates
    // were missing: doctor names both the environment's engine and its own.
    let doctor = sb.mono(["doctor"]);
    assert!(
        doctor.stdout.contains(&format!("at {host} (DOCKER_HOST); 1 environment(s) were created on it")),
        "{}",
        doctor.stdout
    );
    assert!(
        doctor.stdout.contains("monod's environment; `mono init` follows the caller's"),
        "{}",
        doctor.stdout
    );
    // And the engine this shell's variables lead to, with the right certificates.
    assert!(
        doctor.stdout.contains(&format!(
            "at {host} (DOCKER_HOST) (the caller's environment: `mono init` from this shell uses it)"
        )),
        "{}",
        doctor.stdout
    );
    // A shell whose DOCKER_HOST leads nowhere is told so, by the doctor too.
    let nowhere = format!("unix://{}", sb.root().join("nowhere.sock").display());
    let doctor = mono_with(&sb, &["doctor"], &[("DOCKER_HOST", nowhere.as_str())]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let line = doctor.stdout.lines().find(|l| l.contains("the caller's environment")).unwrap_or_default();
    assert!(line.starts_with("ERROR") && line.contains(&nowhere), "{}", doctor.stdout);
    // The client key is a path in messages, never its contents.
    let key = std::fs::read_to_string(certs.dir.join("key.pem")).unwrap();
    let secret_line = key.lines().nth(1).unwrap();
    let log = std::fs::read_to_string(sb.home.join("mono.log")).unwrap_or_default();
    assert!(!log.contains(secret_line) && !out.stderr.contains(secret_line));
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(labelled(&format!("com.docker.compose.project={project}")), Vec::<String>::new());
}

/// A `docker-credential-<name>` helper that knows one login.
fn write_helper(bin: &Path, name: &str, registry: &str, user: &str, password: &str) {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = {registry} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\n\
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}\\n' \"$server\"\n"
    );
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn private_images_are_pulled_with_the_callers_docker_login() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let port = AuthRegistry::reserve();
    let registry = format!("127.0.0.1:{port}");
    let image = format!("{registry}/mono-test/private:{}", sb.id);
    // A layer of its own (3 MB the engine has never seen), so the pull
    // downloads and reports it.
    let context = sb.root().join("image");
    std::fs::create_dir_all(&context).unwrap();
    let mut blob = vec![0u8; 3 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut blob).unwrap();
    std::fs::write(context.join("blob"), blob).unwrap();
    std::fs::write(context.join("Dockerfile"), format!("FROM {TEST_IMAGE}\nCOPY blob /blob\n")).unwrap();
    let _image = ImageGuard(image.clone());
    let (ok, _, err) = docker(["build", "-q", "-t", &image, context.to_str().unwrap()]);
    assert!(ok, "docker build of the private image failed: {err}");
    let (user, password) = ("mono", format!("pw-{}", sb.id));
    let _registry = AuthRegistry::start(port, &[&image], user, &password);
    let ws = sb.docker_workspace("private");
    sb.compose(&ws, &sleeper().replace(TEST_IMAGE, &image));
    let ws = ws.to_str().unwrap();
    let forget = || {
        assert!(docker(["rmi", &image]).0);
    };
    forget();

    // No login: one line naming the registry and the command to run.
    let empty = sb.root().join("no-login");
    std::fs::create_dir_all(&empty).unwrap();
    let line = mono_with(&sb, &["init", ws], &[("DOCKER_CONFIG", empty.to_str().unwrap())])
        .fails_with(&format!("refused by registry {registry}"));
    assert!(line.contains(&format!("`docker login {registry}`")), "{line}");
    assert_eq!(sb.env_rows(), 0);

    // `auths` in the caller's config.json.
    let with_auths = sb.root().join("auths");
    std::fs::create_dir_all(&with_auths).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({"auths": {registry.clone(): {"auth": auth}}});
    std::fs::write(with_auths.join("config.json"), config.to_string()).unwrap();
    let out =
        mono_with(&sb, &["init", ws, "--json"], &[("DOCKER_CONFIG", with_auths.to_str().unwrap())]).ok();
    assert!(out.stderr.contains(&format!("with the docker login for {registry}")), "{}", out.stderr);
    assert!(docker(["image", "inspect", &image]).0, "the image was not pulled");
    // The pull's progress reached the `--json` consumer as events, bounded.
    let pulls: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "image.pull")
        .collect();
    assert!(
        pulls.iter().any(|e| e["data"]["image"] == image.as_str()
            && e["data"]["status"] == "Pull complete"
            && e["data"]["layer"].is_string()),
        "{pulls:?}\n{}",
        out.stderr
    );
    assert!(pulls.len() < 40, "{} image.pull events", pulls.len());
    assert!(pulls.iter().all(|e| e["data"]["op"].is_string() && e["data"]["service"] == "app"), "{pulls:?}");
    mono_with(&sb, &["destroy", ws], &[]).ok();
    forget();

    // A credential helper (`credHelpers`), found on the caller's PATH.
    let with_helper = sb.root().join("helper");
    let bin = sb.root().join("bin");
    write_helper(&bin, "monotest", &registry, user, &password);
    std::fs::create_dir_all(&with_helper).unwrap();
    let config = serde_json::json!({"credHelpers": {registry.clone(): "monotest"}});
    std::fs::write(with_helper.join("config.json"), config.to_string()).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    mono_with(&sb, &["init", ws], &[("DOCKER_CONFIG", with_helper.to_str().unwrap()), ("PATH", &path)]).ok();
    assert!(docker(["image", "inspect", &image]).0, "the image was not pulled");
    mono_with(&sb, &["destroy", ws], &[]).ok();

    // The password is in no log and no event.
    let log = std::fs::read_to_string(sb.home.join("mono.log")).unwrap_or_default();
    assert!(!log.contains(&password), "the password is in mono.log");
    let events = sb.mono(["events", "--since", "0", "--no-follow", "--json"]).ok();
    assert!(!events.stdout.contains(&password) && !events.stdout.contains(&auth));
}

#[test]
fn gc_finds_orphans_on_the_callers_engine_when_monods_own_has_none() {
    // monod was started where no engine answers; the caller's shell reaches
    // one. An environment whose row was lost (a deleted state.db, say)
    // left its container and network there: gc lists them on that engine
    // and removes them.
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("lost");
    sb.compose(&ws, &sleeper());
    let nowhere = format!("unix://{}", sb.root().join("nowhere.sock").display());
    mono_with(&sb, &["daemon", "start"], &[("DOCKER_HOST", nowhere.as_str())]).ok();
    let real = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
    sb.set_env("DOCKER_HOST", &real);
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let project = format!("mono-{}-lost", sb.id);
    sb.mono(["daemon", "stop"]).ok();
    let db = rusqlite::Connection::open(sb.home.join("state.db")).unwrap();
    db.execute("DELETE FROM environments", []).unwrap();
    drop(db);
    mono_with(&sb, &["daemon", "start"], &[("DOCKER_HOST", nowhere.as_str())]).ok();
    let listed = sb.mono(["gc"]).ok().stdout;
    let container = format!("{project}-app-1");
    let rows: Vec<&str> = listed.lines().filter(|l| l.contains(&container)).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    assert!(rows[0].contains(&format!("on {real} (DOCKER_HOST)")), "{listed}");
    assert!(listed.contains(&format!("{project}_default")), "{listed}");
    sb.mono(["gc", "--yes"]).ok();
    assert_eq!(labelled(&format!("com.docker.compose.project={project}")), Vec::<String>::new());
}
