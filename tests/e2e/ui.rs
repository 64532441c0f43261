//! `mono ui`, driven as a person would: in a real tmux pane of 80x24, keys
//! sent with `send-keys`, the screen read with `capture-pane`, against a
//! real daemon whose environments change underneath it.

use std::path::Path;

use mono_e2e::{Sandbox, WAIT, wait_until};

/// The dashboard, running in a detached tmux session of the sandbox's
/// server; killed when dropped.
struct Dashboard<'a> {
    sb: &'a Sandbox,
}

/// The dashboard's pane, as a tmux target.
const PANE: &str = "=dashboard:";

impl<'a> Dashboard<'a> {
    fn start(sb: &'a Sandbox) -> Dashboard<'a> {
        let mono = mono_e2e::bin_dir().join("mono");
        let home = format!("MONO_HOME={}", sb.home.display());
        let tmux_dir = format!("TMUX_TMPDIR={}", sb.tmux_dir.display());
        let mut args = vec!["new-session", "-d", "-s", "dashboard", "-x", "80", "-y", "24"];
        args.extend(["-e", &home, "-e", &tmux_dir, "-e", "LANG=C.UTF-8", "--", mono.to_str().unwrap(), "ui"]);
        sb.tmux(&args).ok();
        Dashboard { sb }
    }

    /// The screen as it is now.
    fn screen(&self) -> String {
        self.sb.tmux(["capture-pane", "-p", "-t", PANE]).stdout
    }

    /// Waits until the screen shows every one of `texts`; returns it.
    #[track_caller]
    fn shows(&self, texts: &[&str]) -> String {
        let mut last = String::new();
        let shown = within(|| {
            last = self.screen();
            texts.iter().all(|t| last.contains(t)).then(|| last.clone())
        });
        shown.unwrap_or_else(|| {
            panic!("the dashboard did not show {texts:?} within {WAIT:?}; it shows:\n{last}")
        })
    }

    fn press(&self, key: &str) {
        self.sb.tmux(["send-keys", "-t", PANE, key]).ok();
    }
}

impl Drop for Dashboard<'_> {
    fn drop(&mut self) {
        let _ = self.sb.tmux(["kill-session", "-t", "=dashboard"]);
    }
}

/// The screen fits 80x24: 24 rows, none wider than 80 columns, the table's
/// frame at the top, the log pane's frame closed above the line of keys.
#[track_caller]
fn fits_80x24(screen: &str) {
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(rows.len(), 24, "{screen}");
    assert!(rows.iter().all(|r| r.chars().count() <= 80), "{screen}");
    assert!(rows[0].starts_with("┌ mono · "), "{screen}");
    assert!(rows[22].starts_with('└') && rows[22].ends_with('┘'), "{screen}");
    assert!(rows[23].contains("r run") && rows[23].contains("s stop"), "{screen}");
}

fn init(sb: &Sandbox, ws: &Path) {
    sb.mono(["init", ws.to_str().unwrap()]).ok();
}

#[test]
fn the_dashboard_follows_environments_live_and_runs_stops_and_destroys() {
    let sb = Sandbox::new();
    sb.init_workspace("ui/a", "scripts:\n  run: \"echo ui-run-$((6*7)); exec sleep 600\"\n");
    let ui = Dashboard::start(&sb);
    let screen = ui.shows(&["1 environments", "ui-a", "ui-a: session output"]);
    fits_80x24(&screen);

    // A new environment appears with no key pressed.
    let b = sb.workspace("ui/b");
    init(&sb, &b);
    let screen = ui.shows(&["2 environments", "ui-b"]);
    fits_80x24(&screen);

    // r runs the selected one (the first, ui-a): its output reaches the
    // log pane and the table shows the run; s stops it.
    ui.press("r");
    let screen = ui.shows(&["ui-run-42", "ui-a: run "]);
    fits_80x24(&screen);
    let run_row = |screen: &str| screen.lines().find(|l| l.contains("ui-a ")).unwrap_or_default().to_string();
    wait_until(WAIT, "the table to show the run", || run_row(&ui.screen()).contains("run "));
    ui.press("s");
    ui.shows(&["stopped (", "exited ("]);
    wait_until(WAIT, "the table to show the run ended", || !run_row(&ui.screen()).contains("run "));

    // d asks first; anything but y keeps it; y destroys it.
    ui.press("j");
    ui.shows(&["ui-b: session output"]);
    ui.press("d");
    ui.shows(&["destroy ui-b? y to confirm"]);
    ui.press("n");
    ui.shows(&["ui-b kept"]);
    assert_eq!(sb.env_rows(), 2);
    ui.press("d");
    ui.press("y");
    let screen = ui.shows(&["ui-b destroyed", "1 environments"]);
    assert!(!screen.lines().any(|l| l.starts_with("│ui-b ")), "{screen}");
    assert_eq!(sb.env_rows(), 1);

    // The daemon restarts: the dashboard says so, reconnects, and what
    // happened meanwhile shows.
    sb.mono(["daemon", "stop"]).ok();
    ui.shows(&["monod is not answering: reconnecting"]);
    let c = sb.workspace("ui/c");
    init(&sb, &c);
    let screen = ui.shows(&["2 environments", "ui-c"]);
    assert!(!screen.contains("reconnecting"), "{screen}");
    fits_80x24(&screen);

    // q leaves: the pane's program ends, so does the session.
    ui.press("q");
    wait_until(WAIT, "the dashboard to exit", || !sb.has_session("dashboard"));
}

#[test]
fn the_dashboard_shows_services_with_their_ports_and_follows_their_logs() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("ui-docker");
    let image = mono_e2e::docker::TEST_IMAGE;
    sb.compose(
        &ws,
        &format!(
            "services:\n  web:\n    image: {image}\n    init: true\n    command: [\"sh\", \"-c\", \"echo web-says-$((6*7)); exec httpd -f -p 8080\"]\n    ports: [\"8080\"]\n  \
             worker:\n    image: {image}\n    init: true\n    command: [\"sh\", \"-c\", \"echo worker-up; exec sleep 3600\"]\n"
        ),
    );
    init(&sb, &ws);
    let ui = Dashboard::start(&sb);
    let screen = ui.shows(&["2/2 running", "web running", "8080->", "worker running"]);
    fits_80x24(&screen);
    // l: the session, then web's logs, then worker's.
    ui.press("l");
    ui.shows(&[": web logs", "web-says-42"]);
    ui.press("l");
    let screen = ui.shows(&[": worker logs", "worker-up"]);
    assert!(!screen.contains("web-says-42"), "{screen}");
    fits_80x24(&screen);
    // A service stopped behind the dashboard's back shows at once.
    let status = sb.mono(["status", "--json", ws.to_str().unwrap()]).ok().json();
    let worker = status["containers"].as_array().unwrap().iter().find(|c| c["service"] == "worker").unwrap()
        ["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, _, err) = mono_e2e::docker::docker(["stop", "-t", "1", &worker]);
    assert!(ok, "{err}");
    ui.shows(&["1/2 running", "worker exited"]);
    drop(ui);
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn a_hung_daemon_never_freezes_the_dashboard() {
    let sb = Sandbox::new();
    sb.init_workspace("ui/hung", "");
    let ui = Dashboard::start(&sb);
    ui.shows(&["ui-hung: session output"]);
    let pid = sb.daemon_pid().unwrap();
    mono_e2e::stop_process(pid);
    // Following the log needs the daemon: the dashboard gives up on it
    // and says so, and its keys still work while it tries again.
    ui.press("l");
    ui.shows(&["monod is not answering: reconnecting"]);
    ui.press("d");
    ui.shows(&["destroy ui-hung? y to confirm"]);
    ui.press("n");
    ui.press("q");
    let left = wait_for_exit(&sb);
    mono_e2e::kill(pid, 18);
    assert!(left, "q did not end the dashboard while monod was stopped:\n{}", ui.screen());
    assert_eq!(sb.mono(["list", "--json"]).ok().json().as_array().map(Vec::len), Some(1));
}

/// Whether the dashboard's session ended within [`WAIT`].
fn wait_for_exit(sb: &Sandbox) -> bool {
    within(|| (!sb.has_session("dashboard")).then_some(())).is_some()
}

/// What `probe` gives once it gives something, polled until [`WAIT`]
/// passes (`None` then).
fn within<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
