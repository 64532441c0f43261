//! The README's quick start: `scripts/demo` runs to the end with the test
//! build (`MONO_BIN_DIR`), both sample environments serve their own page,
//! and it leaves nothing behind.

use std::path::Path;
use std::process::{Command, Stdio};

use mono_e2e::{bin_dir, run_with_deadline};

#[test]
fn quick_start_demo_runs_to_the_end_and_cleans_up() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
    let scratch = tempfile::tempdir().unwrap();
    let mut demo = Command::new("bash");
    demo.arg(repo.join("scripts/demo"))
        .env("MONO_BIN_DIR", bin_dir())
        .env("TMPDIR", scratch.path())
        .env_remove("MONO_HOME")
        .env_remove("TMUX")
        .env_remove("TMUX_TMPDIR")
        .stdin(Stdio::null());
    // A hang is stopped with SIGTERM to the demo's group; its trap then
    // stops its daemon and tmux server.
    let run = run_with_deadline(demo);
    assert_eq!(run.code, 0, "scripts/demo failed: {run:?}");
    for ws in ["alpha", "beta"] {
        assert!(run.stdout.contains(&format!("hello from hello-{ws}")), "no page from {ws}: {run:?}");
        assert!(run.stdout.contains(&format!("[hello-{ws}] destroyed")), "{ws} not destroyed: {run:?}");
    }
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "scripts/demo left {left:?}: {run:?}");
}
