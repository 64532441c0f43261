//! The README's quick start: `scripts/demo` runs to the end with the test
//! build (`MONO_BIN_DIR`), both sample environments serve their own page,
//! and it leaves nothing behind.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mono_e2e::{bin_dir, wait_until};

#[test]
fn quick_start_demo_runs_to_the_end_and_cleans_up() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("demo.log");
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out = std::fs::File::create(&log).unwrap();
    let mut demo = Command::new("bash");
    demo.arg(repo.join("scripts/demo"))
        .env("MONO_BIN_DIR", bin_dir())
        .env("TMPDIR", &scratch)
        .env_remove("MONO_HOME")
        .env_remove("TMUX")
        .env_remove("TMUX_TMPDIR")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0);
    let mut child = demo.spawn().expect("start scripts/demo");
    let pid = child.id();
    let mut status = None;
    let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(Duration::from_secs(120), "scripts/demo to finish", || {
            status = child.try_wait().unwrap();
            status.is_some()
        })
    }));
    if finished.is_err() {
        // SIGTERM to the whole group (the demo's trap then stops its daemon
        // and tmux server). procps' `kill -TERM -PID` silently signals
        // nothing; `-s TERM -- -PID` reaches the group.
        let _ = Command::new("kill").args(["-s", "TERM", "--", &format!("-{pid}")]).status();
        let _ = child.wait();
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(finished.is_ok() && status.is_some_and(|s| s.success()), "scripts/demo failed:\n{text}");
    for ws in ["alpha", "beta"] {
        assert!(text.contains(&format!("hello from hello-{ws}")), "no page from {ws}:\n{text}");
        assert!(text.contains(&format!("[hello-{ws}] destroyed")), "{ws} not destroyed:\n{text}");
    }
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "scripts/demo left {left:?}:\n{text}");
}
