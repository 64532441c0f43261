//! The dependency cache with the real daemon: a miss saves after the init
//! script, a hit restores and skips it, keys follow content, restored files
//! are the workspace's own, damaged entries are not used, concurrent inits
//! of one key publish one entry, clean and the size cap remove entries.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mono_e2e::{EventFollower, Sandbox};

/// An init script that builds a `deps/` tree from `lock.json` (a file, a
/// nested file, an executable and a symlink) and leaves a marker.
const MONO_YML: &str = r#"scripts:
  init: |
    mkdir -p deps/pkg/lib && cp lock.json deps/pkg/lock.copy && printf 'lib\n' > deps/pkg/lib/index.js
    printf '#!/bin/sh\n' > deps/tool && chmod 755 deps/tool && ln -s pkg/lib/index.js deps/main.js
    i=0; while [ $i -lt 50 ]; do printf 'file %s\n' $i > deps/pkg/f$i; i=$((i+1)); done
    touch init-ran
  setup: echo "MONO_CACHE=$MONO_CACHE"
cache:
  - key: [lock.json]
    paths: [deps]
"#;

fn cached_ws(sb: &Sandbox, rel: &str, lock: &str) -> std::path::PathBuf {
    let ws = sb.workspace(rel);
    std::fs::write(ws.join("lock.json"), lock).unwrap();
    sb.mono_yml(&ws, MONO_YML);
    ws
}

/// Every entry of a tree: path → (mode, content or link target).
fn tree(root: &Path) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let value = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if meta.is_dir() {
                stack.push(e.path());
                "dir".to_string()
            } else {
                std::fs::read_to_string(e.path()).unwrap()
            };
            out.insert(rel, (meta.permissions().mode() & 0o777, value));
        }
    }
    out
}

fn saved_events(follower: &mut EventFollower, n: usize) -> Vec<serde_json::Value> {
    follower
        .collect_until("cache saves", |seen| seen.iter().filter(|e| e["kind"] == "cache.saved").count() >= n);
    follower.seen.iter().filter(|e| e["kind"] == "cache.saved").cloned().collect()
}

fn stats(sb: &Sandbox) -> serde_json::Value {
    sb.mono(["cache", "stats", "--json"]).ok().json()
}

#[test]
fn a_miss_saves_a_hit_restores_and_skips_the_init_script() {
    let sb = Sandbox::new();
    let a = cached_ws(&sb, "p/a", "lock v1\n");
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    let out = sb.mono(["init", a.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("cache miss"), "{}", out.stderr);
    assert!(out.stdout.contains("MONO_CACHE=miss"), "{}", out.stdout);
    assert!(a.join("init-ran").exists());
    let saved = saved_events(&mut events, 1);
    assert_eq!(saved[0]["data"]["outcome"], "saved", "{saved:?}");
    assert_eq!(saved[0]["data"]["files"], 53);
    // The save runs beside init, not as a step of it.
    assert!(!out.stderr.contains("cache saved"), "{}", out.stderr);

    let b = cached_ws(&sb, "p/b", "lock v1\n");
    let out = sb.mono(["init", b.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("cache hit"), "{}", out.stderr);
    assert!(out.stderr.contains("init script skipped"), "{}", out.stderr);
    assert!(out.stdout.contains("MONO_CACHE=hit"), "{}", out.stdout);
    assert!(!b.join("init-ran").exists(), "the init script ran on a hit");
    assert_eq!(tree(&b.join("deps")), tree(&a.join("deps")));
    assert!(
        !std::fs::read_dir(&b)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".mono-restore"))
    );

    let s = stats(&sb);
    let entries = s["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{s}");
    assert_eq!((entries[0]["hits"].as_u64(), entries[0]["misses"].as_u64()), (Some(1), Some(1)));
    assert_eq!(entries[0]["label"], "deps (lock.json)");
    assert!(entries[0]["size"].as_u64().unwrap() >= 53 * 512, "{s}");
    let text = sb.mono(["cache", "stats"]).ok().stdout;
    assert!(text.contains("1 entries") && text.contains("deps (lock.json)"), "{text}");

    // A changed key file is another entry; so is another version.
    let c = cached_ws(&sb, "p/c", "lock v2\n");
    assert!(sb.mono(["init", c.to_str().unwrap()]).ok().stderr.contains("cache miss"));
    assert!(c.join("init-ran").exists());
    let d = cached_ws(&sb, "p/d", "lock v1\n");
    sb.mono_yml(&d, &MONO_YML.replace("paths: [deps]", "paths: [deps]\n    version: \"2\""));
    assert!(sb.mono(["init", d.to_str().unwrap()]).ok().stderr.contains("cache miss"));
    saved_events(&mut events, 3);
    assert_eq!(stats(&sb)["entries"].as_array().unwrap().len(), 3);
}

#[test]
fn restored_files_are_the_workspaces_own() {
    let sb = Sandbox::new();
    let a = cached_ws(&sb, "p/a", "lock\n");
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    sb.mono(["init", a.to_str().unwrap()]).ok();
    saved_events(&mut events, 1);
    let original = tree(&a.join("deps"));
    let b = cached_ws(&sb, "p/b", "lock\n");
    sb.mono(["init", b.to_str().unwrap()]).ok();
    // The restored workspace changes, appends to and deletes its files.
    std::fs::write(b.join("deps/pkg/f1"), "rewritten\n").unwrap();
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(b.join("deps/pkg/f2"))
        .unwrap()
        .write_all(b"appended\n")
        .unwrap();
    std::fs::remove_file(b.join("deps/pkg/f3")).unwrap();
    std::fs::set_permissions(b.join("deps/tool"), std::fs::Permissions::from_mode(0o700)).unwrap();
    // Neither the source workspace nor the next restore sees any of it.
    assert_eq!(tree(&a.join("deps")), original);
    let c = cached_ws(&sb, "p/c", "lock\n");
    assert!(sb.mono(["init", c.to_str().unwrap()]).ok().stderr.contains("cache hit"));
    assert_eq!(tree(&c.join("deps")), original);
    // A failing setup rolls back the restore too.
    let e = cached_ws(&sb, "p/e", "lock\n");
    sb.mono_yml(&e, &MONO_YML.replace("setup: echo \"MONO_CACHE=$MONO_CACHE\"", "setup: exit 3"));
    sb.mono(["init", e.to_str().unwrap()]).fails_with("setup script failed");
    assert!(!e.join("deps").exists(), "the restored deps outlived the rollback");
}

#[test]
fn damaged_or_half_saved_entries_are_never_used() {
    let sb = Sandbox::new();
    let a = cached_ws(&sb, "p/a", "lock\n");
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    sb.mono(["init", a.to_str().unwrap()]).ok();
    let key = saved_events(&mut events, 1)[0]["data"]["key"].as_str().unwrap().to_string();
    let entry = sb.home.join("cache/files").join(&key);
    // A file lost from the entry: detected, removed, a miss, saved again.
    std::fs::remove_file(entry.join("data/0/pkg/f7")).unwrap();
    let b = cached_ws(&sb, "p/b", "lock\n");
    let out = sb.mono(["init", b.to_str().unwrap()]).ok();
    assert!(out.stderr.contains("was damaged"), "{}", out.stderr);
    assert!(b.join("init-ran").exists(), "a damaged entry must not replace the init script");
    assert_eq!(tree(&b.join("deps")), tree(&a.join("deps")));
    saved_events(&mut events, 2);
    assert!(entry.join("entry.json").is_file(), "not saved again");
    // An entry without its manifest (a save cut short) is not used either.
    std::fs::remove_file(entry.join("entry.json")).unwrap();
    let c = cached_ws(&sb, "p/c", "lock\n");
    assert!(sb.mono(["init", c.to_str().unwrap()]).ok().stderr.contains("was damaged"));
    assert!(c.join("init-ran").exists());
    saved_events(&mut events, 3);
    // Leftovers of a save interrupted by a crash are cleared at start.
    let staging = sb.home.join("cache/tmp").join(format!("{key}-1-1"));
    std::fs::create_dir_all(staging.join("data/0")).unwrap();
    sb.mono(["daemon", "stop"]).ok();
    sb.mono(["daemon", "start"]).ok();
    assert!(!staging.exists());
    let d = cached_ws(&sb, "p/d", "lock\n");
    assert!(sb.mono(["init", d.to_str().unwrap()]).ok().stderr.contains("cache hit"));
}

#[test]
fn concurrent_inits_of_one_key_publish_one_entry() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    let spaces: Vec<_> = (0..4).map(|i| cached_ws(&sb, &format!("p/w{i}"), "same lock\n")).collect();
    let outputs: Vec<String> = std::thread::scope(|s| {
        let inits: Vec<_> = spaces
            .iter()
            .map(|ws| {
                let sb = &sb;
                s.spawn(move || sb.mono(["init", ws.to_str().unwrap()]).ok().stderr)
            })
            .collect();
        inits.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // An init that starts after the first save was published (a loaded
    // machine) hits instead; every one that missed reports its save.
    let missed = outputs.iter().filter(|o| o.contains("cache miss")).count();
    assert!(missed >= 1, "{outputs:?}");
    assert_eq!(missed + outputs.iter().filter(|o| o.contains("cache hit")).count(), 4, "{outputs:?}");
    let saved = saved_events(&mut events, missed);
    let outcomes: Vec<&str> = saved.iter().map(|e| e["data"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "saved").count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| *o == "saved" || *o == "already_there"), "{outcomes:?}");
    assert_eq!(std::fs::read_dir(sb.home.join("cache/files")).unwrap().count(), 1);
    let next = cached_ws(&sb, "p/next", "same lock\n");
    assert!(sb.mono(["init", next.to_str().unwrap()]).ok().stderr.contains("cache hit"));
    assert_eq!(tree(&next.join("deps")), tree(&spaces[0].join("deps")));
}

#[test]
fn clean_and_the_size_cap_remove_entries() {
    let sb = Sandbox::new();
    // Each entry takes about 56 blocks of 4 KiB: a cap of 500 KiB holds two.
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "cache:\n  max_size: 500KiB\n").unwrap();
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    let one = cached_ws(&sb, "p/one", "one\n");
    sb.mono(["init", one.to_str().unwrap()]).ok();
    let two = cached_ws(&sb, "p/two", "two\n");
    sb.mono(["init", two.to_str().unwrap()]).ok();
    saved_events(&mut events, 2);
    // Use "one" again, so "two" is the least recently used.
    let again = cached_ws(&sb, "p/again", "one\n");
    assert!(sb.mono(["init", again.to_str().unwrap()]).ok().stderr.contains("cache hit"));
    let three = cached_ws(&sb, "p/three", "three\n");
    sb.mono(["init", three.to_str().unwrap()]).ok();
    let saved = saved_events(&mut events, 3);
    let evicted = saved[2]["data"]["evicted"].as_array().unwrap().clone();
    let key_of = |i: usize| saved[i]["data"]["key"].as_str().unwrap().to_string();
    assert_eq!(evicted, vec![serde_json::json!(key_of(1))], "the least recently used entry goes");
    let s = stats(&sb);
    let saved_keys: Vec<&str> = s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["saved"] == true)
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(saved_keys.len(), 2, "{s}");
    assert!(saved_keys.contains(&key_of(0).as_str()) && saved_keys.contains(&key_of(2).as_str()), "{s}");
    assert!(s["total_size"].as_u64().unwrap() <= 500 * 1024, "{s}");

    // Nothing is older than an hour; --all removes everything.
    let none = sb.mono(["cache", "clean", "--older-than", "1h", "--json"]).ok().json();
    assert_eq!(none["removed"], serde_json::json!([]));
    let all = sb.mono(["cache", "clean", "--all", "--json"]).ok().json();
    assert_eq!(all["removed"].as_array().unwrap().len(), 2, "{all}");
    assert!(all["freed"].as_u64().unwrap() > 0);
    assert_eq!(std::fs::read_dir(sb.home.join("cache/files")).unwrap().count(), 0);
    assert!(stats(&sb)["entries"].as_array().unwrap().iter().all(|e| e["saved"] == false));
    sb.mono(["cache", "clean", "--older-than", "soon"]).fails_with("older_than \"soon\"");
}

#[test]
fn bad_cache_rules_are_config_errors() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/bad");
    for (rule, needle) in [
        ("cache:\n  - key: []\n    paths: [deps]\n", "needs at least one path"),
        ("cache:\n  - key: [lock.json]\n    paths: [../outside]\n", "is not a path inside the workspace"),
        ("cache:\n  - key: [/etc/passwd]\n    paths: [deps]\n", "is not a path inside the workspace"),
        ("cache:\n  - key: [lock.json]\n    path: [deps]\n", "unknown field `path`"),
    ] {
        sb.mono_yml(&ws, rule);
        let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with(needle);
        assert!(line.contains("mono.yml:"), "{line}");
    }
    assert_eq!(sb.env_rows(), 0);
}

/// Every path under `root` (not following links).
fn all_paths(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A directory outside every workspace, with a marker file.
fn outside(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let dir = sb.root().join(name);
    std::fs::create_dir_all(dir.join("inner")).unwrap();
    std::fs::write(dir.join("inner/marker"), "not the workspace's\n").unwrap();
    dir
}

#[test]
fn a_cached_path_that_is_or_lies_below_a_link_is_skipped_at_save() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    let out = outside(&sb, "outside");
    let before = all_paths(&out);
    // `deps -> outside` (the `node_modules -> /etc` case) and `x -> outside`
    // for the rule `x/inner`.
    for (i, (link, paths)) in [("deps", "deps"), ("x", "x/inner")].into_iter().enumerate() {
        let ws = sb.workspace(&format!("p/s{i}"));
        std::fs::write(ws.join("lock.json"), format!("lock {i}\n")).unwrap();
        sb.mono_yml(
            &ws,
            &format!(
                "scripts:\n  init: ln -s '{}' {link}\ncache:\n  - key: [lock.json]\n    paths: [{paths}]\n",
                out.display()
            ),
        );
        sb.mono(["init", ws.to_str().unwrap()]).ok();
        let saved = saved_events(&mut events, i + 1);
        assert_eq!(saved[i]["data"]["outcome"], "skipped", "{saved:?}");
        let why = saved[i]["data"]["error"].as_str().unwrap();
        assert!(why.contains(&format!("{link} is a symbolic link (to {})", out.display())), "{why}");
        let log = sb.mono_log();
        assert!(log.contains(&format!("cache: skipped the rule for {paths} (lock.json) (not saved): {paths}: {link} is a symbolic link")), "{log}");
    }
    assert_eq!(std::fs::read_dir(sb.home.join("cache/files")).map_or(0, |d| d.count()), 0);
    let cached = all_paths(&sb.home.join("cache"));
    assert!(!cached.iter().any(|p| p.ends_with("marker")), "copied from outside: {cached:?}");
    assert_eq!(all_paths(&out), before);
}

#[test]
fn a_restore_never_writes_through_a_linked_parent() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    let yml = "scripts:\n  init: '[ -L x ] || { mkdir -p x/nm && echo f > x/nm/f; }'\n\
               cache:\n  - key: [lock.json]\n    paths: [x/nm]\n";
    let a = sb.workspace("p/a");
    std::fs::write(a.join("lock.json"), "lock\n").unwrap();
    sb.mono_yml(&a, yml);
    sb.mono(["init", a.to_str().unwrap()]).ok();
    assert_eq!(saved_events(&mut events, 1)[0]["data"]["outcome"], "saved");
    // The next workspace of the key has `x -> outside`.
    let out = outside(&sb, "outside");
    let before = all_paths(&out);
    let b = sb.workspace("p/b");
    std::fs::write(b.join("lock.json"), "lock\n").unwrap();
    sb.mono_yml(&b, yml);
    std::os::unix::fs::symlink(&out, b.join("x")).unwrap();
    let init = sb.mono(["init", b.to_str().unwrap()]).ok();
    assert!(
        init.stderr.contains(&format!(
            "cache: skipped the rule for x/nm (lock.json) (not restored, not saved): x/nm: x is a symbolic link (to {})",
            out.display()
        )),
        "{}",
        init.stderr
    );
    assert_eq!(all_paths(&out), before, "the restore wrote outside the workspace");
    assert_eq!(all_paths(&b), ["lock.json", "mono.yml", "x"]);
    // The entry is intact and still restores into a real workspace.
    let c = sb.workspace("p/c");
    std::fs::write(c.join("lock.json"), "lock\n").unwrap();
    sb.mono_yml(&c, yml);
    assert!(sb.mono(["init", c.to_str().unwrap()]).ok().stderr.contains("cache hit"));
    assert_eq!(std::fs::read_to_string(c.join("x/nm/f")).unwrap(), "f\n");
}
