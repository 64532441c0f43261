//! Files Docker Compose v2.40 accepts (or refuses) that mono read
//! differently: each test states what `docker-compose config` says of the
//! same file and checks that mono agrees.

use std::collections::BTreeMap;

use super::test_support::{Ws, service};
use super::*;

#[test]
fn empty_restart_is_no_policy() {
    // compose: accepted, no restart policy.
    let plan = Ws::new("services:\n  a:\n    image: x\n    restart: \"\"\n").try_plan().unwrap();
    assert_eq!(service(&plan, "a").restart, None);
}

#[test]
fn service_names_may_start_with_underscore_dash_or_dot() {
    // compose: `_a`, `-b` and `.c` are all accepted.
    let plan =
        Ws::new("services:\n  _a: {image: x}\n  -b: {image: x}\n  .c: {image: x}\n").try_plan().unwrap();
    assert_eq!(service(&plan, "_a").container_name, "mono-test-_a-1");
    assert_eq!(service(&plan, "-b").container_name, "mono-test--b-1");
    let e = Ws::new("services:\n  a/b: {image: x}\n").try_load().unwrap_err();
    assert!(e.contains("not a valid service name"), "{e}");
}

#[test]
fn a_file_without_services_plans_nothing_with_a_warning() {
    // compose: `services: {}`.
    for text in ["services: {}\n", "name: x\n", "volumes:\n  data: {}\n"] {
        let plan = Ws::new(text).try_plan().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(plan.services.is_empty() && plan.networks.is_empty());
        assert!(plan.warnings.iter().any(|w| w.contains("defines no services")), "{:?}", plan.warnings);
    }
}

#[test]
fn extension_keys_are_allowed_in_nested_maps() {
    // compose: x-* keys are allowed in depends_on entries, extends,
    // external and the bind/volume/tmpfs option maps.
    let plan = Ws::new(
        r#"services:
  base:
    image: x
  db:
    image: x
  a:
    extends:
      service: base
      x-why: shared
    depends_on:
      db:
        condition: service_started
        x-note: first
    volumes:
      - type: bind
        source: ./src
        target: /src
        bind: {create_host_path: true, x-a: 1}
      - type: volume
        source: data
        target: /data
        volume: {nocopy: true, x-b: 2}
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 1000, x-c: 3}
networks:
  outside:
    external: {name: shared, x-d: 4}
volumes:
  data: {}
"#,
    )
    .try_plan()
    .unwrap();
    let a = service(&plan, "a");
    assert_eq!(a.image, ImageSource::Pull("x".to_string()));
    assert_eq!(a.depends_on[0].service, "db");
    assert_eq!(a.mounts.len(), 3);
}

#[test]
fn provider_services_are_refused_by_name() {
    // compose: accepted (run by a plugin); mono refuses it, clearly.
    let e = Ws::new("services:\n  llm:\n    provider:\n      type: model\n      options: {model: ai/x}\n")
        .try_load()
        .unwrap_err();
    assert!(e.contains("services.llm.provider") && e.contains("provider service"), "{e}");
    assert!(!e.contains("neither"), "{e}");
}

#[test]
fn npipe_mounts_are_skipped_with_a_warning_naming_windows() {
    // compose: accepted (for Windows engines).
    let plan = Ws::new(
        "services:\n  a:\n    image: x\n    volumes:\n      - type: npipe\n        source: \\\\.\\pipe\\docker_engine\n        target: \\\\.\\pipe\\docker_engine\n",
    )
    .try_plan()
    .unwrap();
    assert!(service(&plan, "a").mounts.is_empty());
    assert!(
        plan.warnings.iter().any(|w| w.contains("services.a.volumes[0]") && w.contains("only on Windows")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn an_empty_image_is_an_error_not_a_pull() {
    // compose: `service "a" has neither an image nor a build context specified`.
    let e = Ws::new("services:\n  a:\n    image: ${UNSET}\n").try_load().unwrap_err();
    assert!(e.contains("services.a.image") && e.contains("empty"), "{e}");
    // With a build, the empty image means the default tag.
    let ws = Ws::new("services:\n  a:\n    image: ${UNSET}\n    build: .\n");
    let plan = ws.try_plan().unwrap();
    let ImageSource::Build(build) = &service(&plan, "a").image else { panic!("not a build") };
    assert_eq!(build.tag, "mono-test-a");
}

#[test]
fn links_are_dependencies_and_aliases() {
    // compose: `links: [db:database]` adds depends_on db, and the linking
    // service alone reaches db as `database` (an endpoint link, not an
    // alias every service on the network resolves).
    let plan = Ws::new("services:\n  a:\n    image: x\n    links: [\"db:database\", cache]\n  db: {image: x}\n  cache: {image: x}\n")
        .try_plan()
        .unwrap();
    let a = service(&plan, "a");
    let deps: Vec<&str> = a.depends_on.iter().map(|d| d.service.as_str()).collect();
    assert_eq!(deps, ["db", "cache"]);
    assert_eq!(service(&plan, "db").networks[0].1, ["db"]);
    assert_eq!(service(&plan, "cache").networks[0].1, ["cache"]);
    assert_eq!(a.links, ["mono-test-db-1:database", "mono-test-cache-1:cache"]);
    assert!(!plan.warnings.iter().any(|w| w.contains("links")), "{:?}", plan.warnings);
    let e = Ws::new("services:\n  a:\n    image: x\n    links: [nope]\n").try_load().unwrap_err();
    assert!(e.contains("depends on nope"), "{e}");
}

#[test]
fn extension_values_are_interpolated() {
    // compose: `error while interpolating x-foo: required variable UNSET is missing a value: boom`.
    let e = Ws::new("x-foo: ${UNSET?boom}\nservices:\n  a: {image: x}\n").try_load().unwrap_err();
    assert!(e.contains("x-foo") && e.contains("boom"), "{e}");
    let e = Ws::new("services:\n  a:\n    image: x\n    x-bar: ${UNSET?bang}\n").try_load().unwrap_err();
    assert!(e.contains("services.a.x-bar") && e.contains("bang"), "{e}");
    // Merged from an extension anchor, a value is interpolated once.
    let file =
        Ws::new("x-env: &env\n  HOME_IS: ${HOME}\nservices:\n  a:\n    image: x\n    environment: *env\n")
            .try_load()
            .unwrap();
    assert_eq!(file.services[0].environment, [("HOME_IS".to_string(), Some("/home/dev".to_string()))]);
}

#[test]
fn values_of_keys_mono_does_not_honour_are_still_checked() {
    // compose: `services.a.cpus: failed to cast to expected type`.
    for (key, bad) in [
        ("cpus", "lots"),
        ("mem_limit", "lots"),
        ("shm_size", "[1]"),
        ("oom_kill_disable", "maybe"),
        ("deploy", "three"),
        ("dns_opt", "x"),
        ("logging", "[]"),
    ] {
        let e =
            Ws::new(&format!("services:\n  a:\n    image: x\n    {key}: {bad}\n")).try_load().unwrap_err();
        assert!(e.contains(&format!("services.a.{key}")), "{key}: {e}");
    }
    // Valid values still load, with a warning that names the key.
    let plan = Ws::new(
        "services:\n  a:\n    image: x\n    cpus: \"0.5\"\n    mem_limit: 512m\n    shm_size: 1gb\n    dns: 8.8.8.8\n    deploy: {replicas: 1}\n",
    )
    .try_plan()
    .unwrap();
    assert!(plan.warnings.iter().any(|w| w.contains("services.a.cpus")), "{:?}", plan.warnings);
}

#[test]
fn net_is_rejected_as_compose_does() {
    // compose: `services.a additional properties 'net' not allowed`.
    let e = Ws::new("services:\n  a:\n    image: x\n    net: host\n").try_load().unwrap_err();
    assert!(e.contains("services.a.net") && e.contains("unknown key"), "{e}");
}

#[test]
fn build_dockerfile_empty_means_the_default_and_inline_is_carried() {
    // compose: `dockerfile: ${UNSET}` builds ./Dockerfile.
    let plan = Ws::new("services:\n  a:\n    build:\n      context: .\n      dockerfile: ${UNSET}\n")
        .try_plan()
        .unwrap();
    let ImageSource::Build(build) = &service(&plan, "a").image else { panic!("not a build") };
    assert_eq!((build.dockerfile.as_str(), build.dockerfile_inline.as_deref()), ("Dockerfile", None));
    let plan = Ws::new("services:\n  a:\n    build:\n      dockerfile_inline: |\n        FROM scratch\n")
        .try_plan()
        .unwrap();
    let ImageSource::Build(build) = &service(&plan, "a").image else { panic!("not a build") };
    assert_eq!(build.dockerfile, INLINE_DOCKERFILE);
    assert_eq!(build.dockerfile_inline.as_deref(), Some("FROM scratch\n"));
    let e = Ws::new("services:\n  a:\n    build:\n      dockerfile: D\n      dockerfile_inline: FROM x\n")
        .try_load()
        .unwrap_err();
    assert!(e.contains("cannot be combined"), "{e}");
}

#[test]
fn git_contexts_are_refused_in_one_line_naming_file_and_service() {
    for context in ["https://github.com/docker/welcome.git#main:app", "git@github.com:docker/welcome.git"] {
        let ws = Ws::new(&format!("services:\n  web:\n    build: \"{context}\"\n"));
        let e = ws.try_plan().unwrap_err();
        let file = ws.root().join("compose.yaml").display().to_string();
        assert!(e.starts_with(&file) && e.contains("service web") && e.contains("git repository"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn configs_are_mounted_or_written_as_compose_gives_them() {
    // compose: a file config is a read-only bind at /<name> (or target, a
    // relative one under /); content and environment configs are files
    // written into the container (mode 0444 unless set, uid/gid).
    let ws = Ws::new(
        r#"configs:
  app:
    file: ./app.conf
  inline:
    content: "home is ${HOME}"
  fromenv:
    environment: HOME
  swarm:
    external: true
services:
  a:
    image: x
    configs:
      - app
      - source: app
        target: etc/app2.conf
        mode: 0600
      - source: inline
        target: /etc/inline.txt
        mode: 0440
        uid: "1000"
        gid: "1001"
      - source: fromenv
        mode: 420
"#,
    );
    ws.write("app.conf", "x=1\n");
    let plan = ws.try_plan().unwrap();
    let a = service(&plan, "a");
    let source = ws.root().join("app.conf");
    assert_eq!(
        a.mounts,
        [
            MountPlan {
                kind: MountKind::Bind { source: source.clone() },
                target: "/app".into(),
                read_only: true
            },
            MountPlan { kind: MountKind::Bind { source }, target: "/etc/app2.conf".into(), read_only: true },
        ]
    );
    assert_eq!(
        a.files,
        [
            FilePlan {
                target: "/etc/inline.txt".into(),
                content: "home is /home/dev".into(),
                mode: 0o440,
                uid: 1000,
                gid: 1001
            },
            FilePlan { target: "/fromenv".into(), content: "/home/dev".into(), mode: 0o644, uid: 0, gid: 0 },
        ]
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("services.a.configs[1]") && w.contains("ignored for a file config")),
        "{:?}",
        plan.warnings
    );
    assert!(!plan.warnings.iter().any(|w| w.contains("configs are not supported")), "{:?}", plan.warnings);
    // External configs are swarm objects: refused when used.
    let ws = Ws::new("configs:\n  s:\n    external: true\nservices:\n  a:\n    image: x\n    configs: [s]\n");
    let e = ws.try_plan().unwrap_err();
    assert!(e.contains("services.a.configs[0]") && e.contains("swarm"), "{e}");
    // An undeclared config, an unset variable: one line naming them.
    let e = Ws::new("services:\n  a:\n    image: x\n    configs: [nope]\n").try_load().unwrap_err();
    assert!(e.contains("config nope is not declared"), "{e}");
    let e = Ws::new("configs:\n  c:\n    environment: NOT_SET_ANYWHERE\nservices:\n  a:\n    image: x\n    configs: [c]\n")
        .try_plan()
        .unwrap_err();
    assert!(e.contains("NOT_SET_ANYWHERE") && e.contains("config c"), "{e}");
}

#[test]
fn secrets_from_the_environment_are_written_into_the_container() {
    // compose writes an `environment:` secret at /run/secrets/<target> (mode
    // 0444), as it writes an `environment:` config; an unset variable is an
    // error, as compose's `up` makes it.
    let ws = Ws::new(
        "secrets:\n  s:\n    environment: HOME\nservices:\n  a:\n    image: x\n    secrets:\n      - source: s\n        \
         target: bar\n  b:\n    image: x\n    secrets: [s]\n",
    );
    let plan = ws.try_plan().unwrap();
    let written = |name| {
        service(&plan, name)
            .files
            .iter()
            .map(|f| (f.target.clone(), f.content.clone(), f.mode))
            .collect::<Vec<_>>()
    };
    assert_eq!(written("a"), [("/run/secrets/bar".to_string(), "/home/dev".to_string(), 0o444)]);
    assert_eq!(written("b"), [("/run/secrets/s".to_string(), "/home/dev".to_string(), 0o444)]);
    assert!(service(&plan, "a").mounts.is_empty());
    assert!(!plan.warnings.iter().any(|w| w.contains("does not support")), "{:?}", plan.warnings);
    let e = Ws::new("secrets:\n  s:\n    environment: NOT_SET_ANYWHERE\nservices:\n  a:\n    image: x\n    secrets: [s]\n")
        .try_plan()
        .unwrap_err();
    assert!(e.contains("NOT_SET_ANYWHERE") && e.contains("secret s"), "{e}");
}

#[test]
fn an_includes_env_file_gives_its_secrets_configs_and_bare_variables_their_values() {
    // compose (TestSecretFromEnv): `include: [{path: child/compose.yaml,
    // env_file: secret.env}]` resolves the child's `environment:` sources
    // and bare `- NAME` entries with secret.env, which the parent lacks.
    let ws = Ws::new(
        "include:\n  - path: child/compose.yaml\n    env_file: secret.env\nservices:\n  top: {image: x}\n",
    );
    ws.write("secret.env", "MY_SECRET=s3cret\nMY_CONFIG=level=debug\nBARE=from-include\n");
    ws.write(
        "child/compose.yaml",
        "services:\n  included:\n    image: x\n    secrets: [my-secret]\n    configs: [my-config]\n    environment: [BARE]\n\
         secrets:\n  my-secret:\n    environment: MY_SECRET\nconfigs:\n  my-config:\n    environment: MY_CONFIG\n",
    );
    let plan = ws.try_plan().unwrap();
    let s = service(&plan, "included");
    let written: BTreeMap<&str, &str> =
        s.files.iter().map(|f| (f.target.as_str(), f.content.as_str())).collect();
    assert_eq!(
        written,
        BTreeMap::from([("/my-config", "level=debug"), ("/run/secrets/my-secret", "s3cret")])
    );
    assert_eq!(s.environment.get("BARE").map(String::as_str), Some("from-include"));
    // The parent's own services do not see the include's variables.
    assert!(service(&plan, "top").environment.is_empty());
}
