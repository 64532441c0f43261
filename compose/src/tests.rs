//! Tests on real files: the 39 files of the corpus, and small files for each
//! rule, each asserting what a user would check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::test_support::*;
use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose-corpus")
}

// ---------------------------------------------------------------------------
// The corpus

#[test]
fn every_corpus_file_loads_and_plans_isolated() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 39, "the corpus has 39 files");
    let workspace = Path::new("/ws/app");
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let loaded = load(path, &plex_media).unwrap_or_else(|e| panic!("{name}: does not load: {e}"));
        let plan =
            plan(&loaded, &settings(workspace)).unwrap_or_else(|e| panic!("{name}: does not plan: {e}"));
        check_isolated(&name, path, &loaded, &plan);
    }
}

fn check_isolated(name: &str, path: &Path, loaded: &ComposeFile, plan: &Plan) {
    let file = path.display().to_string();
    assert_eq!(plan.services.len(), loaded.services.len(), "{name}: every service is planned");
    let mut host_ports: Vec<u16> = Vec::new();
    for s in &plan.services {
        assert_eq!(s.container_name, format!("mono-test-{}-1", s.name), "{name}: container name");
        for p in &s.ports {
            assert!(
                (19300..=19399).contains(&p.host_port),
                "{name}: {} port {} outside the block",
                s.name,
                p.host_port
            );
            assert_eq!(p.host_ip, "127.0.0.1", "{name}: {} binds {}", s.name, p.host_ip);
            host_ports.push(p.host_port);
        }
        for (network, _) in &s.networks {
            assert!(network.starts_with("mono-test_"), "{name}: {} joins {network}", s.name);
        }
        for m in &s.mounts {
            if let MountKind::Volume { name: volume } = &m.kind {
                assert!(volume.starts_with("mono-test_"), "{name}: {} mounts volume {volume}", s.name);
            }
            if let MountKind::Bind { source } = &m.kind {
                assert!(source.is_absolute(), "{name}: {} binds relative {}", s.name, source.display());
            }
        }
        let label = |key: &str| s.labels.get(key).map(String::as_str);
        assert_eq!(label("com.docker.compose.project"), Some(PROJECT), "{name}: {} project label", s.name);
        assert_eq!(label("com.docker.compose.service"), Some(s.name.as_str()), "{name}: service label");
        assert_eq!(label("com.docker.compose.container-number"), Some("1"), "{name}: container-number");
        assert_eq!(label("com.docker.compose.oneoff"), Some("False"), "{name}: oneoff");
        assert_eq!(
            label("com.docker.compose.config-hash"),
            Some(s.config_hash.as_str()),
            "{name}: hash label"
        );
        assert_eq!(s.config_hash.len(), 64, "{name}: hash is hex sha256");
        // The project directory is the file's folder, as in compose.
        let project_dir = path.parent().unwrap().display().to_string();
        assert_eq!(
            label("com.docker.compose.project.working_dir"),
            Some(project_dir.as_str()),
            "{name}: working_dir"
        );
        assert_eq!(
            label("com.docker.compose.project.config_files"),
            Some(file.as_str()),
            "{name}: config_files"
        );
        assert_eq!(label("com.docker.compose.version"), Some(COMPOSE_VERSION), "{name}: version");
        assert!(label("com.docker.compose.depends_on").is_some(), "{name}: depends_on label");
        assert_eq!(label("dev.mono.env"), Some(PROJECT), "{name}: mono label");
    }
    let mut unique = host_ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), host_ports.len(), "{name}: host ports are unique");
    assert_eq!(plan.ports.len(), host_ports.len(), "{name}: every published port is assigned");
    for n in &plan.networks {
        if !n.external {
            assert!(n.name.starts_with("mono-test_"), "{name}: network {}", n.name);
            assert_eq!(n.labels.get("com.docker.compose.network"), Some(&n.key), "{name}: network label");
        }
    }
    for v in &plan.volumes {
        if !v.external {
            assert!(v.name.starts_with("mono-test_"), "{name}: volume {}", v.name);
            assert_eq!(v.labels.get("com.docker.compose.volume"), Some(&v.key), "{name}: volume label");
        }
    }
    for s in &loaded.services {
        if let Some(original) = &s.container_name {
            assert!(
                plan.warnings
                    .iter()
                    .any(|w| w.contains("container_name") && w.contains(&format!("{original:?}"))),
                "{name}: no warning names container_name {original}: {:#?}",
                plan.warnings
            );
        }
    }
    for w in loaded.warnings.iter().chain(&plan.warnings) {
        assert!(w.starts_with(&file), "{name}: warning does not name the file: {w}");
    }
}

/// The one variable an awesome-compose sample needs: plex's media folder
/// (`${PLEX_MEDIA_PATH}:/media/`, refused when unset, as compose refuses it).
fn plex_media(name: &str) -> Option<String> {
    (name == "PLEX_MEDIA_PATH").then(|| "/srv/media".to_string())
}

#[test]
fn corpus_specifics_are_reported_by_name() {
    let load_plan = |file: &str| {
        let path = corpus_dir().join(file);
        let loaded = load(&path, &plex_media).unwrap();
        let plan = plan(&loaded, &settings(Path::new("/ws"))).unwrap();
        (loaded, plan)
    };
    let (_, plex) = load_plan("plex.compose.yaml");
    assert!(plex.warnings.iter().any(|w| w.contains("service plex") && w.contains("network_mode \"host\"")));
    assert_eq!(service(&plex, "plex").networks, vec![("mono-test_default".to_string(), strings(&["plex"]))]);

    let (loaded, pihole) = load_plan("pihole-cloudflared-DoH.compose.yaml");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("services.pihole.environment[0]") && w.contains("TIMEZONE"))
    );
    assert!(pihole.warnings.iter().any(|w| w.contains("networks.dns-net.ipam")));
    assert!(pihole.warnings.iter().any(|w| w.contains("services.cloudflared.networks.dns-net.ipv4_address")));
    // Four tcp/udp pairs and singles: 2 + 5 ports.
    assert_eq!(pihole.ports.len(), 7);

    let (_, minecraft) = load_plan("minecraft.compose.yaml");
    assert!(minecraft.warnings.iter().any(|w| w.contains("services.minecraft.deploy")));
    let mount = &service(&minecraft, "minecraft").mounts[0];
    assert_eq!(mount.kind, MountKind::Bind { source: PathBuf::from("/home/dev/minecraft_data") });

    let (_, rust) = load_plan("react-rust-postgres.compose.yaml");
    assert!(rust.warnings.iter().any(|w| w.contains("name: \"react-rust-postgres\" is ignored")));

    let (_, wasm) = load_plan("wasmedge-kafka-mysql.compose.yaml");
    assert!(wasm.warnings.iter().any(|w| w.contains("service etl") && w.contains("services.etl.runtime")));
    let etl = service(&wasm, "etl");
    assert!(matches!(&etl.image, ImageSource::Build(b) if b.tag == "etl-kafka"));
    let command = service(&wasm, "redpanda").command.clone().unwrap();
    assert_eq!(command[1], "--smp 1", "list items are not split");
}

// ---------------------------------------------------------------------------
// Interpolation

#[test]
fn interpolation_of_values() {
    let ws = Ws::new(
        "services:\n  web:\n    image: \"nginx:${TAG:-latest}\"\n    environment:\n      A: $V\n      B: \"${V}-x\"\n      \
         C: \"$$HOME\"\n      D: ${UNSET}\n      $KEY: kept\n",
    );
    let file = ws.load_with(&[("V", "vee")]).unwrap();
    let web = &file.services[0];
    assert_eq!(web.image.as_deref(), Some("nginx:latest"));
    let env: BTreeMap<_, _> = web.environment.iter().cloned().collect();
    assert_eq!(env["A"].as_deref(), Some("vee"));
    assert_eq!(env["B"].as_deref(), Some("vee-x"));
    assert_eq!(env["C"].as_deref(), Some("$HOME"));
    assert_eq!(env["D"].as_deref(), Some(""));
    assert!(env.contains_key("$KEY"), "keys are not interpolated");
    assert_eq!(file.warnings.len(), 1, "{:?}", file.warnings);
    let w = &file.warnings[0];
    assert!(
        w.starts_with(&ws.file().display().to_string()) && w.contains("services.web.environment.D"),
        "{w}"
    );
    assert!(w.contains("variable UNSET is not set"), "{w}");
}

#[test]
fn required_variable_error_names_key_path_and_line() {
    let ws =
        Ws::new("services:\n  web:\n    image: nginx\n    environment:\n      FOO: ${FOO:?set FOO first}\n");
    let e = ws.load_error();
    let file = ws.file().display().to_string();
    assert!(e.starts_with(&format!("{file}:5:7: services.web.environment.FOO: ")), "{e}");
    assert!(e.contains("FOO") && e.contains("set FOO first"), "{e}");
    assert!(ws.load_with(&[("FOO", "x")]).is_ok());
}

// ---------------------------------------------------------------------------
// YAML: anchors, merge keys, syntax and type errors

#[test]
fn anchors_and_merge_keys() {
    let ws = Ws::new(
        "x-common: &common\n  image: base:1\n  restart: always\n  environment: &env\n    SHARED: \"1\"\n\
         services:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    image: other:2\n    environment:\n      \
         <<: *env\n      OWN: \"2\"\n",
    );
    let plan = ws.plan();
    let a = service(&plan, "a");
    assert_eq!(a.image, ImageSource::Pull("base:1".to_string()));
    assert_eq!(a.restart.as_deref(), Some("always"));
    let b = service(&plan, "b");
    assert_eq!(b.image, ImageSource::Pull("other:2".to_string()));
    assert_eq!(b.environment.get("SHARED").map(String::as_str), Some("1"));
    assert_eq!(b.environment.get("OWN").map(String::as_str), Some("2"));
}

#[test]
fn yaml_syntax_error_names_line_and_column() {
    let ws = Ws::new("services:\n  web:\n    image: nginx\n   ports: [\"80\"\n");
    let e = ws.load_error();
    let file = ws.file().display().to_string();
    assert!(e.starts_with(&format!("{file}:")), "{e}");
    let position = e[file.len() + 1..].split(':').take(2).collect::<Vec<_>>();
    assert!(position.iter().all(|n| n.parse::<u32>().is_ok()), "no line:column in {e}");
    assert!(e.contains("invalid YAML") && e.contains("fix the syntax"), "{e}");
}

#[test]
fn type_error_after_interpolation_names_key_path_and_line() {
    let ws = Ws::new("services:\n  web:\n    image: nginx\n    ports: {a: b}\n");
    let e = ws.load_error();
    let file = ws.file().display().to_string();
    assert!(e.starts_with(&format!("{file}:4:5: services.web.ports: expected a list of ports")), "{e}");

    let ws =
        Ws::new("services:\n  db:\n    image: x\n    ports:\n      - \"80\"\n      - \"${P}:80:90:1\"\n");
    let e = ws.load_error();
    assert!(e.contains(":6:9: services.db.ports[1]: "), "{e}");
}

#[test]
fn unknown_keys_are_errors_with_key_paths() {
    let ws = Ws::new("services:\n  web:\n    image: nginx\n    enviroment:\n      A: b\n");
    let e = ws.load_error();
    assert!(e.contains(":4:5: services.web.enviroment: unknown key (did you mean `environment`?)"), "{e}");

    let ws = Ws::new("services:\n  web:\n    image: nginx\nservice:\n  x: {}\n");
    assert!(ws.load_error().contains(":4:1: service: unknown key (did you mean `services`?)"));

    let ws = Ws::new("services:\n  web:\n    image: nginx\nnetworks:\n  n:\n    drive: bridge\n");
    assert!(ws.load_error().contains("networks.n.drive: unknown key"));

    let ws = Ws::new("services:\n  web:\n    image: nginx\n    x-anything: [1, 2]\n");
    ws.load();
}

#[test]
fn unsupported_keys_are_warnings_naming_file_service_and_key() {
    let ws = Ws::new(
        "version: \"3.8\"\nservices:\n  web:\n    image: nginx\n    deploy: {replicas: 2}\n    mem_limit: 1g\n    \
         logging: {driver: none}\n    dns: [1.1.1.1]\n",
    );
    let plan = ws.plan();
    let file = ws.file().display().to_string();
    for key in ["deploy", "mem_limit", "logging", "dns"] {
        let expected = format!("{file}: service web: services.web.{key}: not supported");
        assert!(plan.warnings.iter().any(|w| w.starts_with(&expected)), "{key}: {:#?}", plan.warnings);
    }
}

#[test]
fn a_service_needs_image_or_build() {
    let e = Ws::new("services:\n  web:\n    restart: always\n").load_error();
    assert!(e.contains("services.web") && e.contains("neither `image` nor `build`"), "{e}");
}

// ---------------------------------------------------------------------------
// extends

#[test]
fn extends_within_the_file() {
    let ws = Ws::new(
        "services:\n  base:\n    image: app:1\n    environment: [A=1, B=1]\n    ports: [\"80\"]\n    \
         command: [\"run\"]\n    volumes: [\"./a:/data\", \"/cache\"]\n  web:\n    extends: base\n    environment:\n      \
         B: \"2\"\n    ports: [\"81\"]\n    command: serve --port 81\n    volumes: [\"./b:/data\"]\n  worker:\n    \
         extends: {service: web}\n    image: app:2\n",
    );
    let plan = ws.plan();
    let web = service(&plan, "web");
    assert_eq!(web.image, ImageSource::Pull("app:1".to_string()));
    assert_eq!(web.environment, BTreeMap::from([("A".into(), "1".into()), ("B".into(), "2".into())]));
    assert_eq!(web.ports.iter().map(|p| p.container_port).collect::<Vec<_>>(), vec![80, 81]);
    assert_eq!(web.command, Some(strings(&["serve", "--port", "81"])));
    let targets: Vec<_> = web.mounts.iter().map(|m| (m.target.as_str(), m.kind.clone())).collect();
    assert_eq!(
        targets,
        vec![("/data", MountKind::Bind { source: ws.root().join("b") }), ("/cache", MountKind::Anonymous),]
    );
    let worker = service(&plan, "worker");
    assert_eq!(worker.image, ImageSource::Pull("app:2".to_string()));
    assert_eq!(worker.environment.get("B").map(String::as_str), Some("2"));
}

#[test]
fn extends_errors_name_the_service() {
    let e = Ws::new("services:\n  web:\n    extends: {service: base, file: other.yaml}\n").load_error();
    assert!(
        e.contains(":3:30: services.web.extends.file: ") && e.contains("other.yaml is not a file"),
        "{e}"
    );
    let e = Ws::new("services:\n  web:\n    extends: nothing\n").load_error();
    assert!(e.contains("services.web.extends") && e.contains("nothing"), "{e}");
    let e = Ws::new("services:\n  a:\n    extends: b\n  b:\n    extends: a\n").load_error();
    assert!(e.contains("cycle") && e.contains("a -> b -> a"), "{e}");
}

// ---------------------------------------------------------------------------
// Profiles

#[test]
fn profiles_select_services() {
    let yaml = "services:\n  web:\n    image: nginx\n    ports: [\"80\"]\n  debug:\n    image: busybox\n    \
                profiles: [debug]\n    ports: [\"90\"]\n    volumes: [\"dbg:/d\"]\nvolumes:\n  dbg: {}\n";
    let ws = Ws::new(yaml);
    let default = ws.plan();
    assert_eq!(default.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["web"]);
    assert!(default.volumes.is_empty(), "volumes of inactive services are left out");

    let mut settings = ws.settings();
    settings.profiles = strings(&["debug"]);
    let plan = plan(&ws.load(), &settings).unwrap();
    assert_eq!(plan.services.len(), 2);
    assert_eq!(service(&plan, "debug").ports[0].host_port, 19301);
    assert_eq!(plan.volumes[0].name, "mono-test_dbg");
}

#[test]
fn an_active_service_depending_on_an_inactive_one_is_an_error() {
    let ws = Ws::new(
        "services:\n  web:\n    image: nginx\n    depends_on: [tools]\n  tools:\n    image: busybox\n    \
         profiles: [debug]\n",
    );
    let e = ws.plan_error();
    assert!(e.contains("service web") && e.contains("depends on tools") && e.contains("debug"), "{e}");

    let ws = Ws::new(
        "services:\n  web:\n    image: nginx\n    depends_on:\n      tools: {condition: service_started, required: \
         false}\n  tools:\n    image: busybox\n    profiles: [debug]\n",
    );
    let plan = ws.plan();
    assert!(service(&plan, "web").depends_on.is_empty());
    assert!(plan.warnings.iter().any(|w| w.contains("required: false")));
}

// ---------------------------------------------------------------------------
// Ports

#[test]
fn port_syntaxes_are_remapped_into_the_block() {
    let ws = Ws::new(
        r#"services:
  web:
    image: nginx
    ports:
      - "80"
      - 81
      - "8080:82"
      - "127.0.0.1:8083:83"
      - "8000-8001:8000-8001"
      - "9090-9091:8080-8081"
      - "53:53/udp"
      - "[::1]:84:84"
      - "127.0.0.1::85"
      - target: 86
        published: "8086"
        host_ip: 0.0.0.0
        protocol: tcp
        mode: host
        name: web
        app_protocol: http
      - {target: 87, protocol: udp}
  db:
    image: postgres
    ports: [5432]
"#,
    );
    let plan = ws.plan();
    let got: Vec<(u16, Protocol, u16, Option<u16>)> =
        plan.ports.iter().map(|p| (p.container_port, p.protocol, p.host_port, p.requested)).collect();
    use Protocol::{Tcp, Udp};
    assert_eq!(
        got,
        vec![
            (80, Tcp, 19300, None),
            (81, Tcp, 19301, None),
            (82, Tcp, 19302, Some(8080)),
            (83, Tcp, 19303, Some(8083)),
            (8000, Tcp, 19304, Some(8000)),
            (8001, Tcp, 19305, Some(8001)),
            (8080, Tcp, 19306, Some(9090)),
            (8081, Tcp, 19307, Some(9091)),
            (53, Udp, 19308, Some(53)),
            (84, Tcp, 19309, Some(84)),
            (85, Tcp, 19310, None),
            (86, Tcp, 19311, Some(8086)),
            (87, Udp, 19312, None),
            (5432, Tcp, 19313, None),
        ]
    );
    assert!(plan.ports.iter().enumerate().all(|(i, p)| usize::from(p.offset) == i));
    let web = service(&plan, "web");
    assert!(web.ports.iter().all(|p| p.host_ip == "127.0.0.1"), "whatever address the file asked for");
    assert!(
        web.expose.contains(&(53, Udp)) && web.expose.contains(&(80, Tcp)),
        "published ports are exposed"
    );
    assert_eq!(service(&plan, "db").ports[0].host_port, 19313);
}

#[test]
fn expose_entries_are_kept() {
    let ws =
        Ws::new("services:\n  db:\n    image: x\n    expose: [\"3000\", 3306, \"4000-4002\", \"53/udp\"]\n");
    let db = ws.plan().services.remove(0);
    use Protocol::{Tcp, Udp};
    assert_eq!(db.expose, vec![(3000, Tcp), (3306, Tcp), (4000, Tcp), (4001, Tcp), (4002, Tcp), (53, Udp)]);
    assert!(db.ports.is_empty());
}

#[test]
fn at_most_one_hundred_published_ports() {
    let ws = Ws::new("services:\n  web:\n    image: x\n    ports: [\"20000-20099:20000-20099\"]\n");
    let plan = ws.plan();
    assert_eq!(plan.ports.len(), 100);
    assert_eq!(plan.ports.last().unwrap().host_port, 19399);

    let ws = Ws::new(
        "services:\n  web:\n    image: x\n    ports: [\"20000-20098:20000-20098\"]\n  api:\n    image: y\n    \
         ports:\n      - \"8080:80\"\n      - \"8081:81\"\n",
    );
    let e = ws.plan_error();
    assert!(
        e.contains("services.api.ports[1]") && e.contains("container port 81") && e.contains("101"),
        "{e}"
    );
    assert!(e.contains(":9:9:"), "the line of the port: {e}");
}

#[test]
fn port_vars_naming() {
    let ws = Ws::new(
        "services:\n  my-web.app:\n    image: x\n    ports: [\"8080:80\", \"53:53/udp\", \"443\"]\n  db:\n    \
         image: y\n  cache:\n    image: z\n    ports: [6379]\n",
    );
    let vars = port_vars(&ws.plan());
    let expected = [
        ("MONO_MY_WEB_APP_PORT", "19300"),
        ("MONO_MY_WEB_APP_PORT_80", "19300"),
        ("MONO_MY_WEB_APP_PORT_53_UDP", "19301"),
        ("MONO_MY_WEB_APP_PORT_443", "19302"),
        ("MONO_CACHE_PORT", "19303"),
        ("MONO_CACHE_PORT_6379", "19303"),
    ];
    assert_eq!(vars, expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Volumes, tmpfs, secrets

#[test]
fn volume_syntaxes() {
    let ws = Ws::new(
        r#"services:
  web:
    image: x
    volumes:
      - data:/data:ro
      - ./src:/code
      - ../up:/up
      - /abs/path:/abs
      - ~/cache:/cache
      - /anonymous
      - type: bind
        source: ./conf
        target: /etc/conf
        read_only: true
        bind: {create_host_path: true}
      - type: volume
        source: shared
        target: /shared
      - type: volume
        target: /anon2
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 64m}
    tmpfs: [/run, "/tmp:size=1k,ro"]
volumes:
  data:
  shared:
    external: true
    name: team-shared
"#,
    );
    let plan = ws.plan();
    let web = service(&plan, "web");
    let root = ws.root();
    let got: Vec<(MountKind, &str, bool)> =
        web.mounts.iter().map(|m| (m.kind.clone(), m.target.as_str(), m.read_only)).collect();
    let bind = |p: PathBuf| MountKind::Bind { source: p };
    assert_eq!(
        got,
        vec![
            (MountKind::Volume { name: "mono-test_data".into() }, "/data", true),
            (bind(root.join("src")), "/code", false),
            (bind(root.parent().unwrap().join("up")), "/up", false),
            (bind(PathBuf::from("/abs/path")), "/abs", false),
            (bind(PathBuf::from("/home/dev/cache")), "/cache", false),
            (MountKind::Anonymous, "/anonymous", false),
            (bind(root.join("conf")), "/etc/conf", true),
            (MountKind::Volume { name: "team-shared".into() }, "/shared", false),
            (MountKind::Anonymous, "/anon2", false),
            (MountKind::Tmpfs { size: Some(64 << 20) }, "/scratch", false),
            (MountKind::Tmpfs { size: None }, "/run", false),
            (MountKind::Tmpfs { size: Some(1024) }, "/tmp", true),
        ]
    );
    let names: Vec<(&str, bool)> = plan.volumes.iter().map(|v| (v.name.as_str(), v.external)).collect();
    assert_eq!(names, vec![("mono-test_data", false), ("team-shared", true)]);
    assert!(plan.volumes[1].labels.is_empty(), "external volumes get no labels");
    assert_eq!(plan.volumes[0].labels.get("com.docker.compose.volume").map(String::as_str), Some("data"));
}

#[test]
fn undeclared_volume_is_an_error_naming_service_and_volume() {
    let ws =
        Ws::new("services:\n  web:\n    image: x\n    volumes:\n      - ./ok:/ok\n      - cache:/cache\n");
    let e = ws.load_error();
    assert!(e.contains(":6:9: services.web.volumes[1]: named volume cache is not declared"), "{e}");
}

#[test]
fn custom_volume_names_are_ignored_for_isolation() {
    let ws = Ws::new(
        "services:\n  web:\n    image: x\n    volumes: [\"data:/d\"]\nvolumes:\n  data:\n    name: fixed\n",
    );
    let plan = ws.plan();
    assert_eq!(plan.volumes[0].name, "mono-test_data");
    assert!(plan.warnings.iter().any(|w| w.contains("volumes.data.name: \"fixed\" is ignored")));
}

#[test]
fn secrets_become_read_only_binds() {
    let ws = Ws::new(
        r#"services:
  web:
    image: x
    secrets:
      - db-password
      - source: api-key
        target: key.txt
      - source: api-key
        target: /etc/key
secrets:
  db-password:
    file: db/password.txt
  api-key:
    file: /keys/api
"#,
    );
    let plan = ws.plan();
    let web = service(&plan, "web");
    let got: Vec<(MountKind, &str, bool)> =
        web.mounts.iter().map(|m| (m.kind.clone(), m.target.as_str(), m.read_only)).collect();
    assert_eq!(
        got,
        vec![
            (MountKind::Bind { source: ws.root().join("db/password.txt") }, "/run/secrets/db-password", true),
            (MountKind::Bind { source: PathBuf::from("/keys/api") }, "/run/secrets/key.txt", true),
            (MountKind::Bind { source: PathBuf::from("/keys/api") }, "/etc/key", true),
        ]
    );

    let e = Ws::new("services:\n  web:\n    image: x\n    secrets: [nope]\n").load_error();
    assert!(e.contains("services.web.secrets[0]: secret nope is not declared"), "{e}");
}

// ---------------------------------------------------------------------------
// Environment

#[test]
fn env_file_then_environment() {
    let ws = Ws::new(
        r#"services:
  web:
    image: x
    env_file:
      - .env.web
      - path: missing.env
        required: false
    environment:
      - B=from-environment
      - FROM_CALLER
      - NOT_SET
      - EMPTY=
"#,
    );
    ws.write(".env.web", "A=1\nB=from-file\nC=\"${FROM_CALLER}-c\"\nNOT_SET=file-value\n");
    let file = ws.load();
    let mut settings = ws.settings();
    settings.vars.insert("FROM_CALLER".into(), "caller".into());
    let plan = plan(&file, &settings).unwrap();
    let env = &service(&plan, "web").environment;
    let expected = [
        ("A", "1"),
        ("B", "from-environment"),
        ("C", "caller-c"),
        ("EMPTY", ""),
        ("FROM_CALLER", "caller"),
        ("NOT_SET", "file-value"),
    ];
    assert_eq!(*env, expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());

    let ws = Ws::new("services:\n  web:\n    image: x\n    env_file: nowhere.env\n");
    let e = ws.plan_error();
    assert!(
        e.contains("services.web.env_file") && e.contains("nowhere.env") && e.contains("required: false"),
        "{e}"
    );
}

#[test]
fn environment_map_and_list_forms() {
    let ws = Ws::new(
        "services:\n  web:\n    image: x\n    environment:\n      PORT: 8000\n      DEBUG: true\n      \
         FROM_CALLER:\n",
    );
    let mut settings = ws.settings();
    settings.vars.insert("FROM_CALLER".into(), "yes".into());
    let plan = plan(&ws.load(), &settings).unwrap();
    let env = &plan.services[0].environment;
    assert_eq!(env.get("PORT").map(String::as_str), Some("8000"));
    assert_eq!(env.get("DEBUG").map(String::as_str), Some("true"));
    assert_eq!(env.get("FROM_CALLER").map(String::as_str), Some("yes"));
}

// ---------------------------------------------------------------------------
// Health checks, durations, dependencies

#[test]
fn healthchecks_and_durations() {
    let ws = Ws::new(
        r#"services:
  a:
    image: x
    healthcheck:
      test: curl -f http://localhost/ || exit 1
      interval: 1m30s
      timeout: 500ms
      retries: 3
      start_period: 10s
      start_interval: 2s
    stop_grace_period: 1m
  b:
    image: x
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres"]
  c:
    image: x
    healthcheck:
      disable: true
  d:
    image: x
"#,
    );
    let plan = ws.plan();
    let a = service(&plan, "a").healthcheck.clone().unwrap();
    assert_eq!(a.test, strings(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]));
    assert_eq!(a.interval, Some(Duration::from_secs(90)));
    assert_eq!(a.timeout, Some(Duration::from_millis(500)));
    assert_eq!(a.retries, Some(3));
    assert_eq!(a.start_period, Some(Duration::from_secs(10)));
    assert_eq!(a.start_interval, Some(Duration::from_secs(2)));
    assert_eq!(service(&plan, "a").stop_grace_period, Some(Duration::from_secs(60)));
    assert_eq!(
        service(&plan, "b").healthcheck.as_ref().unwrap().test,
        strings(&["CMD", "pg_isready", "-U", "postgres"])
    );
    assert_eq!(service(&plan, "c").healthcheck.as_ref().unwrap().test, strings(&["NONE"]));
    assert_eq!(service(&plan, "d").healthcheck, None);
    assert_eq!(service(&plan, "d").stop_grace_period, None);

    let e = Ws::new("services:\n  a:\n    image: x\n    healthcheck:\n      interval: 10\n").load_error();
    assert!(e.contains("services.a.healthcheck.interval") && e.contains("no unit"), "{e}");
    let e =
        Ws::new("services:\n  a:\n    image: x\n    healthcheck:\n      test: [pg_isready]\n").load_error();
    assert!(e.contains("services.a.healthcheck.test") && e.contains("CMD"), "{e}");
}

#[test]
fn depends_on_forms_and_label() {
    let ws = Ws::new(
        r#"services:
  web:
    image: x
    depends_on:
      db:
        condition: service_healthy
        restart: true
      migrate:
        condition: service_completed_successfully
      cache:
        condition: service_started
        required: false
  worker:
    image: x
    depends_on: [db, cache]
  db:
    image: x
  migrate:
    image: x
  cache:
    image: x
"#,
    );
    let plan = ws.plan();
    let web = service(&plan, "web");
    let deps: Vec<(&str, Condition, bool)> =
        web.depends_on.iter().map(|d| (d.service.as_str(), d.condition, d.required)).collect();
    assert_eq!(
        deps,
        vec![
            ("db", Condition::Healthy, true),
            ("migrate", Condition::CompletedSuccessfully, true),
            ("cache", Condition::Started, false),
        ]
    );
    assert_eq!(
        web.labels["com.docker.compose.depends_on"],
        "db:service_healthy:true,migrate:service_completed_successfully:false,cache:service_started:false"
    );
    let worker = service(&plan, "worker");
    assert!(worker.depends_on.iter().all(|d| d.condition == Condition::Started && d.required));
    assert_eq!(service(&plan, "db").labels["com.docker.compose.depends_on"], "");
}

#[test]
fn volumes_from_network_mode_and_ipc_of_a_service_are_dependencies() {
    let ws = Ws::new(
        r#"services:
  app:
    image: x
    volumes_from: [data, "logs:ro", "container:elsewhere"]
    network_mode: service:net
    ipc: service:shm
    links: [db]
  data: {image: x}
  logs: {image: x}
  net: {image: x}
  shm: {image: x}
  db: {image: x}
"#,
    );
    let plan = ws.plan();
    let app = service(&plan, "app");
    let mut deps: Vec<(&str, Condition, bool)> =
        app.depends_on.iter().map(|d| (d.service.as_str(), d.condition, d.required)).collect();
    deps.sort_by_key(|d| d.0);
    let started = |s| (s, Condition::Started, true);
    assert_eq!(deps, vec![started("data"), started("db"), started("logs"), started("net"), started("shm")]);
    // compose restarts with the service whose namespace is shared, not with a volume's owner.
    let label = &app.labels["com.docker.compose.depends_on"];
    for dep in ["db:service_started:true", "net:service_started:true", "shm:service_started:true"] {
        assert!(label.contains(dep), "{label}");
    }
    assert!(
        label.contains("data:service_started:false") && label.contains("logs:service_started:false"),
        "{label}"
    );
}

#[test]
fn depends_on_unknown_service_or_cycle_is_an_error() {
    let e = Ws::new("services:\n  web:\n    image: x\n    depends_on: [ghost]\n").load_error();
    assert!(e.contains(":4:5: services.web.depends_on: service web depends on ghost"), "{e}");
    let e = Ws::new(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    \
         image: x\n    depends_on: [a]\n",
    )
    .load_error();
    assert!(e.contains("cycle (a -> b -> c -> a)"), "{e}");
}

// ---------------------------------------------------------------------------
// Networks, names, labels, hashes

#[test]
fn networks_are_scoped_and_aliased() {
    let ws = Ws::new(
        r#"services:
  web:
    image: x
    networks:
      front:
        aliases: [www]
      outside:
  db:
    image: y
    container_name: my-db
  host:
    image: z
    network_mode: host
networks:
  front:
    name: fixed-front
    internal: true
    labels: {team: a}
  outside:
    external: true
    name: shared-net
  unused:
    ipam: {config: [{subnet: 10.0.0.0/24}]}
"#,
    );
    let plan = ws.plan();
    let nets: Vec<(&str, &str, bool)> =
        plan.networks.iter().map(|n| (n.key.as_str(), n.name.as_str(), n.external)).collect();
    assert_eq!(
        nets,
        vec![
            ("front", "mono-test_front", false),
            ("outside", "shared-net", true),
            ("default", "mono-test_default", false)
        ]
    );
    let front = &plan.networks[0];
    assert!(front.internal);
    assert_eq!(front.labels.get("team").map(String::as_str), Some("a"));
    assert_eq!(front.labels.get("com.docker.compose.network").map(String::as_str), Some("front"));
    assert_eq!(front.labels.get("dev.mono.env").map(String::as_str), Some(PROJECT));
    assert!(plan.networks[1].labels.is_empty());
    assert_eq!(
        service(&plan, "web").networks,
        vec![
            ("mono-test_front".to_string(), strings(&["web", "www"])),
            ("shared-net".to_string(), strings(&["web"]))
        ]
    );
    assert_eq!(service(&plan, "db").networks, vec![("mono-test_default".to_string(), strings(&["db"]))]);
    assert_eq!(service(&plan, "host").networks, vec![("mono-test_default".to_string(), strings(&["host"]))]);
    let file = ws.file().display().to_string();
    let warned = |needle: &str| plan.warnings.iter().any(|w| w.starts_with(&file) && w.contains(needle));
    assert!(warned("networks.front.name: \"fixed-front\" is ignored"));
    assert!(warned("service db: container_name \"my-db\" is replaced by mono-test-db-1"));
    assert!(warned("service host: network_mode \"host\" cannot be isolated"));
    assert!(!warned("networks.unused"), "networks no active service uses are left out");

    let e = Ws::new("services:\n  web:\n    image: x\n    networks: [nowhere]\n").load_error();
    assert!(e.contains("services.web.networks: network nowhere is not declared"), "{e}");
}

#[test]
fn labels_merge_over_the_services_own_and_hash_is_stable() {
    let yaml = "services:\n  web:\n    image: x\n    labels:\n      - team=a\n      - com.docker.compose.project=spoof\n";
    let ws = Ws::new(yaml);
    let first = ws.plan();
    let web = service(&first, "web");
    assert_eq!(web.labels["team"], "a");
    assert_eq!(web.labels["com.docker.compose.project"], PROJECT);
    assert_eq!(web.labels["com.docker.compose.config-hash"], web.config_hash);
    assert_eq!(ws.plan(), first, "planning is deterministic");

    let changed = Ws::new(&yaml.replace("team=a", "team=b")).plan();
    assert_ne!(service(&changed, "web").config_hash, web.config_hash);
    let other_slot = plan(&ws.load(), &PlanSettings { slot: 4, ..ws.settings() }).unwrap();
    assert_eq!(service(&other_slot, "web").config_hash.len(), 64);
}

#[test]
fn builds_commands_and_service_fields() {
    let ws = Ws::new(
        r#"services:
  api:
    build:
      context: ./backend
      dockerfile: Dockerfile.dev
      target: dev
      args:
        - NODE_ENV=development
        - FROM_CALLER
        - NOT_SET
    command: npm run "start watch"
    entrypoint: ["/bin/sh", "-c"]
    user: "1000"
    working_dir: /app
    hostname: api
    stop_signal: SIGINT
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    extra_hosts: ["db.local:10.0.0.2", "other=10.0.0.3"]
    init: true
    privileged: true
    tty: true
    stdin_open: true
    sysctls: {net.core.somaxconn: 1024}
    platform: linux/amd64
    restart: on-failure:3
  web:
    image: registry/web:1
    build: web
"#,
    );
    let mut settings = ws.settings();
    settings.vars.insert("FROM_CALLER".into(), "c".into());
    let plan = plan(&ws.load(), &settings).unwrap();
    let api = service(&plan, "api");
    let ImageSource::Build(build) = &api.image else { panic!("api builds") };
    assert_eq!(build.context, ws.root().join("backend"));
    assert_eq!(build.dockerfile, "Dockerfile.dev");
    assert_eq!(build.target.as_deref(), Some("dev"));
    assert_eq!(
        build.args,
        BTreeMap::from([("NODE_ENV".into(), "development".into()), ("FROM_CALLER".into(), "c".into())])
    );
    assert_eq!(build.tag, "mono-test-api");
    assert_eq!(api.command, Some(strings(&["npm", "run", "start watch"])));
    assert_eq!(api.entrypoint, Some(strings(&["/bin/sh", "-c"])));
    assert_eq!(api.user.as_deref(), Some("1000"));
    assert_eq!(api.working_dir.as_deref(), Some("/app"));
    assert_eq!(api.hostname.as_deref(), Some("api"));
    assert_eq!(api.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!((api.cap_add.clone(), api.cap_drop.clone()), (strings(&["NET_ADMIN"]), strings(&["ALL"])));
    assert_eq!(api.extra_hosts, strings(&["db.local:10.0.0.2", "other:10.0.0.3"]));
    assert_eq!((api.init, api.privileged, api.tty, api.stdin_open), (Some(true), true, true, true));
    assert_eq!(api.sysctls.get("net.core.somaxconn").map(String::as_str), Some("1024"));
    assert_eq!(api.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(api.restart.as_deref(), Some("on-failure:3"));
    let ImageSource::Build(web) = &service(&plan, "web").image else { panic!("web builds") };
    assert_eq!(
        (web.context.clone(), web.dockerfile.as_str(), web.tag.as_str()),
        (ws.root().join("web"), "Dockerfile", "registry/web:1")
    );

    let e = Ws::new("services:\n  a:\n    image: x\n    command: echo \"unterminated\n").load_error();
    assert!(e.contains("services.a.command") && e.contains("quotes"), "{e}");
    let e = Ws::new("services:\n  a:\n    image: x\n    restart: sometimes\n").load_error();
    assert!(e.contains("services.a.restart") && e.contains("unknown restart policy"), "{e}");
}

#[test]
fn find_prefers_compose_yaml() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(find(dir.path()), None);
    std::fs::write(dir.path().join("docker-compose.yml"), "services: {}").unwrap();
    assert_eq!(find(dir.path()), Some(dir.path().join("docker-compose.yml")));
    std::fs::write(dir.path().join("compose.yml"), "services: {}").unwrap();
    assert_eq!(find(dir.path()), Some(dir.path().join("compose.yml")));
    std::fs::write(dir.path().join("compose.yaml"), "services: {}").unwrap();
    assert_eq!(find(dir.path()), Some(dir.path().join("compose.yaml")));
}

#[test]
fn missing_or_empty_file() {
    let e = load(Path::new("/nonexistent/compose.yaml"), &|_| None).unwrap_err().to_string();
    assert!(e.starts_with("cannot read /nonexistent/compose.yaml"), "{e}");
    let e = Ws::new("").load_error();
    assert!(e.contains("empty") && e.contains("services"), "{e}");
    let e = Ws::new("include: [other.yaml]\nservices:\n  a: {image: x}\n").load_error();
    assert!(e.contains(":1:11: include[0]: ") && e.contains("other.yaml is not a file"), "{e}");
}

// ---------------------------------------------------------------------------
// Dangerous settings: warned, naming file, service and key, and kept

#[test]
fn dangerous_binds_and_privileged_are_warned_and_kept() {
    let ws = Ws::new(
        r#"services:
  web:
    image: x
    privileged: true
    volumes:
      - /:/host
      - /var/run/docker.sock:/var/run/docker.sock
      - /run/docker.sock:/sock:ro
      - ../..:/up
      - type: bind
        source: ./link
        target: /link
  safe:
    image: x
    volumes:
      - /:/host:ro
      - ./data:/data
      - ../sibling:/sibling
"#,
    );
    std::os::unix::fs::symlink("/var/run/../run/docker.sock", ws.root().join("link")).unwrap();
    let plan = ws.plan();
    let file = ws.file().display().to_string();
    let warned = |key: &str, needle: &str| {
        let prefix = format!("{file}: service web: services.web.{key}: ");
        plan.warnings.iter().any(|w| w.starts_with(&prefix) && w.contains(needle))
    };
    assert!(warned("privileged", "privileged: true"), "{:#?}", plan.warnings);
    assert!(warned("volumes[0]", "read-write bind of /"), "{:#?}", plan.warnings);
    assert!(warned("volumes[1]", "Docker socket /var/run/docker.sock"), "{:#?}", plan.warnings);
    assert!(
        warned("volumes[2]", "Docker socket /run/docker.sock"),
        "read-only does not help: {:#?}",
        plan.warnings
    );
    let above = ws.root().parent().unwrap().parent().unwrap().display().to_string();
    assert!(warned("volumes[3]", &format!("read-write bind of {above}")), "{:#?}", plan.warnings);
    assert!(warned("volumes[4]", "Docker socket"), "a symlink to the socket: {:#?}", plan.warnings);
    assert!(
        !plan.warnings.iter().any(|w| w.contains("service safe")),
        "read-only, inside or beside the workspace is fine: {:#?}",
        plan.warnings
    );
    // They keep working as written.
    let web = service(&plan, "web");
    assert!(web.privileged);
    assert_eq!(web.mounts[0].kind, MountKind::Bind { source: PathBuf::from("/") });
    assert_eq!(web.mounts[1].kind, MountKind::Bind { source: PathBuf::from("/var/run/docker.sock") });
    assert_eq!(web.mounts.len(), 5);
}

// ---------------------------------------------------------------------------
// Projects of several files

impl Ws {
    fn load_files(&self, files: &[&str]) -> Result<ComposeFile, ComposeError> {
        let files: Vec<PathBuf> = files.iter().map(|f| self.root().join(f)).collect();
        load_files(&files, &|_| None)
    }

    fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.root().join(rel)).unwrap();
    }
}

#[test]
fn several_files_merge_with_composes_rules() {
    let ws = Ws::new(
        "services:\n  web:\n    image: app:1\n    command: [serve, --port, '80']\n    environment: {A: '1', B: '2'}\n    ports: ['8080:80']\n    volumes: ['./a:/data', 'cache:/cache']\n    healthcheck: {test: [CMD, old], interval: 5s}\nvolumes:\n  cache: {}\n",
    );
    ws.write(
        "compose.override.yaml",
        "services:\n  web:\n    image: app:2\n    command: [debug]\n    environment: [B=3, C=4]\n    ports: ['8080:80', '9090:90']\n    volumes: ['./b:/data']\n    healthcheck: {test: [CMD, new]}\n",
    );
    let plan =
        plan(&ws.load_files(&["compose.yaml", "compose.override.yaml"]).unwrap(), &ws.settings()).unwrap();
    let web = service(&plan, "web");
    assert_eq!(web.image, ImageSource::Pull("app:2".to_string()));
    assert_eq!(web.command, Some(strings(&["debug"])));
    assert_eq!(
        web.environment,
        BTreeMap::from([("A".into(), "1".into()), ("B".into(), "3".into()), ("C".into(), "4".into())])
    );
    assert_eq!(web.ports.iter().map(|p| p.container_port).collect::<Vec<_>>(), vec![80, 90]);
    let binds: Vec<_> = web.mounts.iter().map(|m| (m.target.as_str(), m.kind.clone())).collect();
    assert_eq!(binds[0], ("/data", MountKind::Bind { source: ws.root().join("b") }));
    assert_eq!(binds.len(), 2);
    assert_eq!(web.healthcheck.as_ref().unwrap().test, strings(&["CMD", "new"]));
    let label = web.labels.get("com.docker.compose.project.config_files").unwrap();
    let expected = format!("{},{}", ws.file().display(), ws.root().join("compose.override.yaml").display());
    assert_eq!(label, &expected);
}

#[test]
fn an_error_in_a_later_file_names_that_file_and_line() {
    let ws = Ws::new("services:\n  web:\n    image: app\n    ports: ['80']\n");
    ws.write("extra.yaml", "services:\n  web:\n    ports:\n      - 'eighty'\n    stop_signall: x\n");
    let e = ws.load_files(&["compose.yaml", "extra.yaml"]).unwrap_err().to_string();
    let extra = ws.root().join("extra.yaml").display().to_string();
    assert!(e.starts_with(&format!("{extra}:4:9: services.web.ports[0]: ")), "{e}");
    ws.write("extra.yaml", "services:\n  web:\n    depends_on: [nothing]\n");
    let e = ws.load_files(&["compose.yaml", "extra.yaml"]).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{extra}:3:5: services.web.depends_on")), "{e}");
}

#[test]
fn chained_merge_keys_and_reset_and_override_tags() {
    let ws = Ws::new(
        "x-a: &a\n  image: app\n  environment: {A: '1'}\nx-b: &b\n  <<: *a\n  command: [run]\nservices:\n  web:\n    <<: *b\n    ports: ['80']\n",
    );
    ws.write(
        "compose.override.yaml",
        "services:\n  web:\n    command: !reset null\n    ports: !override ['90']\n    environment: !override {B: '2'}\n",
    );
    let only = plan(&ws.load(), &ws.settings()).unwrap();
    assert_eq!(service(&only, "web").command, Some(strings(&["run"])));
    let plan =
        plan(&ws.load_files(&["compose.yaml", "compose.override.yaml"]).unwrap(), &ws.settings()).unwrap();
    let web = service(&plan, "web");
    assert_eq!(web.command, None);
    assert_eq!(web.ports.iter().map(|p| p.container_port).collect::<Vec<_>>(), vec![90]);
    assert_eq!(web.environment, BTreeMap::from([("B".into(), "2".into())]));
}

#[test]
fn include_and_extends_file_resolve_paths_against_their_own_folder() {
    let ws = Ws::new(
        "include:\n  - path: lib/db.yaml\nservices:\n  web:\n    extends: {file: common/base.yaml, service: base}\n    command: !reset []\n    volumes: ['./www:/www']\n",
    );
    ws.mkdir("lib");
    ws.mkdir("common");
    ws.write("lib/.env", "DB_TAG=15\n");
    ws.write(
        "lib/db.yaml",
        "services:\n  db:\n    image: db:${DB_TAG}\n    volumes: ['./data:/data']\n    env_file: db.env\n",
    );
    ws.write("lib/db.env", "PASSWORD=x\n");
    ws.write(
        "common/base.yaml",
        "services:\n  base:\n    image: app\n    command: [base]\n    volumes: ['./conf:/conf:ro']\n",
    );
    let plan = plan(&ws.load(), &ws.settings()).unwrap();
    let db = service(&plan, "db");
    assert_eq!(db.image, ImageSource::Pull("db:15".to_string()));
    assert_eq!(db.environment.get("PASSWORD").map(String::as_str), Some("x"));
    assert_eq!(db.mounts[0].kind, MountKind::Bind { source: ws.root().join("lib/data") });
    let web = service(&plan, "web");
    assert_eq!(web.command, None, "command: !reset drops the base's");
    let sources: Vec<_> = web.mounts.iter().map(|m| m.kind.clone()).collect();
    assert_eq!(
        sources,
        vec![
            MountKind::Bind { source: ws.root().join("common/conf") },
            MountKind::Bind { source: ws.root().join("www") }
        ]
    );
    ws.write("lib/db.yaml", "include: [../compose.yaml]\nservices:\n  db: {image: db}\n");
    assert!(ws.load_error().contains("include cycle"), "{}", ws.load_error());
    ws.write("compose.yaml", "include: ['oci://registry/app:1']\nservices:\n  web: {image: app}\n");
    assert!(
        ws.load_error().contains(":1:11: include[0]: \"oci://registry/app:1\" is a remote resource"),
        "{}",
        ws.load_error()
    );
}

#[test]
fn a_file_in_a_subfolder_resolves_paths_against_its_folder() {
    let ws = Ws::new("");
    ws.mkdir("deploy");
    ws.write(
        "deploy/compose.yaml",
        "services:\n  web:\n    image: app\n    volumes: ['./site:/site', '../src:/src']\n",
    );
    let loaded = ws.load_files(&["deploy/compose.yaml"]).unwrap();
    let plan = plan(&loaded, &ws.settings()).unwrap();
    let web = service(&plan, "web");
    assert_eq!(web.mounts[0].kind, MountKind::Bind { source: ws.root().join("deploy/site") });
    assert_eq!(web.mounts[1].kind, MountKind::Bind { source: ws.root().join("src") });
    assert_eq!(plan.working_dir, ws.root().join("deploy"));
}

#[test]
fn a_warning_names_the_file_its_key_is_in() {
    let ws = Ws::new("services:\n  web:\n    image: app\n");
    ws.write("compose.override.yaml", "services:\n  web:\n    deploy: {replicas: 2}\n");
    let plan =
        plan(&ws.load_files(&["compose.yaml", "compose.override.yaml"]).unwrap(), &ws.settings()).unwrap();
    let over = ws.root().join("compose.override.yaml").display().to_string();
    assert!(
        plan.warnings.iter().any(|w| w.starts_with(&format!("{over}: service web: services.web.deploy: "))),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn a_windows_absolute_bind_source_is_kept_as_written() {
    // compose treats `C:\dir` (and `C:/dir`, `\\server\share`) as absolute on
    // every OS; only relative sources join the project directory.
    let ws = Ws::new(
        "services:\n  a:\n    image: x\n    volumes:\n      - type: bind\n        source: C:\\docker\\project\n        \
         target: /test\n      - type: bind\n        source: D:/data\n        target: /d\n      - type: bind\n        \
         source: ./rel\n        target: /rel\n",
    );
    let plan = ws.plan();
    let sources: Vec<PathBuf> = service(&plan, "a")
        .mounts
        .iter()
        .map(|m| match &m.kind {
            MountKind::Bind { source } => source.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        sources,
        [PathBuf::from("C:\\docker\\project"), PathBuf::from("D:/data"), ws.root().join("rel")]
    );
}

#[test]
fn two_services_with_one_container_name_are_refused() {
    let e = Ws::new(
        "services:\n  a:\n    image: x\n    container_name: fixed\n  b:\n    image: x\n    container_name: fixed\n",
    )
    .load_error();
    assert!(e.contains(":7:5: services.b.container_name") && e.contains("already used by service a"), "{e}");
}

#[test]
fn a_platform_build_platforms_does_not_list_is_refused() {
    let ws = |platform: &str| {
        Ws::new(&format!(
            "services:\n  a:\n    image: x\n    platform: {platform}\n    build:\n      context: .\n      \
             platforms: [linux/amd64, linux/arm64]\n"
        ))
    };
    let e = ws("linux/riscv64").load_error();
    assert!(e.contains(":7:7: services.a.build.platforms") && e.contains("\"linux/riscv64\""), "{e}");
    ws("linux/arm64").load();
}

#[test]
fn a_short_volume_with_an_empty_source_is_refused() {
    // `${UNSET}:/media/`: compose refuses the spec ":/media/".
    let e = Ws::new("services:\n  a:\n    image: x\n    volumes:\n      - ${NOT_SET_HERE}:/media/\n")
        .load_error();
    assert!(e.contains(":5:9: services.a.volumes[0]") && e.contains("source before `:` is empty"), "{e}");
}
