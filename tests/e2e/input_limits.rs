//! Large and deeply nested input: refused with one line naming the file
//! and the limit, before anything exists, or handled. How long each takes
//! is printed, not asserted (the old quadratic paths took from 17 s to
//! minutes): times are for bench/.

use std::fmt::Write as _;
use std::time::Instant;

use mono_e2e::{Sandbox, run_with_deadline};

use crate::bad_input::assert_untouched;

/// Runs `mono init ws`, which must fail with one line containing every
/// needle; then nothing of the environment may exist.
#[track_caller]
fn refused_at_once(sb: &Sandbox, ws: &std::path::Path, needles: &[&str]) -> String {
    let started = Instant::now();
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with(needles[0]);
    let took = started.elapsed();
    for needle in needles {
        assert!(line.contains(needle), "{line:?} does not contain {needle:?}");
    }
    assert_untouched(sb);
    assert_eq!(sb.mono(["list", "--json"]).ok().json(), serde_json::json!([]));
    eprintln!("refused in {took:?}: {line}");
    line
}

fn env_yml(keys: usize) -> String {
    let mut text = String::from("env:\n");
    for i in 0..keys {
        let _ = writeln!(text, "  VAR_{i:07}: value-{i:07}");
    }
    text
}

#[test]
fn twenty_thousand_mono_yml_variables_are_refused_at_once_naming_the_limit() {
    // They cannot all be in the session (tmux takes 16 KiB per command) and
    // mono.yml's variables are never left out: init fails before it
    // registers anything. This took 17.6 s of CPU when it was quadratic.
    let sb = Sandbox::new();
    let ws = sb.workspace("big/env");
    sb.mono_yml(&ws, &env_yml(20_000));
    let mono_yml = ws.join("mono.yml");
    refused_at_once(
        &sb,
        &ws,
        &[
            &format!("{}: the environment does not fit a tmux session", mono_yml.display()),
            "its 20010 variables that are never left out",
            "at most 16368",
        ],
    );
}

#[test]
fn twenty_thousand_caller_variables_init_quickly_and_reach_the_scripts() {
    let sb = Sandbox::new();
    let ws = sb.workspace("big/caller");
    sb.mono_yml(&ws, "scripts:\n  init: env | grep -c '^BULK_' > bulk-count.txt\n");
    let mut init = sb.mono_cmd();
    init.args(["init", ws.to_str().unwrap()]);
    for i in 0..20_000 {
        init.env(format!("BULK_{i:05}"), format!("value-{i:05}"));
    }
    let started = Instant::now();
    let out = run_with_deadline(init).ok();
    let took = started.elapsed();
    eprintln!("init with 20,000 caller variables took {took:?}");
    // The scripts get every variable; the session the ones that fit, and
    // the warning names a few of the others, not all 20,000.
    assert_eq!(std::fs::read_to_string(ws.join("bulk-count.txt")).unwrap().trim(), "20000");
    let warning =
        out.stdout.lines().chain(out.stderr.lines()).find(|l| l.contains("left out of the tmux session"));
    let warning = warning.unwrap_or_else(|| panic!("no warning:\n{}\n{}", out.stdout, out.stderr));
    assert!(warning.contains(" more") && warning.len() < 400, "{warning}");
    assert!(sb.has_session("mono-big-caller"));
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn oversize_files_are_refused_at_once_naming_the_file_and_limit() {
    let sb = Sandbox::new();
    // A million variables: about 25 MB of mono.yml.
    let ws = sb.workspace("huge/yml");
    sb.mono_yml(&ws, &env_yml(1_000_000));
    let file = ws.join("mono.yml");
    refused_at_once(
        &sb,
        &ws,
        &[&format!("{} is too large", file.display()), "more than the 4.0 MiB mono reads"],
    );

    let ws = sb.workspace("huge/compose");
    let mut compose = String::from("services:\n  web:\n    image: busybox\n");
    compose.push_str(&"# padding\n".repeat(500_000));
    sb.compose(&ws, &compose);
    let file = ws.join("compose.yaml");
    refused_at_once(
        &sb,
        &ws,
        &[&format!("{} is too large", file.display()), "more than the 4.0 MiB mono reads"],
    );
}

#[test]
fn deeply_nested_yaml_is_refused_at_once() {
    let sb = Sandbox::new();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let ws = sb.workspace("deep/yml");
    sb.mono_yml(&ws, &format!("env:\n  A: {deep}\n"));
    let at = format!("{}:2:70:", ws.join("mono.yml").display());
    refused_at_once(&sb, &ws, &[&at, "nested more than 64 deep"]);

    let ws = sb.workspace("deep/compose");
    sb.compose(&ws, &format!("services:\n  web:\n    image: busybox\n    command: {deep}\n"));
    let at = format!("{}:4:78:", ws.join("compose.yaml").display());
    refused_at_once(&sb, &ws, &[&at, "nested more than 64 deep"]);
}
