//! The event stream: stored, replayed, resumed across restarts, followed live.

use mono_e2e::Sandbox;

/// `(seq, env, kind)` of the events `mono events ARGS --json` prints.
fn events(sb: &Sandbox, args: &[&str]) -> Vec<(u64, String, String)> {
    let out = sb.mono([&["events", "--json", "--no-follow"][..], args].concat()).ok();
    out.stdout.lines().map(parse).collect()
}

/// Without `activity` events, whose timing depends on when shells print.
/// Operations' progress lines are live only, never in the log: one here
/// would break the sequences the tests expect.
fn lifecycle(v: &[(u64, String, String)]) -> Vec<(u64, String, String)> {
    v.iter().filter(|e| e.2 != "activity").cloned().collect()
}

/// Asserts that seqs go up by one from `first`.
fn assert_contiguous(v: &[(u64, String, String)], first: u64) {
    let seqs: Vec<u64> = v.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>(), "{v:?}");
}

fn parse(line: &str) -> (u64, String, String) {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (
        v["seq"].as_u64().unwrap(),
        v["env"].as_str().unwrap_or("-").to_string(),
        v["kind"].as_str().unwrap().to_string(),
    )
}

#[test]
fn stored_events_replay_and_resume_across_restart() {
    let sb = Sandbox::new();
    let a = sb.init_workspace("p/a", "");
    sb.mono(["destroy", a.to_str().unwrap()]).ok();
    let bad = sb.workspace("p/bad");
    sb.mono_yml(&bad, "scripts:\n  init: exit 5\n");
    sb.mono(["init", bad.to_str().unwrap()]).fails_with("init script failed (exit 5)");
    let all = events(&sb, &["--since", "0"]);
    assert_contiguous(&all, 1);
    let names = |v: Vec<(u64, String, String)>| v.into_iter().map(|e| (e.1, e.2)).collect::<Vec<_>>();
    assert_eq!(
        names(lifecycle(&all)),
        vec![
            ("p-a".into(), "env.created".into()),
            ("p-a".into(), "env.ready".into()),
            ("p-a".into(), "env.destroyed".into()),
            ("p-bad".into(), "env.created".into()),
            ("p-bad".into(), "env.failed".into()),
        ]
    );
    let last = all.last().unwrap().0;
    // Without --since nothing is replayed.
    assert!(events(&sb, &[]).is_empty());
    // Filters.
    assert_eq!(lifecycle(&events(&sb, &["--since", "0", "--env", "p-bad"])).len(), 2);
    assert_eq!(events(&sb, &["--since", "0", "--kind", "env.ready", "--kind", "env.failed"]).len(), 2);

    // seq survives a restart: it goes on from the last one.
    sb.mono(["daemon", "stop"]).ok();
    sb.mono(["init", a.to_str().unwrap()]).ok();
    let resumed = events(&sb, &["--since", &last.to_string()]);
    assert_contiguous(&resumed, last + 1);
    assert_eq!(
        names(lifecycle(&resumed)),
        vec![("p-a".into(), "env.created".into()), ("p-a".into(), "env.ready".into())]
    );
}

#[test]
fn a_live_follower_sees_every_event_in_order() {
    let sb = Sandbox::new();
    let first = sb.init_workspace("live/first", "");
    // Follow from the start while more happens: replay and live must join
    // with no gap and no duplicate.
    let mut follower = sb.follow_events(&["--since", "0"]);
    for i in 0..4 {
        let ws = sb.init_workspace(&format!("live/ws{i}"), "");
        sb.mono(["run", ws.to_str().unwrap()]).fails_with("no run script");
    }
    sb.mono(["destroy", first.to_str().unwrap()]).ok();
    follower.collect_until("11 lifecycle events", |seen| {
        seen.iter().filter(|v| v["kind"] != "activity").count() >= 11
    });
    let seen: Vec<(u64, String, String)> = follower.seen.iter().map(|v| parse(&v.to_string())).collect();
    assert_contiguous(&seen, 1);
    let lifecycle = lifecycle(&seen);
    assert_eq!(lifecycle.len(), 11, "{lifecycle:?}");
    assert_eq!((lifecycle[10].1.as_str(), lifecycle[10].2.as_str()), ("live-first", "env.destroyed"));
}
