//! Seeded data with the real daemon: workspace directories (`seed:` with
//! `paths`, simple mode) and named volumes through the real Engine (docker
//! mode). The first workspace of a key runs its slow seed and is captured,
//! later ones start from a copy; copies are independent; a key change is a
//! miss; a damaged snapshot is removed and counts as a miss; concurrent
//! inits publish one snapshot; `seed refresh`, clean and the size cap drop
//! snapshots.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mono_e2e::Sandbox;

/// A setup script that seeds `var/data` slowly, and only when the seed was
/// not restored; every run appends the workspace's own line afterwards.
const MONO_YML: &str = r#"scripts:
  setup: |
    echo "MONO_SEED=$MONO_SEED"
    if [ "$MONO_SEED" != hit ]; then
      sleep 1.5
      mkdir -p var/data/tables
      cat db/migrations/* > var/data/tables/schema
      i=0; while [ $i -lt 40 ]; do echo "row $i $MONO_ENV_NAME" >> var/data/tables/rows; i=$((i+1)); done
    fi
    echo "opened by $MONO_ENV_NAME" >> var/data/journal
seed:
  key: [db/migrations]
  paths: [var/data]
"#;

fn seeded_ws(sb: &Sandbox, rel: &str, migration: &str) -> PathBuf {
    let ws = sb.workspace(rel);
    std::fs::create_dir_all(ws.join("db/migrations")).unwrap();
    std::fs::write(ws.join("db/migrations/001.sql"), migration).unwrap();
    sb.mono_yml(&ws, MONO_YML);
    ws
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn seeds(sb: &Sandbox) -> Vec<serde_json::Value> {
    let stats = sb.mono(["cache", "stats", "--json"]).ok().json();
    stats["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "seed").cloned().collect()
}

/// `mono init` of every workspace at once; what each printed.
fn init_at_once(sb: &Sandbox, spaces: &[PathBuf]) -> Vec<String> {
    std::thread::scope(|s| {
        let inits: Vec<_> = spaces.iter().map(|ws| s.spawn(move || init(sb, ws).0)).collect();
        inits.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn init(sb: &Sandbox, ws: &Path) -> (String, std::time::Duration) {
    let started = Instant::now();
    let out = sb.mono(["init", ws.to_str().unwrap()]).ok();
    (format!("{}{}", out.stdout, out.stderr), started.elapsed())
}

#[test]
fn the_second_workspace_starts_seeded_with_the_firsts_data_and_copies_are_independent() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let a = seeded_ws(&sb, "p/a", "create table t();\n");
    let (out, cold) = init(&sb, &a);
    assert!(out.contains("seed miss") && out.contains("MONO_SEED=miss"), "{out}");
    assert!(out.contains("seed captured"), "{out}");
    let rows = read(&a.join("var/data/tables/rows"));
    assert!(rows.contains("row 39 p-a"), "{rows}");
    let listed = seeds(&sb);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["saved"], true);
    assert_eq!(listed[0]["label"], "seed var/data (db/migrations)");

    let b = seeded_ws(&sb, "p/b", "create table t();\n");
    let (out, warm) = init(&sb, &b);
    assert!(out.contains("seed hit") && out.contains("MONO_SEED=hit"), "{out}");
    assert!(warm < cold, "warm {warm:?} is not faster than cold {cold:?}");
    // The first's data, as it was after its setup (its journal line too),
    // plus this workspace's own line.
    assert_eq!(read(&b.join("var/data/tables/rows")), rows, "the first workspace's rows");
    assert_eq!(read(&b.join("var/data/journal")), "opened by p-a\nopened by p-b\n");

    // Writes in one copy reach neither the other nor the snapshot.
    std::fs::write(b.join("var/data/tables/rows"), "changed in b\n").unwrap();
    std::fs::remove_file(b.join("var/data/tables/schema")).unwrap();
    assert_eq!(read(&a.join("var/data/tables/rows")), rows);
    let c = seeded_ws(&sb, "p/c", "create table t();\n");
    let (out, _) = init(&sb, &c);
    assert!(out.contains("seed hit"), "{out}");
    assert_eq!(read(&c.join("var/data/tables/rows")), rows, "the snapshot is unchanged by b");
    assert_eq!(read(&c.join("var/data/tables/schema")), "create table t();\n");
    let listed = seeds(&sb);
    assert_eq!((listed[0]["hits"].as_u64(), listed[0]["misses"].as_u64()), (Some(2), Some(1)), "{listed:?}");

    // Another migration: another key, a miss, seeded and captured anew.
    let d = seeded_ws(&sb, "p/d", "create table t(); alter table t add x int;\n");
    let (out, _) = init(&sb, &d);
    assert!(out.contains("seed miss") && out.contains("MONO_SEED=miss"), "{out}");
    assert!(read(&d.join("var/data/tables/rows")).contains("row 0 p-d"));
    assert_eq!(seeds(&sb).len(), 2);

    // Destroying a restored workspace removes its copy, never the snapshot.
    sb.mono(["destroy", b.to_str().unwrap()]).ok();
    let e = seeded_ws(&sb, "p/e", "create table t();\n");
    assert!(init(&sb, &e).0.contains("seed hit"));
}

#[test]
fn a_damaged_snapshot_is_removed_and_counts_as_a_miss() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let a = seeded_ws(&sb, "p/a", "v1\n");
    init(&sb, &a);
    let key = seeds(&sb)[0]["key"].as_str().unwrap().to_string();
    let entry = sb.home.join("cache/files").join(&key);
    std::fs::write(entry.join("data/0/tables/rows"), "truncated").unwrap();
    let b = seeded_ws(&sb, "p/b", "v1\n");
    let (out, _) = init(&sb, &b);
    assert!(out.contains("was damaged") && out.contains("MONO_SEED=miss"), "{out}");
    assert!(read(&b.join("var/data/tables/rows")).contains("row 39 p-b"), "seeded by its own setup");
    assert!(!b.join(".mono-restore-").exists());
    // Captured again from b: the next one gets b's rows.
    let c = seeded_ws(&sb, "p/c", "v1\n");
    let (out, _) = init(&sb, &c);
    assert!(out.contains("seed hit"), "{out}");
    assert!(read(&c.join("var/data/tables/rows")).contains("row 39 p-b"));
}

#[test]
fn concurrent_inits_of_one_key_publish_one_snapshot() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let spaces: Vec<_> = (0..3).map(|i| seeded_ws(&sb, &format!("p/w{i}"), "same\n")).collect();
    let outputs = init_at_once(&sb, &spaces);
    let captured = outputs.iter().filter(|o| o.contains("seed captured")).count();
    assert_eq!(captured, 1, "{outputs:?}");
    assert!(
        outputs.iter().all(|o| o.contains("seed captured")
            || o.contains("captured it first")
            || o.contains("seed hit")),
        "{outputs:?}"
    );
    assert_eq!(seeds(&sb).iter().filter(|e| e["saved"] == true).count(), 1);
    assert_eq!(std::fs::read_dir(sb.home.join("cache/files")).unwrap().count(), 1);
}

#[test]
fn seed_refresh_and_clean_drop_snapshots() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let a = seeded_ws(&sb, "p/a", "v1\n");
    init(&sb, &a);
    let done = sb.mono(["seed", "refresh", a.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(done["removed"], true, "{done}");
    assert!(done["freed"].as_u64().unwrap() > 0);
    assert_eq!(seeds(&sb)[0]["saved"], false);
    // The next init seeds again, and is captured again.
    let b = seeded_ws(&sb, "p/b", "v1\n");
    let (out, _) = init(&sb, &b);
    assert!(out.contains("seed miss") && out.contains("seed captured"), "{out}");
    // b's environment is unchanged by a refresh of a's.
    let again = sb.mono(["seed", "refresh", a.to_str().unwrap()]).ok();
    assert!(again.stdout.contains("dropped seed snapshot"), "{}", again.stdout);
    assert!(b.join("var/data/tables/rows").is_file());
    let gone = sb.mono(["seed", "refresh", a.to_str().unwrap()]).ok();
    assert!(gone.stdout.contains("already gone"), "{}", gone.stdout);
    // A workspace without a seed has nothing to refresh.
    let plain = sb.workspace("p/plain");
    sb.mono(["init", plain.to_str().unwrap()]).ok();
    sb.mono(["seed", "refresh", plain.to_str().unwrap()]).fails_with("has no seed snapshot");
    // clean covers seeds.
    let c = seeded_ws(&sb, "p/c", "v2\n");
    init(&sb, &c);
    let all = sb.mono(["cache", "clean", "--all", "--json"]).ok().json();
    assert_eq!(all["removed"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(std::fs::read_dir(sb.home.join("cache/files")).unwrap().count(), 0);
}

#[test]
fn the_size_cap_evicts_the_least_recently_used_snapshot() {
    // Each snapshot holds 200 KB of data; a cap of 300 KiB holds one.
    let sb = Sandbox::new();
    sb.monod_yml("cache:\n  max_size: 300KiB\n");
    sb.mono(["daemon", "start"]).ok();
    let yml = "scripts:\n  setup: '[ \"$MONO_SEED\" = hit ] || { mkdir -p var/data; head -c 200000 /dev/urandom > var/data/blob; }'\n\
               seed:\n  key: [db/migrations]\n  paths: [var/data]\n";
    let ws = |rel: &str, migration: &str| {
        let ws = seeded_ws(&sb, rel, migration);
        sb.mono_yml(&ws, yml);
        ws
    };
    let (out, _) = init(&sb, &ws("p/a", "v1\n"));
    assert!(out.contains("seed captured") && !out.contains("evicted"), "{out}");
    let (out, _) = init(&sb, &ws("p/b", "v2\n"));
    assert!(out.contains("seed captured") && out.contains("evicted"), "{out}");
    let saved: Vec<_> = seeds(&sb).into_iter().filter(|e| e["saved"] == true).collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let stats = sb.mono(["cache", "stats", "--json"]).ok().json();
    assert!(stats["total_size"].as_u64().unwrap() <= 300 * 1024, "{stats}");
    // v1's snapshot is gone: its next workspace seeds again.
    let (out, _) = init(&sb, &ws("p/c", "v1\n"));
    assert!(out.contains("seed miss") && out.contains("MONO_SEED=miss"), "{out}");
}

#[test]
fn bad_seed_settings_are_config_errors_that_change_nothing() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let cases = [
        ("seed:\n  key: [db]\n", "lists neither volumes nor paths"),
        ("seed:\n  key: [../db]\n  paths: [x]\n", "is not a path inside the workspace"),
        ("seed:\n  key: [db]\n  paths: [var, var/data]\n", "overlap"),
        ("seed:\n  key: [db]\n  paths: [x]\n  volumes: [pgdata]\n", "has no compose file"),
        ("seed:\n  key: [db]\n  paths: [x]\n  extra: 1\n", "unknown field `extra`"),
    ];
    for (i, (yml, message)) in cases.iter().enumerate() {
        let ws = sb.workspace(&format!("p/bad{i}"));
        sb.mono_yml(&ws, yml);
        sb.mono(["init", ws.to_str().unwrap()]).fails_with(message);
    }
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

/// A service that seeds its volume slowly on its first start, and only
/// when the volume is empty (as Postgres' entrypoint runs initdb): rows,
/// the environment that seeded it, and a file of another owner.
fn seeding_compose() -> String {
    format!(
        r#"services:
  db:
    image: {}
    init: true
    command:
      - sh
      - -c
      - |
        if [ ! -f /data/seeded ]; then
          sleep 2
          i=0; while [ $$i -lt 200 ]; do echo "row $$i" >> /data/rows; i=$$((i+1)); done
          echo "$$WHO" > /data/origin
          mkdir -p /data/owned && echo mine > /data/owned/file && chown -R 1234:2345 /data/owned && chmod 700 /data/owned
          touch /data/seeded
        fi
        exec sleep 3600
    environment:
      WHO: ${{MONO_ENV_NAME}}
    volumes: ["pgdata:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/seeded"]
      interval: 1s
      retries: 60
volumes:
  pgdata:
"#,
        mono_e2e::docker::TEST_IMAGE
    )
}

const DOCKER_MONO_YML: &str = r#"scripts:
  setup: echo "MONO_SEED=$MONO_SEED"
seed:
  key: [db/schema.sql]
  volumes: [pgdata]
"#;

fn docker_seeded(sb: &Sandbox, name: &str, schema: &str) -> PathBuf {
    let ws = sb.docker_workspace(name);
    sb.compose(&ws, &seeding_compose());
    std::fs::create_dir_all(ws.join("db")).unwrap();
    std::fs::write(ws.join("db/schema.sql"), schema).unwrap();
    sb.mono_yml(&ws, DOCKER_MONO_YML);
    ws
}

fn db_container(sb: &Sandbox, ws: &Path) -> String {
    let status = sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
    format!("mono-{}-db-1", status["name"].as_str().unwrap())
}

fn in_db(container: &str, script: &str) -> String {
    let (ok, out, err) = mono_e2e::docker::docker(["exec", container, "sh", "-c", script]);
    assert!(ok, "{script} in {container}: {err}");
    out
}

#[test]
fn a_seeded_volume_is_restored_through_the_engine_and_copies_are_independent() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let sb = Sandbox::new();
    let a = docker_seeded(&sb, "a", "v1\n");
    let b = docker_seeded(&sb, "b", "v1\n");
    let c = docker_seeded(&sb, "c", "v1\n");
    let d = docker_seeded(&sb, "d", "v2\n");
    sb.mono(["daemon", "start"]).ok();
    let (out, cold) = init(&sb, &a);
    assert!(out.contains("seed miss") && out.contains("MONO_SEED=miss"), "{out}");
    assert!(out.contains("seed captured") && out.contains("paused for"), "{out}");
    let db_a = db_container(&sb, &a);
    let origin_a = in_db(&db_a, "cat /data/origin");
    // Captured while paused, and running again afterwards.
    let (_, state, _) = mono_e2e::docker::docker(["inspect", "-f", "{{.State.Status}}", &db_a]);
    assert_eq!(state.trim(), "running");
    let listed = seeds(&sb);
    assert_eq!((listed.len(), listed[0]["saved"].as_bool()), (1, Some(true)), "{listed:?}");
    assert_eq!(listed[0]["label"], "seed pgdata (db/schema.sql)");

    let (out, warm) = init(&sb, &b);
    assert!(out.contains("seed hit") && out.contains("MONO_SEED=hit"), "{out}");
    assert!(warm < cold, "warm {warm:?} is not faster than cold {cold:?}");
    let db_b = db_container(&sb, &b);
    assert_eq!(in_db(&db_b, "cat /data/origin"), origin_a, "b starts with a's data");
    assert_eq!(in_db(&db_b, "wc -l < /data/rows").trim(), "200");
    // Owners and modes come back as they were.
    assert_eq!(
        in_db(&db_b, "stat -c '%u:%g %a' /data/owned /data/owned/file"),
        "1234:2345 700\n1234:2345 644\n"
    );

    // b's volume is a copy-on-write layer over the engine's base of the
    // snapshot, not a copy.
    let volume = format!("mono-{}-b_pgdata", sb.id);
    let (_, opts, _) = mono_e2e::docker::docker([
        "volume",
        "inspect",
        "-f",
        "{{.Options.type}} {{index .Labels \"dev.mono.seed.lower\"}}",
        &volume,
    ]);
    assert!(opts.starts_with("overlay mono-seed-"), "{volume}: {opts}");
    let base = opts.trim().rsplit(' ').next().unwrap().to_string();

    // Writes in b reach neither a, nor the snapshot (c, restored later).
    in_db(&db_b, "echo 'row from b' >> /data/rows; rm /data/origin");
    assert_eq!(in_db(&db_a, "wc -l < /data/rows").trim(), "200");
    let (out, _) = init(&sb, &c);
    assert!(out.contains("seed hit"), "{out}");
    let db_c = db_container(&sb, &c);
    assert_eq!(in_db(&db_c, "cat /data/origin"), origin_a);
    assert_eq!(in_db(&db_c, "wc -l < /data/rows").trim(), "200");

    // Another key file: a miss, seeded by its own service.
    let (out, _) = init(&sb, &d);
    assert!(out.contains("seed miss"), "{out}");
    assert_ne!(in_db(&db_container(&sb, &d), "cat /data/origin"), origin_a);
    assert_eq!(seeds(&sb).len(), 2);

    // A damaged archive (one byte changed, same length) where the engine
    // has no base of it yet (as a new engine would not): removed, a miss,
    // the service seeds a new, empty volume itself. (The base was checked
    // against the archive's SHA-256 when it was filled, and serves as long
    // as it is there.)
    let key = seeds(&sb).iter().find(|e| e["hits"] == 2).unwrap()["key"].as_str().unwrap().to_string();
    let tar = sb.home.join("cache/files").join(&key).join("volumes/0.tar");
    let mut bytes = std::fs::read(&tar).unwrap();
    let at = bytes.windows(5).position(|w| w == b"row 1").unwrap();
    bytes[at] = b'R';
    std::fs::write(&tar, bytes).unwrap();
    for ws in [&b, &c] {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }
    assert!(mono_e2e::docker::docker(["volume", "rm", &base]).0, "the base {base} is not in use any more");
    let e = docker_seeded(&sb, "e", "v1\n");
    let (out, _) = init(&sb, &e);
    assert!(out.contains("was damaged") && out.contains("MONO_SEED=miss"), "{out}");
    let db_e = db_container(&sb, &e);
    assert_eq!(in_db(&db_e, "grep -c '^Row' /data/rows || true").trim(), "0");
    assert_ne!(in_db(&db_e, "cat /data/origin"), origin_a);

    // Destroy removes every volume and helper; snapshots (and the bases
    // made of them) stay until clean.
    for ws in [&a, &d, &e] {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }
    let home = sb.home.display().to_string();
    assert_eq!(mono_e2e::docker::labelled(&format!("dev.mono.home={home}")), Vec::<String>::new());
    let all = sb.mono(["cache", "clean", "--all", "--json"]).ok().json();
    assert_eq!(all["removed"].as_array().unwrap().len(), 2, "{all}");
    assert_eq!(mono_e2e::docker::labelled(&format!("dev.mono.seed.home={home}")), Vec::<String>::new());
}

#[test]
fn bad_seeded_volumes_are_config_errors_that_change_nothing() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let sb = Sandbox::new();
    let ws = docker_seeded(&sb, "bad", "v1\n");
    sb.mono(["daemon", "start"]).ok();
    sb.mono_yml(&ws, "seed:\n  key: [db/schema.sql]\n  volumes: [nosuch]\n");
    sb.mono(["init", ws.to_str().unwrap()])
        .fails_with("\"nosuch\" is not a volume of the compose file (it has: pgdata)");
    let simple = sb.workspace("p/simple");
    sb.mono_yml(&simple, "seed:\n  key: [x]\n  volumes: [pgdata]\n");
    sb.mono(["init", simple.to_str().unwrap()]).fails_with("has no compose file");
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    let home = sb.home.display().to_string();
    assert_eq!(mono_e2e::docker::labelled(&format!("dev.mono.home={home}")), Vec::<String>::new());
}

#[test]
fn concurrent_docker_inits_of_one_key_publish_one_volume_snapshot() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let sb = Sandbox::new();
    let spaces: Vec<_> = (0..2).map(|i| docker_seeded(&sb, &format!("w{i}"), "same\n")).collect();
    sb.mono(["daemon", "start"]).ok();
    let outputs = init_at_once(&sb, &spaces);
    assert_eq!(outputs.iter().filter(|o| o.contains("seed captured")).count(), 1, "{outputs:?}");
    assert!(
        outputs.iter().all(|o| o.contains("seed captured")
            || o.contains("captured it first")
            || o.contains("seed hit")),
        "{outputs:?}"
    );
    let saved: Vec<_> = seeds(&sb).into_iter().filter(|e| e["saved"] == true).collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    // Both environments run on a complete volume of their own.
    for ws in &spaces {
        let db = db_container(&sb, ws);
        assert_eq!(in_db(&db, "wc -l < /data/rows").trim(), "200");
    }
    // A later workspace gets the one snapshot.
    let later = docker_seeded(&sb, "later", "same\n");
    let (out, _) = init(&sb, &later);
    assert!(out.contains("seed hit"), "{out}");
    for ws in spaces.iter().chain([&later]) {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }
    let home = sb.home.display().to_string();
    assert_eq!(mono_e2e::docker::labelled(&format!("dev.mono.home={home}")), Vec::<String>::new());
}
