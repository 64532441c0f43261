//! The event stream: stored, replayed, resumed across restarts, followed live.

use mono_e2e::Sandbox;

/// `(seq, env, kind)` of the events `mono events ARGS --json` prints.
fn events(sb: &Sandbox, args: &[&str]) -> Vec<(u64, String, String)> {
    let out = sb.mono([&["events", "--json", "--no-follow"][..], args].concat()).ok();
    out.stdout.lines().map(parse).collect()
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
    let a = sb.workspace("p/a");
    sb.mono(["init", a.to_str().unwrap()]).ok();
    sb.mono(["destroy", a.to_str().unwrap()]).ok();
    let bad = sb.workspace("p/bad");
    sb.mono_yml(&bad, "scripts:\n  init: exit 5\n");
    sb.mono(["init", bad.to_str().unwrap()]).fails_with("init script failed (exit 5)");
    let kinds =
        |v: &[(u64, String, String)]| v.iter().map(|e| (e.0, e.1.clone(), e.2.clone())).collect::<Vec<_>>();
    let all = events(&sb, &["--since", "0"]);
    assert_eq!(
        kinds(&all),
        vec![
            (1, "p-a".into(), "env.created".into()),
            (2, "p-a".into(), "env.ready".into()),
            (3, "p-a".into(), "env.destroyed".into()),
            (4, "p-bad".into(), "env.created".into()),
            (5, "p-bad".into(), "env.failed".into()),
        ]
    );
    // Without --since nothing is replayed.
    assert!(events(&sb, &[]).is_empty());
    // Filters.
    assert_eq!(events(&sb, &["--since", "0", "--env", "p-bad"]).len(), 2);
    assert_eq!(events(&sb, &["--since", "0", "--kind", "env.ready", "--kind", "env.failed"]).len(), 2);

    // seq survives a restart: the next event is 6.
    sb.mono(["daemon", "stop"]).ok();
    sb.mono(["init", a.to_str().unwrap()]).ok();
    let resumed = events(&sb, &["--since", "5"]);
    assert_eq!(resumed.iter().map(|e| e.0).collect::<Vec<_>>(), vec![6, 7]);
    assert_eq!(resumed[1].2, "env.ready");
}

#[test]
fn a_live_follower_sees_every_event_in_order() {
    let sb = Sandbox::new();
    let first = sb.workspace("live/first");
    sb.mono(["init", first.to_str().unwrap()]).ok();
    // Follow from the start while more happens: replay and live must join
    // with no gap and no duplicate.
    let mut follower = sb.follow_events(&["--since", "0"]);
    for i in 0..4 {
        let ws = sb.workspace(&format!("live/ws{i}"));
        sb.mono(["init", ws.to_str().unwrap()]).ok();
        sb.mono(["run", ws.to_str().unwrap()]).fails_with("no run script");
    }
    sb.mono(["destroy", first.to_str().unwrap()]).ok();
    follower.collect_until("11 events", |seen| seen.len() >= 11);
    let seen: Vec<(u64, String, String)> = follower.seen.iter().map(|v| parse(&v.to_string())).collect();
    assert_eq!(seen.iter().map(|e| e.0).collect::<Vec<_>>(), (1..=11).collect::<Vec<u64>>());
    assert_eq!(seen[10], (11, "live-first".to_string(), "env.destroyed".to_string()));
}
