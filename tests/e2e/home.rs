//! Which directory may be MONO_HOME: a refused one is one error line from
//! every command and from monod itself, and is left exactly as it was (mode,
//! owner, listing); a link to a directory of one's own works.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use mono_e2e::{Bounded, Sandbox, WAIT, require_root, run_with_deadline};

/// A directory's mode, owner and entries (with their modes and owners).
fn state_of(dir: &Path) -> (u32, u32, BTreeMap<String, (u32, u32)>) {
    let meta = std::fs::metadata(dir).unwrap();
    let entries = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), (m.mode(), m.uid()))
        })
        .collect();
    (meta.mode(), meta.uid(), entries)
}

/// `mono list`, `mono init` and `monod` refuse the sandbox's home with a
/// line containing `needle`; `mono doctor` reports it; nothing changes in
/// `target` (the directory the home names).
#[track_caller]
fn refused_and_untouched(sb: &Sandbox, target: &Path, needle: &str) {
    let before = state_of(target);
    let ws = sb.workspace("p/w");
    sb.mono(["list"]).fails_with(needle);
    sb.mono(["init", ws.to_str().unwrap()]).fails_with(needle);
    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    assert!(doctor.stdout.contains(needle), "{}", doctor.stdout);
    let monod = run_with_deadline(sb.command(sb.monod_path()));
    assert_ne!(monod.code, 0);
    assert!(monod.stderr.contains(needle), "{}", monod.stderr);
    assert_eq!(state_of(target), before, "the refused home was changed");
    assert!(sb.daemons().is_empty(), "a daemon serves a refused home");
}

#[test]
fn a_directory_of_other_files_is_refused_even_through_a_link() {
    let sb = Sandbox::new();
    // A stand-in for /etc: someone else's files, readable by all.
    let etc = sb.root().join("etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::write(etc.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&etc, &sb.home).unwrap();
    refused_and_untouched(&sb, &etc, "holds files that are not mono's (such as \"passwd\")");
}

#[test]
fn a_home_others_may_write_is_refused_and_not_chmodded() {
    let sb = Sandbox::new();
    std::fs::create_dir(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o775)).unwrap();
    refused_and_untouched(&sb, &sb.home, "is writable by others (mode 775)");
}

#[test]
fn another_users_home_is_refused_even_for_root() {
    require_root("gives a directory to another user");
    let sb = Sandbox::new();
    std::fs::create_dir(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&sb.home, Some(65534), Some(65534)).unwrap();
    refused_and_untouched(&sb, &sb.home, "belongs to uid 65534, not to you (uid 0)");
}

#[test]
fn a_link_to_a_directory_of_ones_own_is_a_home() {
    let sb = Sandbox::new();
    let real = sb.root().join("disk/home");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&real, &sb.home).unwrap();
    let ws = sb.init_workspace("p/linked", "");
    assert!(real.join("state.db").is_file() && real.join("data/p-linked").is_dir());
    // Accepted as it is: not chmodded; `mono doctor` points at the mode.
    assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o777, 0o755);
    let doctor = sb.mono(["doctor"]).stdout;
    assert!(doctor.contains("has mode 755") && doctor.contains("fix: chmod 700"), "{doctor}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

/// Names and contents of a directory's files.
fn listing(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect()
}

#[test]
fn planted_links_in_data_and_logs_fail_init_and_gc_removes_only_the_link() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let outside = sb.root().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "mine\n").unwrap();
    let before = listing(&outside);
    let ws = sb.workspace("p/planted");
    sb.mono_yml(&ws, "scripts:\n  init: echo init ran\n");
    for dir in ["data", "logs"] {
        let link = sb.home.join(dir).join("p-planted");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with("is a symbolic link");
        assert!(line.contains(&link.display().to_string()) && line.contains("mono gc --yes"), "{line}");
        assert_eq!(listing(&outside), before, "init wrote through {}", link.display());
        assert_eq!(sb.env_rows(), 0);
        assert!(!sb.has_session("mono-p-planted"));
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was touched");

        let gc = sb.mono(["gc", "--json"]).ok().json();
        assert_eq!(
            gc["orphans"],
            serde_json::json!([{"kind": "link", "name": link.display().to_string(), "owner": "p-planted"}]),
            "{gc}"
        );
        assert!(sb.mono(["gc"]).ok().stdout.contains("symbolic link"));
        sb.mono(["gc", "--yes"]).ok();
        assert!(std::fs::symlink_metadata(&link).is_err(), "gc left the link");
        assert_eq!(listing(&outside), before, "gc removed the link's target");
    }
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    // A link planted after init is listed too, though its name is taken.
    let data = sb.home.join("data/p-planted");
    std::fs::remove_dir(&data).unwrap();
    std::os::unix::fs::symlink(&outside, &data).unwrap();
    let gc = sb.mono(["gc", "--json"]).ok().json();
    assert_eq!(gc["orphans"][0]["kind"], "link", "{gc}");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert!(std::fs::symlink_metadata(&data).is_err());
    assert_eq!(listing(&outside), before, "destroy removed the link's target");
}

#[test]
fn a_link_in_place_of_the_homes_own_directories_stops_monod() {
    let sb = Sandbox::new();
    let outside = sb.root().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    for dir in ["data", "logs", "cache"] {
        let link = sb.home.join(dir);
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let line = sb.mono(["list"]).fails_with("which mono does not follow; remove the link");
        assert!(line.contains(&link.display().to_string()), "{line}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "monod wrote through {dir}");
        std::fs::remove_file(&link).unwrap();
    }
    sb.mono(["list"]).ok();
}

/// Entries under `root` that group or others may use (not following links).
fn exposed(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            if m.mode() & 0o077 != 0 {
                out.push(format!("{} {:o}", e.path().display(), m.mode() & 0o777));
            }
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

#[test]
fn everything_under_the_home_is_private_whatever_the_umask() {
    let sb = Sandbox::new();
    // A daemon (and the tmux server it starts) with umask 000: anything
    // created without an explicit mode would be world-readable.
    let started = run_with_deadline({
        let mut cmd = sb.command("sh");
        cmd.args(["-c", "umask 000; exec \"$0\" \"$@\""]).arg(sb.mono_path()).args(["daemon", "start"]);
        cmd
    });
    assert_eq!(started.code, 0, "{started:?}");
    let mut events = sb.follow_events(&["--since", "0", "--kind", "cache.saved"]);
    let gate = sb.root().join("gate");
    let yml = format!(
        "scripts:\n  init: mkdir -p deps/bin && printf '#!/bin/sh\\necho tool ran\\n' > deps/bin/tool && chmod 755 deps/bin/tool\n  \
         run: umask; while [ ! -e '{}' ]; do sleep 0.02; done; exit 3\ncache:\n  - key: [lock.json]\n    paths: [deps]\n",
        gate.display()
    );
    let a = sb.workspace("p/a");
    std::fs::write(a.join("lock.json"), "1\n").unwrap();
    sb.mono_yml(&a, &yml);
    sb.mono(["init", a.to_str().unwrap()]).ok();
    events.collect_until("the cache save", |seen| seen.iter().any(|e| e["data"]["outcome"] == "saved"));
    // A restore gives the cached executable its mode back: it still runs.
    let b = sb.workspace("p/b");
    std::fs::write(b.join("lock.json"), "1\n").unwrap();
    sb.mono_yml(&b, &yml);
    assert!(sb.mono(["init", b.to_str().unwrap()]).ok().stderr.contains("cache hit"));
    let tool = std::process::Command::new(b.join("deps/bin/tool")).run();
    assert_eq!(tool.stdout, "tool ran\n");

    // A run in progress (run.json), then ended with monod stopped, so its
    // status files stay to be looked at.
    sb.mono(["run", "--detach", a.to_str().unwrap()]).ok();
    let log_dir = sb.home.join("logs/p-a");
    mono_e2e::wait_until(WAIT, "run.json", || log_dir.join("run.json").exists());
    assert_eq!(exposed(&sb.home), Vec::<String>::new());
    let pid = sb.daemon_pid().unwrap();
    mono_e2e::stop_process(pid);
    std::fs::write(&gate, "").unwrap();
    mono_e2e::wait_until(WAIT, "the run to end", || {
        log_dir.join("run.done").exists() && log_dir.join("run.exit").exists()
    });
    let seen = exposed(&sb.home);
    mono_e2e::kill(pid, 18);
    assert_eq!(seen, Vec::<String>::new());
    // The run script kept the caller's umask.
    mono_e2e::wait_until(WAIT, "the run's output", || {
        sb.mono(["logs", a.to_str().unwrap()]).stdout.contains("0000")
    });
    for ws in [&a, &b] {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }
    for file in ["state.db", "mono.log", "monod.log", "monod.lock", "start.lock", "monod.sock", "cache/files"]
    {
        assert!(std::fs::symlink_metadata(sb.home.join(file)).is_ok(), "{file} is missing");
    }
    assert_eq!(exposed(&sb.home), Vec::<String>::new());
}
