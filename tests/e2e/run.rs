//! `mono run` in the run window: output, exit status, stop by signal or by
//! `mono stop`, a second run replacing the first, `--detach`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mono_e2e::{Bounded, Sandbox, Spawned, WAIT, alive, kill, stdout_lines, wait_until};

/// Output lines without the pty's `\r`, each from `from` on: the session's
/// shell may print its prompt at the same moment, on the same line.
fn lines_from(text: &str, from: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.find(from).map(|i| l[i..].trim_end_matches('\r').to_string())).collect()
}

#[test]
fn run_prints_its_output_and_passes_its_exit_status_through() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("r/status", "scripts:\n  run: echo \"hello from $MONO_ENV_NAME\"; exit 3\n");
    let run = sb.mono(["run", ws.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(lines_from(&run.stdout, "hello from"), ["hello from r-status"], "{run:?}");
    assert!(run.stderr.contains("run ") && run.stderr.contains("mono-r-status:mono-run"), "{run:?}");

    let events = sb
        .mono([
            "events",
            "--since",
            "0",
            "--no-follow",
            "--json",
            "--kind",
            "run.started",
            "--kind",
            "run.exited",
        ])
        .ok();
    let events: Vec<serde_json::Value> =
        events.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["data"]["run"], events[0]["seq"], "the run's id is its run.started seq");
    assert_eq!(events[1]["data"]["code"], 3);
    // The window is gone with the run.
    let windows = sb.tmux(["list-windows", "-t", "=mono-r-status:", "-F", "#{window_name}"]).stdout;
    assert!(!windows.contains("mono-run"), "{windows}");
}

#[test]
fn twenty_thousand_lines_arrive_complete_and_in_order() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace(
        "r/many",
        "scripts:\n  run: i=1; while [ $i -le 20000 ]; do echo \"line $i\"; i=$((i+1)); done\n",
    );
    let expected: Vec<String> = (1..=20000).map(|i| format!("line {i}")).collect();
    let run = sb.mono(["run", ws.to_str().unwrap()]).ok();
    let printed = lines_from(&run.stdout, "line ");
    assert_eq!(printed.len(), 20000);
    assert!(printed == expected, "mono run printed lines out of order or changed");
    // The rolling log has them too, in order.
    let logs = sb.mono(["logs", ws.to_str().unwrap()]).ok();
    let kept = lines_from(&logs.stdout, "line ");
    assert!(kept == expected, "the log lost or reordered lines ({} kept)", kept.len());
    let tail = sb.mono(["logs", ws.to_str().unwrap(), "-n", "2"]).ok();
    assert_eq!(lines_from(&tail.stdout, "line ").last().map(String::as_str), Some("line 20000"), "{tail:?}");
}

/// Starts `mono run` in the foreground and waits until it printed `marker`.
#[track_caller]
fn start_foreground(sb: &Sandbox, ws: &std::path::Path, marker: &str) -> Spawned {
    let mut child = sb
        .mono_cmd()
        .args(["run", ws.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    let rx = stdout_lines(&mut child);
    wait_until(WAIT, &format!("{marker:?} from mono run"), || {
        rx.recv_timeout(Duration::from_millis(100)).is_ok_and(|line| line.contains(marker))
    });
    child
}

fn run_pid(sb: &Sandbox, ws: &std::path::Path) -> Option<i64> {
    sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()["run"]["pid"].as_i64()
}

#[test]
fn sigterm_and_sigint_to_mono_run_stop_the_run() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("r/stop", "scripts:\n  run: echo serving; exec sleep 1000\n");
    for signal in [15, 2, 1] {
        let mut child = start_foreground(&sb, &ws, "serving");
        let pid = run_pid(&sb, &ws).expect("a run in progress") as i32;
        assert!(alive(pid));
        kill(child.id() as i32, signal);
        // The interrupt ends `sleep`: status 130, and mono exits with it.
        assert_eq!(child.wait_code(), 130, "after signal {signal}");
        wait_until(WAIT, "the run's processes to end", || !alive(pid));
        assert_eq!(run_pid(&sb, &ws), None);
    }
}

#[test]
fn stop_interrupts_then_kills_after_the_grace_period() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("r/grace", "scripts:\n  run: trap '' INT; echo stubborn; while :; do sleep 0.1; done\nrun:\n  stop_grace: 600ms\n");
    let started = sb.mono(["run", "--detach", "--json", ws.to_str().unwrap()]).ok().json();
    let pid = started["run"]["pid"].as_i64().unwrap() as i32;
    wait_until(WAIT, "the run to print", || {
        sb.mono(["logs", ws.to_str().unwrap()]).ok().stdout.contains("stubborn")
    });
    let t = Instant::now();
    let stopped = sb.mono(["stop", ws.to_str().unwrap(), "--json"]).ok().json();
    assert!(t.elapsed() >= Duration::from_millis(600), "killed before the grace period");
    // Killed: tmux kept the signal, reported as a shell would, 137.
    assert_eq!(stopped["exit"]["code"], 137, "{stopped}");
    assert!(!alive(pid));
    let again = sb.mono(["stop", ws.to_str().unwrap()]).ok();
    assert!(again.stdout.contains("no run in progress"), "{again:?}");
}

#[test]
fn detach_returns_at_once_and_a_new_run_stops_the_previous_one() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("r/again", "scripts:\n  run: echo run-$$; exec sleep 1000\n");
    // It returns while the run goes on.
    let first = sb.mono(["run", "-d", "--json", ws.to_str().unwrap()]).ok().json();
    let first_pid = first["run"]["pid"].as_i64().unwrap() as i32;
    assert!(alive(first_pid));
    let second = sb.mono(["run", "-d", "--json", ws.to_str().unwrap()]).ok().json();
    assert_eq!(second["stopped"]["run"], first["run"]["run"], "{second}");
    assert_eq!(second["stopped"]["code"], 130);
    assert!(!alive(first_pid));
    assert_eq!(run_pid(&sb, &ws), second["run"]["pid"].as_i64());
    let windows = sb.tmux(["list-windows", "-t", "=mono-r-again:", "-F", "#{window_name}"]).stdout;
    assert_eq!(windows.matches("mono-run").count(), 1, "{windows}");
    sb.mono(["stop", ws.to_str().unwrap()]).ok();
}

/// The stored events of `kind`.
fn events_of(sb: &Sandbox, kind: &str) -> Vec<serde_json::Value> {
    let out = sb.mono(["events", "--since", "0", "--no-follow", "--json", "--kind", kind]).ok();
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_full_log_disk_still_reports_the_true_exit_status() {
    let sb = Sandbox::new();
    // The logs (and so run.exit) on a small file system of their own.
    sb.tmpfs(&sb.home.join("logs"), "1m");
    let ws = sb.init_workspace("r/full", "scripts:\n  run: echo ran; exit 3\n");
    sb.fill(&sb.home.join("logs/filler"));
    let run = sb.mono(["run", ws.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("mono: error"), "{run:?}");
    let exited = events_of(&sb, "run.exited");
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(exited[0]["data"]["code"], 3, "{exited:?}");
    std::fs::remove_file(sb.home.join("logs/filler")).unwrap();
}

#[test]
fn a_full_home_keeps_the_true_status_and_the_run_exited_event() {
    let sb = Sandbox::new();
    sb.tmpfs_home("16m");
    // The run itself fills the disk, then exits 3; it starts filling once
    // the run is recorded (`mono run` returned), as a run that fills the
    // disk before monod records its start is not started at all.
    let gate = sb.root().join("gate");
    let ws = sb.init_workspace(
        "r/fills",
        &format!(
            "scripts:\n  run: while [ ! -e '{}' ]; do sleep 0.02; done; cat /dev/zero > \"$MONO_DATA_DIR/fill\"; exit 3\n",
            gate.display()
        ),
    );
    let started = sb.mono(["run", "--detach", "--json", ws.to_str().unwrap()]).ok().json();
    let id = started["run"]["run"].as_u64().unwrap();
    std::fs::write(&gate, "").unwrap();
    wait_until(WAIT, "the run to end", || run_pid(&sb, &ws).is_none());
    // Recorded once there is room again.
    std::fs::remove_file(sb.home.join("data/r-fills/fill")).unwrap();
    let mut exited = Vec::new();
    wait_until(WAIT, "run.exited to be recorded", || {
        exited = events_of(&sb, "run.exited");
        !exited.is_empty()
    });
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(exited[0]["data"], serde_json::json!({"run": id, "code": 3}), "{exited:?}");
    let all = sb.mono(["events", "--since", "0", "--no-follow", "--json"]).ok();
    let seqs: Vec<u64> = all
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.len() > 3, "{}", all.stdout);
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seqs.len(), "a seq was given twice: {seqs:?}");
}

#[test]
fn a_run_whose_window_is_closed_reports_an_unknown_status_with_the_reason() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("r/closed", "scripts:\n  run: echo serving; exec sleep 1000\n");
    let mut child = start_foreground(&sb, &ws, "serving");
    let pane = sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()["run"]["pane"].clone();
    sb.tmux(["kill-pane", "-t", pane.as_str().unwrap()]).ok();
    assert_eq!(child.wait_code(), 1, "not a made-up status");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("mono: error:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("ended, but its exit status unknown: the run window was closed"), "{stderr}");
    let exited = events_of(&sb, "run.exited");
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(exited[0]["data"]["code"], serde_json::Value::Null, "{exited:?}");
    assert!(exited[0]["data"]["reason"].as_str().is_some_and(|r| r.contains("closed")), "{exited:?}");
}
