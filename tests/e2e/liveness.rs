//! A daemon that holds its lock but does not answer (stopped with SIGSTOP,
//! or its socket's backlog full) is named by every command, with its pid
//! and what to do, instead of a hang; `mono doctor` reports it and still
//! runs its other checks, and names a read-only home, a full disk and
//! environments whose sessions are gone. (How soon a command names it,
//! about 4 s, two slices of the client's 2 s patience, is printed here, not
//! asserted: times are for bench/.)

use std::path::Path;
use std::time::{Duration, Instant};

use mono_e2e::{Sandbox, WAIT, kill, run_with_deadline, stop_process};

/// Resumes a stopped daemon when dropped, also when the test fails.
struct Stopped(i32);

impl Stopped {
    fn stop(pid: i32) -> Stopped {
        let stopped = Stopped(pid);
        stop_process(pid);
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        kill(self.0, 18);
    }
}

/// Runs each `mono ARGS` at once; returns each with how long it took.
fn all_at_once(sb: &Sandbox, commands: &[Vec<String>]) -> Vec<(String, Duration, mono_e2e::Run)> {
    let runs: Vec<_> = commands
        .iter()
        .map(|args| {
            let mut cmd = sb.mono_cmd();
            cmd.args(args);
            let shown = args.join(" ");
            std::thread::spawn(move || {
                let started = Instant::now();
                let run = run_with_deadline(cmd);
                (shown, started.elapsed(), run)
            })
        })
        .collect();
    runs.into_iter().map(|t| t.join().unwrap()).collect()
}

fn commands(ws: &Path, other: &Path) -> Vec<Vec<String>> {
    let ws = ws.to_str().unwrap();
    [
        vec!["init", other.to_str().unwrap()],
        vec!["list"],
        vec!["status", ws],
        vec!["run", ws],
        vec!["run", "--detach", ws],
        vec!["stop", ws],
        vec!["logs", ws],
        vec!["events", "--no-follow", "--since", "0"],
        vec!["destroy", ws],
        vec!["gc"],
        vec!["daemon", "status"],
        vec!["daemon", "stop"],
        vec!["daemon", "start"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_string).collect())
    .collect()
}

/// Every command failed with one line naming the pid and the fix.
#[track_caller]
fn assert_named(results: &[(String, Duration, mono_e2e::Run)], pid: i32) {
    for (command, _, run) in results {
        let line = run.stderr.lines().find(|l| l.starts_with("mono: error:")).unwrap_or_default();
        assert_ne!(run.code, 0, "`mono {command}` succeeded: {run:?}");
        assert_eq!(
            run.stderr.lines().filter(|l| l.starts_with("mono: error:")).count(),
            1,
            "`mono {command}`: {run:?}"
        );
        assert!(
            line.contains(&format!("monod (pid {pid}) holds"))
                && line.contains("does not answer")
                && line.contains(&format!("`kill -CONT {pid}`"))
                && line.contains(&format!("`kill {pid}`")),
            "`mono {command}`: {line}"
        );
    }
}

#[test]
fn a_stopped_daemon_is_named_by_every_command() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/hung", "scripts:\n  run: echo hi\n");
    let other = sb.workspace("p/other");
    let pid = sb.daemon_pid().unwrap();
    let stopped = Stopped::stop(pid);

    let results = all_at_once(&sb, &commands(&ws, &other));
    assert_named(&results, pid);
    let slowest = results.iter().map(|r| r.1).max().unwrap();
    eprintln!("slowest command named the stopped daemon after {slowest:?}");

    // doctor reports it as a finding and still runs its other checks.
    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(
        doctor.stdout.contains("ERROR daemon") && doctor.stdout.contains("it is stopped or hung"),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains(&format!("`kill -CONT {pid}`")), "{}", doctor.stdout);
    for other_check in ["ok    home", "ok    disk", "ok    state"] {
        assert!(doctor.stdout.contains(other_check), "no {other_check:?}:\n{}", doctor.stdout);
    }

    // Resumed, it serves again and nothing was changed meanwhile.
    drop(stopped);
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(sb.daemon_pid(), Some(pid));
}

#[test]
fn a_daemon_stopped_while_a_command_streams_is_named() {
    use mono_e2e::{Bounded, stdout_lines};
    use std::process::Stdio;
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/streams", "scripts:\n  run: echo run-started; exec sleep 600\n");
    let ws = ws.to_str().unwrap();
    let streaming =
        |args: &[&str]| sb.mono_cmd().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).start();
    // An attached run and a follower of its output, both past their
    // handshake and subscribed: each has shown the run's first line.
    let mut run = streaming(&["run", ws]);
    let mut follower = streaming(&["logs", "-f", ws]);
    for (what, child) in [("the run", &mut run), ("the follower", &mut follower)] {
        let lines = stdout_lines(child);
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains("run-started") => break,
                Ok(_) => {}
                Err(_) => panic!("{what} never showed the run's output"),
            }
        }
    }
    let pid = sb.daemon_pid().unwrap();
    let stopped = Stopped::stop(pid);
    let started = Instant::now();
    let results: Vec<_> = [("run", run), ("logs -f", follower)]
        .into_iter()
        .map(|(what, child)| (what.to_string(), started.elapsed(), child.finish()))
        .collect();
    assert_named(&results, pid);
    eprintln!("both streaming commands named the stopped daemon after {:?}", started.elapsed());
    drop(stopped);
    sb.mono(["stop", ws]).ok();
}

/// Connections the stopped daemon never accepts, until the listen backlog
/// is full (a connect then waits); closed when dropped.
fn fill_backlog(socket: &Path) -> Vec<rustix::fd::OwnedFd> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = limit.maximum.map_or(8192, |m| m.min(8192));
    setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: limit.maximum }).unwrap();
    let addr = SocketAddrUnix::new(socket).unwrap();
    let mut held = Vec::new();
    loop {
        let fd = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
        rustix::io::ioctl_fionbio(&fd, true).unwrap();
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => held.push(fd),
            Err(rustix::io::Errno::AGAIN) => return held,
            Err(e) => panic!("connect {}: {e} after {} connections", socket.display(), held.len()),
        }
        assert!(held.len() < 6000, "the backlog never filled");
    }
}

#[test]
fn a_daemon_whose_backlog_is_full_is_named_by_every_command() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace("p/full", "");
    let other = sb.workspace("p/other");
    let pid = sb.daemon_pid().unwrap();
    let stopped = Stopped::stop(pid);
    let held = fill_backlog(&sb.home.join("monod.sock"));
    assert!(held.len() >= 100, "{} connections", held.len());

    let results = all_at_once(&sb, &commands(&ws, &other));
    assert_named(&results, pid);

    drop(held);
    drop(stopped);
    // Resumed, monod first works through the closed connections of its
    // backlog (each counts against its connection limit until it is read),
    // then serves again.
    mono_e2e::wait_until(WAIT, "monod to serve again", || sb.mono(["list"]).code == 0);
}

#[test]
fn doctor_names_a_read_only_home_and_daemon_stop_works_there() {
    let sb = Sandbox::new();
    sb.init_workspace("p/ro", "");
    let pid = sb.daemon_pid().unwrap();
    // The session's capture (started by tmux, after init returns) opens its
    // log first: once it did, no file is opened for writing any more.
    let log = sb.home.join("logs/p-ro/output.log");
    mono_e2e::wait_until(WAIT, "the session's capture to start", || log.exists());
    sb.read_only_home();

    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(doctor.stdout.contains("is on a read-only file system"), "{}", doctor.stdout);
    assert!(doctor.stdout.contains("fix: remount it read-write"), "{}", doctor.stdout);

    let stop = sb.mono(["daemon", "stop"]).ok();
    assert!(stop.stdout.contains(&format!("monod stopped (pid {pid})")), "{stop:?}");
    assert!(sb.daemon_pid().is_none());
    let doctor = sb.mono(["doctor"]);
    assert!(doctor.stdout.contains("is on a read-only file system"), "{}", doctor.stdout);
    sb.writable_home();
    sb.mono(["list"]).ok();
}

#[test]
fn doctor_names_a_full_disk() {
    let sb = Sandbox::new();
    sb.tmpfs_home("8m");
    sb.init_workspace("p/full-disk", "");
    assert!(sb.mono(["doctor"]).stdout.contains("ok    disk"));
    sb.fill(&sb.home.join("filler"));
    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(
        doctor.stdout.contains(&format!("the file system of {} is full", sb.home.display())),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("fix: free space on it"), "{}", doctor.stdout);
    std::fs::remove_file(sb.home.join("filler")).unwrap();
}

#[test]
fn doctor_names_environments_whose_sessions_are_gone() {
    let sb = Sandbox::new();
    let a = sb.init_workspace("p/a", "");
    sb.init_workspace("p/b", "");
    assert_eq!(sb.mono(["doctor"]).code, 0);

    sb.tmux(["kill-session", "-t", "=mono-p-a"]);
    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(doctor.stdout.contains("p-a: its tmux session mono-p-a is gone"), "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains(&format!("fix: mono destroy {0} && mono init {0}", a.display())),
        "{}",
        doctor.stdout
    );

    sb.tmux(["kill-server"]);
    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(
        doctor
            .stdout
            .contains("every environment's tmux session is gone (p-a, p-b): the tmux server was killed"),
        "{}",
        doctor.stdout
    );
}
