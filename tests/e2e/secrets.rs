//! No value of the caller's environment or of `mono.yml`'s `env:` appears on
//! the command line of any process: any local user reads
//! `/proc/<pid>/cmdline`, and a tmux server keeps the argv of the client
//! that started it for life. The variables still reach the session, and a
//! server monod starts does not hand one caller's variables to the next.

use std::path::Path;

use mono_e2e::cmdlines::{CmdlineWatch, cmdlines_containing};
use mono_e2e::{Sandbox, run_with_deadline};

/// `mono init ws` with `vars` added to the caller's environment.
#[track_caller]
fn init_with(sb: &Sandbox, ws: &Path, vars: &[(&str, &str)]) {
    let mut cmd = sb.mono_cmd();
    cmd.args(["init", ws.to_str().unwrap()]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run_with_deadline(cmd).ok();
}

/// Runs the workspace's run script (`env > env-dump.txt`) and returns the
/// session's environment as it saw it, one `K=V` per line.
#[track_caller]
fn session_env(sb: &Sandbox, ws: &Path) -> Vec<String> {
    let dump = ws.join("env-dump.txt");
    let _ = std::fs::remove_file(&dump);
    // In the foreground, mono run returns once the script has ended.
    sb.mono(["run", ws.to_str().unwrap()]).ok();
    std::fs::read_to_string(&dump).unwrap().lines().map(str::to_string).collect()
}

#[track_caller]
fn assert_no_cmdline_holds(needles: &[String], when: &str) {
    let hits = cmdlines_containing(needles);
    assert!(hits.is_empty(), "{when}: variable values on command lines: {hits:#?}");
}

#[test]
fn variable_values_never_reach_a_command_line() {
    let sb = Sandbox::new();
    let secret = |what: &str| format!("{what}-secret-{}", sb.id);
    let (caller1, yml1, caller2, caller3) =
        (secret("caller-one"), secret("yml-one"), secret("caller-two"), secret("caller-three"));
    let needles = vec![caller1.clone(), yml1.clone(), caller2.clone(), caller3.clone()];
    let watch = CmdlineWatch::start(needles.clone());
    let run_dump = "scripts:\n  run: env > env-dump.txt\n";

    // The first init on a machine with no tmux server: monod starts one.
    // This caller also starts monod, which inherits its environment.
    let one = sb.workspace("app/one");
    sb.mono_yml(&one, &format!("env:\n  FROM_YML: {yml1}\n{run_dump}"));
    init_with(&sb, &one, &[("CALLER_SECRET", &caller1)]);
    assert_no_cmdline_holds(&needles, "after the first init");
    let env = session_env(&sb, &one);
    assert_no_cmdline_holds(&needles, "after mono run");
    assert!(env.contains(&format!("CALLER_SECRET={caller1}")), "{env:#?}");
    assert!(env.contains(&format!("FROM_YML={yml1}")), "{env:#?}");

    // Another caller on the same server, with its own PATH: its session has
    // its variables and PATH, and none of the first caller's.
    let two = sb.workspace("app/two");
    sb.mono_yml(&two, run_dump);
    let bin = sb.root().join("caller-two-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    init_with(&sb, &two, &[("OTHER_SECRET", &caller2), ("PATH", &path)]);
    let env = session_env(&sb, &two);
    assert!(env.contains(&format!("OTHER_SECRET={caller2}")), "{env:#?}");
    assert!(env.contains(&format!("PATH={path}")), "the second caller's PATH is not the session's: {env:#?}");
    assert!(!env.iter().any(|kv| kv.contains(&caller1)), "the first caller's variable leaked: {env:#?}");

    // The server killed (the user's `tmux kill-server`): the next init starts
    // another one, again without any value on its command line.
    sb.tmux(["kill-server"]).ok();
    let three = sb.workspace("app/three");
    sb.mono_yml(&three, &format!("env:\n  FROM_YML: {yml1}\n{run_dump}"));
    init_with(&sb, &three, &[("CALLER_SECRET", &caller3)]);
    assert_no_cmdline_holds(&needles, "after an init that restarted the tmux server");
    let env = session_env(&sb, &three);
    assert!(env.contains(&format!("CALLER_SECRET={caller3}")), "{env:#?}");
    assert!(env.contains(&format!("FROM_YML={yml1}")), "{env:#?}");
    assert!(!env.iter().any(|kv| kv.contains(&caller1)), "monod's own environment leaked: {env:#?}");

    for ws in [&one, &two, &three] {
        sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    }
    let seen = watch.finish();
    assert!(seen.is_empty(), "variable values on short-lived command lines: {seen:#?}");
}
