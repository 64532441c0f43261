//! Compose files read as Docker Compose v2 reads them, checked inside the
//! real containers: configs mounted and written, builds sent only what
//! `.dockerignore` leaves in.

use mono_e2e::Sandbox;
use mono_e2e::docker::{TEST_IMAGE, docker, require_docker};

/// `docker exec CONTAINER sh -c SCRIPT`: (success, stdout).
fn exec(container: &str, script: &str) -> (bool, String) {
    let (ok, out, err) = docker(["exec", container, "sh", "-c", script]);
    (ok, format!("{out}{err}"))
}

#[test]
fn configs_are_mounted_and_written_into_the_container() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("configs");
    std::fs::write(ws.join("app.conf"), "level=debug\n").unwrap();
    std::fs::write(ws.join(".env"), "GREETING=hello from .env\n").unwrap();
    sb.compose(
        &ws,
        &format!(
            r#"configs:
  app:
    file: ./app.conf
  inline:
    content: "greeting=${{GREETING}}"
services:
  web:
    image: {TEST_IMAGE}
    init: true
    command: ["sleep", "3600"]
    configs:
      - app
      - source: inline
        target: /etc/inline.txt
        mode: 0440
        uid: "1000"
        gid: "1001"
"#
        ),
    );
    let out = sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert!(!out.stderr.contains("configs are not supported"), "{}", out.stderr);
    let container = format!("mono-{}-configs-web-1", sb.id);
    assert_eq!(exec(&container, "cat /app"), (true, "level=debug\n".to_string()));
    assert!(!exec(&container, "echo changed > /app").0, "a file config is read-only");
    assert_eq!(exec(&container, "cat /etc/inline.txt"), (true, "greeting=hello from .env".to_string()));
    assert_eq!(exec(&container, "stat -c '%a %u %g' /etc/inline.txt"), (true, "440 1000 1001\n".to_string()));
    // Nothing of the inline config was written on the host.
    let written: Vec<_> = walk(&sb.home).into_iter().filter(|p| content_is(p, "greeting=")).collect();
    assert!(written.is_empty(), "{written:?}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn a_link_alias_is_resolved_by_the_linking_service_alone() {
    // compose: `links: [db:database]` lets web reach db as `database`; the
    // alias is web's, so other services on the network do not resolve it.
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("links");
    let sleeper = format!("image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]");
    sb.compose(
        &ws,
        &format!(
            "services:\n  db:\n    {sleeper}\n  web:\n    {sleeper}\n    links: [\"db:database\"]\n  other:\n    {sleeper}\n"
        ),
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let project = format!("mono-{}-links", sb.id);
    let (_, db_ip, _) = docker([
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("{project}-db-1"),
    ]);
    let (found, out) = exec(&format!("{project}-web-1"), "nslookup database");
    assert!(found && out.contains(db_ip.trim()), "web did not resolve database to {db_ip}: {out}");
    let (found, out) = exec(&format!("{project}-other-1"), "nslookup database");
    assert!(!found || !out.contains(db_ip.trim()), "other resolved web's alias: {out}");
    // db itself is still reached by its service name from both.
    assert!(exec(&format!("{project}-other-1"), "nslookup db").1.contains(db_ip.trim()));
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn dockerignore_decides_what_a_build_is_sent() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("ignored");
    let app = ws.join("app");
    for (rel, text) in [
        ("run-id", sb.id.as_str()),
        ("src/main.js", "main"),
        ("node_modules/dep/index.js", "dependency"),
        ("secret.txt", "do not send"),
        ("notes.md", "notes"),
        ("keep.md", "kept"),
        (".dockerignore", "node_modules\n*.md\n!keep.md\n/secret.txt\nDockerfile\n"),
        ("Dockerfile", &format!("FROM {TEST_IMAGE}\nCOPY . /ctx\nCMD [\"sleep\", \"3600\"]\n")),
    ] {
        std::fs::create_dir_all(app.join(rel).parent().unwrap()).unwrap();
        std::fs::write(app.join(rel), text).unwrap();
    }
    sb.compose(
        &ws,
        &format!(
            r#"services:
  web:
    init: true
    build:
      context: ./app
      dockerfile: ${{NO_SUCH_VARIABLE}}
  inline:
    init: true
    build:
      context: ./app
      dockerfile_inline: |
        FROM {TEST_IMAGE}
        COPY . /ctx
        RUN echo inline > /built-inline
        CMD ["sleep", "3600"]
"#
        ),
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let web = format!("mono-{}-ignored-web-1", sb.id);
    let (ok, listing) = exec(&web, "cd /ctx && find . -type f | sort");
    assert!(ok, "{listing}");
    assert_eq!(
        listing, "./.dockerignore\n./keep.md\n./run-id\n./src/main.js\n",
        "node_modules, secret.txt and notes.md stay out; the Dockerfile is sent but, being ignored, not copied \
         (what `DOCKER_BUILDKIT=0 docker build` of this context copies)"
    );
    let inline = format!("mono-{}-ignored-inline-1", sb.id);
    assert_eq!(exec(&inline, "cat /built-inline"), (true, "inline\n".to_string()));
    assert!(!exec(&inline, "test -e /ctx/node_modules").0, "the inline build is sent the same context");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    // The built images are cache entries: leave none behind.
    sb.mono(["cache", "clean", "--all"]).ok();
    let tag = format!("mono-{}-ignored-web", sb.id);
    assert!(!docker(["image", "inspect", &tag]).0, "{tag} is still there");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

fn content_is(path: &std::path::Path, prefix: &str) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(prefix.as_bytes()))
}
