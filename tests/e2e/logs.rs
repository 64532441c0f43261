//! Rolling logs of the session, `mono logs`, activity, and a subscriber that
//! falls behind the event stream.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mono_e2e::{Sandbox, kill, stdout_lines, wait_until};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn rotation_keeps_disk_use_bounded_and_the_newest_output() {
    let sb = Sandbox::new();
    let ws = sb.workspace("l/rotate");
    sb.mono_yml(
        &ws,
        "logs:\n  max_size: 64KiB\n  keep: 2\nscripts:\n  run: i=1; while [ $i -le 30000 ]; do echo \"row $i ........................................................................\"; i=$((i+1)); done\n",
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
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
    let ws = sb.workspace("l/follow");
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let mut follower = sb
        .mono_cmd()
        .args(["logs", "-f", "-n", "0", ws.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut follower);
    // Typed into the user's shell: its output reaches the follower. The
    // follower shows nothing until it is subscribed, so the command is typed
    // again until its output arrives.
    let deadline = Instant::now() + WAIT;
    'typed: loop {
        assert!(Instant::now() < deadline, "the follower never showed the output");
        sb.tmux(["send-keys", "-t", "=mono-l-follow:", "echo marker-$((6*7))", "Enter"]);
        let round = Instant::now() + Duration::from_secs(1);
        while let Ok(line) = rx.recv_timeout(round.saturating_duration_since(Instant::now())) {
            if line.contains("marker-42") {
                break 'typed;
            }
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();

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
    let ws = sb.workspace("l/activity");
    sb.mono_yml(&ws, "activity:\n  idle_after: 400ms\n");
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let status = |sb: &Sandbox| sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json();
    wait_until(WAIT, "the new shell to go idle", || status(&sb)["activity"]["state"] == "idle");
    // From the start: the new shell's prompt, then our command.
    let mut follower = sb.follow_events(&["--since", "0", "--kind", "activity", "--env", "l-activity"]);
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
    // Transitions only: quiet now, nothing more comes.
    std::thread::sleep(Duration::from_millis(800));
    follower.collect_until("no more events", |_| true);
    assert_eq!(follower.seen.len(), 4, "{:?}", follower.seen);
}

#[test]
fn a_lagging_subscriber_is_told_where_to_resume() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "events:\n  live_buffer: 16\n").unwrap();
    sb.mono(["daemon", "start"]).ok();
    let follower = sb
        .mono_cmd()
        .args(["events", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A subscriber that stops reading...
    wait_until(WAIT, "the subscription", || sb.daemon_pid().is_some());
    std::thread::sleep(Duration::from_millis(300));
    kill(follower.id() as i32, 19);
    // ...while events pour in (one batch request, thousands of events).
    let batch: Vec<String> = (0..6000)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"events.publish","params":{{"kind":"user.flood","data":{{"i":{i},"pad":"{}"}}}}}}"#, "x".repeat(100)))
        .collect();
    for chunk in batch.chunks(2000) {
        let (code, _) = sb.post(&format!("[{}]", chunk.join(",")));
        assert_eq!(code, 200);
    }
    kill(follower.id() as i32, 18);
    let out = follower.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last: u64 = stderr
        .split("--since ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no resume point in {stderr}"));
    // Everything it printed is in order up to `last`, and resuming from there misses nothing.
    let seen: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seen.last(), Some(&last));
    assert!(last < 6000, "it never lagged");
    let rest = sb.mono(["events", "--since", &last.to_string(), "--no-follow", "--json"]).ok().stdout;
    let rest: Vec<u64> = rest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(rest.first(), Some(&(last + 1)));
    assert_eq!(rest.last(), Some(&6000));
    assert_eq!(rest.len() as u64, 6000 - last);
}
