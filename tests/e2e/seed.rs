//! Seeded workspace directories with the real daemon (`seed:` with
//! `paths`, simple mode): the first workspace of a key runs its slow seed
//! and is captured, later ones start from a copy; copies are independent;
//! a key change is a miss; a damaged snapshot is removed and counts as a
//! miss; concurrent inits publish one snapshot; `seed refresh`, clean and
//! the size cap drop snapshots.

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
    let outputs: Vec<String> = std::thread::scope(|s| {
        let inits: Vec<_> = spaces
            .iter()
            .map(|ws| {
                let sb = &sb;
                s.spawn(move || init(sb, ws).0)
            })
            .collect();
        inits.into_iter().map(|h| h.join().unwrap()).collect()
    });
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
    sb.mono(["seed", "refresh", a.to_str().unwrap()]).ok().stdout.contains("already gone");
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
fn bad_seed_settings_are_config_errors_that_change_nothing() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let cases = [
        ("seed:\n  key: [db]\n", "lists neither volumes nor paths"),
        ("seed:\n  key: [../db]\n  paths: [x]\n", "is not a path inside the workspace"),
        ("seed:\n  key: [db]\n  paths: [var, var/data]\n", "overlap"),
        ("seed:\n  key: [db]\n  paths: [x]\n  volumes: [pgdata]\n", "does not snapshot volumes yet"),
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
