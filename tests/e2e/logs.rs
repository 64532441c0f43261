//! Rolling logs of the session, `mono logs`, activity, and a subscriber that
//! falls behind the event stream.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mono_e2e::{Bounded, Sandbox, WAIT, kill, stdout_lines, wait_until};

#[test]
fn rotation_keeps_disk_use_bounded_and_the_newest_output() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace(
        "l/rotate",
        "logs:\n  max_size: 64KiB\n  keep: 2\nscripts:\n  run: i=1; while [ $i -le 30000 ]; do echo \"row $i ........................................................................\"; i=$((i+1)); done\n",
    );
    sb.mono(["run", ws.to_str().unwrap()]).ok();
    let dir = sb.home.join("logs/l-rotate");
    let files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("output.log"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    let total: u64 = files.iter().map(|f| f.1).sum();
    // Three files at most, each at most the limit plus one 256 KiB batch.
    assert!(files.len() <= 3, "{files:?}");
    assert!(total <= 3 * (64 + 256) * 1024, "{total} bytes kept: {files:?}");
    let tail = sb.mono(["logs", ws.to_str().unwrap(), "-n", "3"]).ok();
    let last: Vec<&str> = tail.stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(last.iter().any(|l| l.starts_with("row 30000 ")), "{last:?}");
    // What is kept is a contiguous, ordered tail of the output.
    let kept = sb.mono(["logs", ws.to_str().unwrap()]).ok().stdout;
    let rows: Vec<u32> =
        kept.lines().filter_map(|l| l.strip_prefix("row ")?.split(' ').next()?.parse().ok()).collect();
    assert!(rows.len() > 1000, "{}", rows.len());
    assert!(rows.windows(2).all(|w| w[1] == w[0] + 1), "gaps in the kept output");
    assert_eq!(rows.last(), Some(&30000));
}

#[test]
fn output_is_followed_live_and_captured_while_the_daemon_is_down() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("l/follow", "");
    let mut follower = sb
        .mono_cmd()
        .args(["logs", "-f", "-n", "0", ws.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .start();
    let rx = stdout_lines(&mut follower);
    // Typed into the user's shell: its output reaches the follower. The
    // follower shows nothing until it is subscribed, so the command is typed
    // again until its output arrives.
    wait_until(WAIT, "the follower to show the output", || {
        sb.tmux(["send-keys", "-t", "=mono-l-follow:", "echo marker-$((6*7))", "Enter"]);
        let round = Instant::now() + Duration::from_secs(1);
        while let Ok(line) = rx.recv_timeout(round.saturating_duration_since(Instant::now())) {
            if line.contains("marker-42") {
                return true;
            }
        }
        false
    });
    drop(follower);

    // The capture does not go through monod: output while it is stopped is kept.
    sb.mono(["daemon", "stop"]).ok();
    sb.tmux(["send-keys", "-t", "=mono-l-follow:", "echo while-$((1+1))-down", "Enter"]);
    wait_until(WAIT, "the output to reach the log", || {
        std::fs::read_to_string(sb.home.join("logs/l-follow/output.log"))
            .is_ok_and(|s| s.contains("while-2-down"))
    });
    let logs = sb.mono(["logs", ws.to_str().unwrap()]).ok();
    assert!(logs.stdout.contains("while-2-down"), "{logs:?}");
}

#[test]
fn activity_turns_active_on_output_and_idle_after_the_quiet_period() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("l/activity", "activity:\n  idle_after: 400ms\n");
    let status = |sb: &Sandbox| sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
    wait_until(WAIT, "the new shell to go idle", || status(&sb)["activity"]["state"] == "idle");
    // From the start: the new shell's prompt, then our command (and a
    // marker of the test's own, below).
    let mut follower = sb.follow_events(&[
        "--since",
        "0",
        "--kind",
        "activity",
        "--kind",
        "user.quiet",
        "--env",
        "l-activity",
    ]);
    follower.collect_until("the prompt's active and idle", |seen| seen.len() >= 2);
    sb.tmux(["send-keys", "-t", "=mono-l-activity:", "echo busy", "Enter"]);
    follower.collect_until("active, then idle", |seen| seen.len() >= 4);
    let states: Vec<&str> = follower.seen.iter().map(|e| e["data"]["state"].as_str().unwrap()).collect();
    assert_eq!(states[..4], ["active", "idle", "active", "idle"]);
    let after = status(&sb);
    assert_eq!(after["activity"]["state"], "idle");
    assert!(after["activity"]["last_output"].as_str().unwrap().ends_with('Z'), "{after}");
    let table = sb.mono(["list"]).ok().stdout;
    assert!(table.contains("ACTIVITY") && table.contains("idle "), "{table}");
    // Transitions only: nothing more comes while it stays quiet. Once the
    // daemon has seen the session quiet for three idle periods, a marker
    // is published: every activity event stored before it reaches the
    // follower first.
    wait_until(WAIT, "three quiet idle periods", || {
        status(&sb)["activity"]["quiet_ms"].as_u64().is_some_and(|quiet| quiet >= 1200)
    });
    let (code, reply) = sb.post(
        r#"{"jsonrpc":"2.0","id":1,"method":"events.publish","params":{"kind":"user.quiet","env":"l-activity"}}"#,
    );
    assert_eq!(code, 200, "{reply}");
    follower.collect_until("the marker", |seen| seen.iter().any(|e| e["kind"] == "user.quiet"));
    let kinds: Vec<&str> = follower.seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["activity", "activity", "activity", "activity", "user.quiet"], "{:?}", follower.seen);
}

#[test]
fn a_lagging_subscriber_is_told_where_to_resume() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "events:\n  live_buffer: 16\n").unwrap();
    sb.mono(["daemon", "start"]).ok();
    let mut follower =
        sb.mono_cmd().args(["events", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).start();
    let lines = stdout_lines(&mut follower);
    let seq = |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"].as_u64().unwrap();
    // The follower is subscribed once it prints a probe published after it
    // started (published again until one arrives).
    let probe = r#"{"jsonrpc":"2.0","id":1,"method":"events.publish","params":{"kind":"user.probe"}}"#;
    let mut seen: Vec<u64> = Vec::new();
    wait_until(WAIT, "the follower to print a probe event", || {
        assert_eq!(sb.post(probe).0, 200);
        seen.extend(lines.recv_timeout(Duration::from_millis(200)).iter().map(|l| seq(l)));
        !seen.is_empty()
    });
    // A subscriber that stops reading...
    kill(follower.id() as i32, 19);
    // ...while events pour in (one batch request, thousands of events).
    let batch: Vec<String> = (0..6000)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"events.publish","params":{{"kind":"user.flood","data":{{"i":{i},"pad":"{}"}}}}}}"#, "x".repeat(100)))
        .collect();
    let mut newest = 0;
    for chunk in batch.chunks(2000) {
        let (code, body) = sb.post(&format!("[{}]", chunk.join(",")));
        assert_eq!(code, 200);
        let replies: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        newest = replies.iter().filter_map(|r| r["result"].as_u64()).max().unwrap_or(newest).max(newest);
    }
    kill(follower.id() as i32, 18);
    let out = follower.finish();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let last: u64 = out
        .stderr
        .split("--since ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no resume point in {}", out.stderr));
    // Everything it printed is in order up to `last`, and resuming from there misses nothing.
    seen.extend(lines.iter().map(|l| seq(&l)));
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "out of order: {seen:?}");
    assert_eq!(seen.last(), Some(&last));
    assert!(last < newest, "it never lagged");
    let rest = sb.mono(["events", "--since", &last.to_string(), "--no-follow", "--json"]).ok().stdout;
    let rest: Vec<u64> = rest.lines().map(seq).collect();
    assert_eq!(rest.first(), Some(&(last + 1)));
    assert_eq!(rest.last(), Some(&newest));
    assert_eq!(rest.len() as u64, newest - last);
}
