//! Harness for the end-to-end tests: every test gets a [`Sandbox`] with its
//! own `MONO_HOME`, its own tmux server (`TMUX_TMPDIR`) and its own
//! workspaces, and runs the real `mono` and `monod` binaries against them.
//! Dropping the sandbox stops its daemon and tmux server, also when the test
//! failed, so nothing is left behind.
//!
//! It also keeps tests from misleading: every child a test starts has a
//! deadline ([`Bounded`], [`Spawned`]), so a hang fails one test, naming the
//! command, instead of stalling the suite; tests wait on signals with one
//! deadline ([`wait_until`], [`WAIT`]) rather than sleep and hope; and a test
//! that cannot check what it is about (not root, a tool missing) fails
//! saying why ([`require_root`], [`require_program`]) instead of passing.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod cmdlines;
pub mod docker;
pub mod engines;
pub mod proxy;
pub mod remote;
pub mod ws;

/// How long one command of a test may take (docker-mode inits pull and
/// build, so this is generous): a child that hangs fails its test after it.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(180);

/// How long a test waits for something it caused to show (a file, a line,
/// an event, a process's end) before it fails: one deadline for every
/// test. Only a failing test waits it out, so it is generous for a debug
/// build on a loaded machine.
pub const WAIT: Duration = Duration::from_secs(60);

/// Variables of the test process that must not leak into the sandbox.
const SCRUBBED: [&str; 17] = [
    "TMUX",
    "TMUX_PANE",
    "MONO_HOME",
    "CONDUCTOR_WORKSPACE_PATH",
    "CONDUCTOR_ROOT_PATH",
    "CONDUCTOR_WORKSPACE_NAME",
    // A test run under a service manager must not hand its sockets or
    // readiness to the daemons it starts.
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    // The test run's own knobs, read by the harness and the tests, never by
    // mono: passed on, they would be the caller's variables of every command
    // (a test that counts an environment's variables saw one more).
    "MONO_TEST_FIRST_SLOT",
    "MONO_TEST_NO_DOCKER",
    "MONO_TEST_NO_CORPUS",
    "MONO_COMPOSE_V2",
    "MONO_COMPOSE_CORPUS",
    "MONO_CORPUS_ONLY",
    "MONO_CORPUS_REPORT",
];

/// Directory holding the built `mono` and `monod` (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe.parent().and_then(Path::parent).expect("target directory").to_path_buf();
    for bin in ["mono", "monod"] {
        assert!(
            dir.join(bin).is_file(),
            "{} is missing: build the binaries first (`cargo build --workspace --bins`, done by scripts/test)",
            dir.join(bin).display()
        );
    }
    dir
}

/// An isolated world for one test.
pub struct Sandbox {
    root: TempDir,
    /// A name unique to this sandbox, lower-case, for Docker project names
    /// (the engine is shared by every test running in parallel).
    pub id: String,
    used_docker: std::sync::atomic::AtomicBool,
    /// `MONO_HOME`.
    pub home: PathBuf,
    /// `TMUX_TMPDIR`.
    pub tmux_dir: PathBuf,
    bins: PathBuf,
    /// Variables every command gets besides the sandbox's own (see
    /// [`Sandbox::set_env`]).
    extra_env: std::sync::Mutex<Vec<(String, String)>>,
    /// File systems mounted for the test, unmounted on drop.
    mounts: std::sync::Mutex<Vec<PathBuf>>,
}

/// An init script that holds its operation open until the test lets it go,
/// so tests can act while an operation is in progress.
pub struct Gate {
    started: PathBuf,
    gate: PathBuf,
}

impl Gate {
    /// The `mono.yml` whose init script signals that it started, then waits
    /// for the gate to open.
    pub fn mono_yml(&self) -> String {
        format!(
            "scripts:\n  init: touch '{}'; while [ ! -e '{}' ]; do sleep 0.02; done\n",
            self.started.display(),
            self.gate.display()
        )
    }

    /// Waits until the init script has started.
    #[track_caller]
    pub fn wait_started(&self) {
        wait_until(WAIT, "the init script to start", || self.started.exists());
    }

    /// Lets the init script finish.
    pub fn open(&self) {
        std::fs::write(&self.gate, "").unwrap();
    }
}

/// A running `mono events --json ...`, collecting the events it prints;
/// killed when dropped.
pub struct EventFollower {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every event received so far, in order.
    pub seen: Vec<serde_json::Value>,
}

impl EventFollower {
    /// Collects events until `done` holds for all seen so far.
    #[track_caller]
    pub fn collect_until(&mut self, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) {
        wait_until(WAIT, what, || {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
            }
            done(&self.seen)
        });
    }
}

impl Drop for EventFollower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished command, with its output decoded.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The result of a finished command.
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "command failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// Panics unless the command failed with exactly one line on stderr
    /// that contains `needle`; returns that line.
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> String {
        assert_ne!(self.code, 0, "command succeeded but should have failed:\nstdout: {}", self.stdout);
        let lines: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("mono: error:")).collect();
        assert_eq!(lines.len(), 1, "expected one error line, stderr was:\n{}", self.stderr);
        assert!(lines[0].contains(needle), "error line {:?} does not contain {needle:?}", lines[0]);
        lines[0].to_string()
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A workspace of the sandbox that `mono init` set up (see
/// [`Sandbox::init_workspace`]); derefs to its path.
#[derive(Debug)]
pub struct Workspace {
    /// The workspace's canonical path.
    pub path: PathBuf,
    /// What `mono init` printed.
    pub init: Run,
}

impl std::ops::Deref for Workspace {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Workspace {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh sandbox; nothing runs until a command starts the daemon.
    pub fn new() -> Sandbox {
        let root = tempfile::Builder::new().prefix("mono-e2e-").tempdir().expect("temp dir");
        let home = root.path().join("home");
        // tmux's socket path must stay short (sun_path is 108 bytes).
        let tmux_dir = root.path().join("t");
        std::fs::create_dir_all(&tmux_dir).unwrap();
        std::fs::create_dir_all(root.path().join("ws")).unwrap();
        let suffix = root
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("mono-e2e-")
            .to_ascii_lowercase();
        let id = format!("t{}", suffix.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
        Sandbox {
            root,
            id,
            used_docker: Default::default(),
            home,
            tmux_dir,
            bins: bin_dir(),
            extra_env: Default::default(),
            mounts: Default::default(),
        }
    }

    /// The sandbox's root directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Loosens the modes of the sandbox, the home and the socket so that
    /// the kernel lets another user (uid 65534) reach monod's socket: what
    /// such a test checks is the daemon's own refusal. Returns the socket.
    pub fn open_socket_to_others(&self) -> PathBuf {
        use std::fs::Permissions;
        std::fs::set_permissions(self.root(), Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&self.home, Permissions::from_mode(0o755)).unwrap();
        let sock = self.home.join("monod.sock");
        std::fs::set_permissions(&sock, Permissions::from_mode(0o666)).unwrap();
        sock
    }

    /// Mounts a tmpfs of `size` (`4m`) as `MONO_HOME` (mode 0700), so tests
    /// can fill it; see [`Sandbox::tmpfs`].
    #[track_caller]
    pub fn tmpfs_home(&self, size: &str) {
        self.tmpfs(&self.home, size)
    }

    /// Mounts a tmpfs of `size` at `dir` (created, mode 0700), so tests can
    /// fill it; unmounted when the sandbox drops, after its daemon and tmux
    /// server are gone. Fails the test when not run as root (see
    /// [`require_root`]).
    #[track_caller]
    pub fn tmpfs(&self, dir: &Path, size: &str) {
        require_root("mounts a file system");
        assert!(self.daemon_pid().is_none(), "mount before the daemon starts");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(&self.home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let options = format!("size={size},mode=700");
        let mut mount = Command::new("mount");
        mount.args(["-t", "tmpfs", "-o", &options, "tmpfs"]).arg(dir);
        mount.run().ok();
        self.mounts.lock().unwrap().push(dir.to_path_buf());
    }

    /// Writes `path` until its file system is full.
    pub fn fill(&self, path: &Path) {
        use std::io::Write;
        let mut file = std::fs::File::create(path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while let Ok(()) = file.write_all(&block) {}
        let _ = file.write_all(&[0; 512]);
    }

    /// Makes `MONO_HOME` read-only while files stay open in it, as when its
    /// file system turns read-only under a running daemon: a read-only bind
    /// mount of it over itself (files opened before keep writing; new ones
    /// cannot be made). Undone by [`Sandbox::writable_home`] or on drop.
    /// Fails the test when not run as root (see [`require_root`]).
    #[track_caller]
    pub fn read_only_home(&self) {
        require_root("mounts a file system");
        Command::new("mount").arg("--bind").arg(&self.home).arg(&self.home).run().ok();
        self.mounts.lock().unwrap().push(self.home.clone());
        // Busy while a file is being opened for writing through the new
        // mount (the daemon's or a capture's): retried.
        let mut said = String::new();
        wait_until(WAIT, "the home to become read-only", || {
            let out = Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&self.home).run();
            said = out.stderr;
            out.code == 0 || !said.contains("busy")
        });
        assert!(!said.contains("mount:"), "mount -o remount,bind,ro: {said}");
    }

    /// Undoes [`Sandbox::read_only_home`].
    #[track_caller]
    pub fn writable_home(&self) {
        Command::new("umount").arg(&self.home).run().ok();
        self.mounts.lock().unwrap().pop();
    }

    /// Creates a workspace directory at `rel` (under `ws/`) and returns its
    /// canonical path.
    pub fn workspace(&self, rel: &str) -> PathBuf {
        let p = self.root.path().join("ws").join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p.canonicalize().unwrap()
    }

    /// A workspace whose environment name starts with this sandbox's id, so
    /// its Docker objects never collide with another test's:
    /// `<id>-<name>`, project `mono-<id>-<name>`.
    ///
    /// Docker environments publish ports, and `mono init` passes over a slot
    /// whose block something listens on; so the sandbox's `monod.yml` puts
    /// them at slot 101 and up, away from the low slots other tests running
    /// meanwhile expect. Call it before the daemon starts.
    pub fn docker_workspace(&self, name: &str) -> PathBuf {
        self.used_docker.store(true, std::sync::atomic::Ordering::Relaxed);
        let settings = self.home.join("monod.yml");
        if !settings.exists() {
            assert!(self.daemon_pid().is_none(), "call docker_workspace before the daemon starts");
            std::fs::create_dir_all(&self.home).unwrap();
            std::fs::set_permissions(&self.home, std::fs::Permissions::from_mode(0o700)).unwrap();
            // MONO_TEST_FIRST_SLOT moves them elsewhere, for test runs that
            // share one engine (and so the host's ports) at the same time.
            let slot = std::env::var("MONO_TEST_FIRST_SLOT").unwrap_or_else(|_| "101".to_string());
            std::fs::write(&settings, format!("ports:\n  first_slot: {slot}\n")).unwrap();
        }
        self.workspace(&format!("{}/{name}", self.id))
    }

    /// Writes a compose file into a workspace.
    pub fn compose(&self, ws: &Path, text: &str) {
        std::fs::write(ws.join("compose.yaml"), text).unwrap();
    }

    /// What most tests start with: creates the workspace `rel` (see
    /// [`Sandbox::workspace`]), writes its `mono.yml` unless `mono_yml` is
    /// empty, and runs `mono init` on it, which must succeed.
    #[track_caller]
    pub fn init_workspace(&self, rel: &str, mono_yml: &str) -> Workspace {
        let path = self.workspace(rel);
        if !mono_yml.is_empty() {
            self.mono_yml(&path, mono_yml);
        }
        self.init(path)
    }

    /// The Docker-mode start: the workspace `name` of
    /// [`Sandbox::docker_workspace`] with `compose` as its `compose.yaml`,
    /// initialised with `mono init`, which must succeed.
    #[track_caller]
    pub fn init_docker_workspace(&self, name: &str, compose: &str) -> Workspace {
        let path = self.docker_workspace(name);
        self.compose(&path, compose);
        self.init(path)
    }

    #[track_caller]
    fn init(&self, path: PathBuf) -> Workspace {
        let init = self.mono([OsStr::new("init"), path.as_os_str()]).ok();
        Workspace { path, init }
    }

    /// Starts `mono events --json ARGS` (following live events).
    pub fn follow_events(&self, args: &[&str]) -> EventFollower {
        use std::io::BufRead;
        let mut child = self
            .mono_cmd()
            .args(["events", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("mono events");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        EventFollower { child, lines, seen: Vec::new() }
    }

    /// A gate for a held init script (see [`Gate`]).
    pub fn gate(&self) -> Gate {
        Gate { started: self.root.path().join("started"), gate: self.root.path().join("gate") }
    }

    /// Writes `mono.yml` into a workspace.
    pub fn mono_yml(&self, ws: &Path, text: &str) {
        std::fs::write(ws.join("mono.yml"), text).unwrap();
    }

    /// Writes the daemon's `monod.yml` (making the home, mode 0700, as
    /// monod would); call it before the daemon starts.
    pub fn monod_yml(&self, text: &str) {
        std::fs::create_dir_all(&self.home).unwrap();
        std::fs::set_permissions(&self.home, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(self.home.join("monod.yml"), text).unwrap();
    }

    /// A `mono` command with the sandbox's environment.
    pub fn mono_cmd(&self) -> Command {
        let mut cmd = Command::new(self.bins.join("mono"));
        self.apply_env(&mut cmd);
        cmd.current_dir(self.root.path()).stdin(Stdio::null());
        cmd
    }

    /// Runs `mono ARGS` to completion. A command that hangs fails the test
    /// (after [`COMMAND_DEADLINE`]) instead of hanging the whole run, so the
    /// sandbox still cleans up.
    #[track_caller]
    pub fn mono<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.mono_cmd();
        cmd.args(args);
        run_with_deadline(cmd)
    }

    /// Any program with the sandbox's environment (`MONO_HOME`,
    /// `TMUX_TMPDIR`, ...), e.g. a service manager that starts monod.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.apply_env(&mut cmd);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The built `monod`.
    pub fn monod_path(&self) -> PathBuf {
        self.bins.join("monod")
    }

    /// The built `mono`.
    pub fn mono_path(&self) -> PathBuf {
        self.bins.join("mono")
    }

    /// Runs `mono ARGS` with the daemon it starts told to freeze at `step`
    /// (the test hook `MONO_TEST_CRASH_AT`), kills that daemon with SIGKILL
    /// there, and returns the client's output. No daemon may be running
    /// before: the client must start one with the hook.
    #[track_caller]
    pub fn crash_at<I, S>(&self, step: &str, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        assert!(self.daemon_pid().is_none(), "a daemon is already running");
        let marker = self.root.path().join("crash-marker");
        let _ = std::fs::remove_file(&marker);
        let mut cmd = self.mono_cmd();
        cmd.args(args).env("MONO_TEST_CRASH_AT", step).env("MONO_TEST_CRASH_MARKER", &marker);
        let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run mono");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let mut finished = None;
        wait_until(COMMAND_DEADLINE, &format!("monod to reach {step}"), || {
            finished = rx.try_recv().ok();
            marker.exists() || finished.is_some()
        });
        if let Some(out) = finished {
            let out = Run::from(out.expect("wait for mono"));
            panic!(
                "mono finished before monod reached {step}:\nstdout: {}\nstderr: {}",
                out.stdout, out.stderr
            );
        }
        let pid = self.daemon_pid().expect("the daemon holds the lock");
        wait_until(Duration::from_secs(10), "monod to stop itself", || is_stopped(pid));
        kill(pid, 9);
        wait_until(Duration::from_secs(10), "the killed monod to release its lock", || {
            self.daemon_pid().is_none()
        });
        let out = rx.recv_timeout(COMMAND_DEADLINE).expect("the client ends when monod dies");
        Run::from(out.expect("wait for mono"))
    }

    /// A `tmux` command against the sandbox's server.
    pub fn tmux_cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        self.apply_env(&mut cmd);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `tmux ARGS` against the sandbox's server (within
    /// [`COMMAND_DEADLINE`]).
    #[track_caller]
    pub fn tmux<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tmux_cmd().args(args).run()
    }

    /// Whether the sandbox's tmux server has a session of exactly `name`.
    pub fn has_session(&self, name: &str) -> bool {
        self.tmux(["has-session", "-t", &format!("={name}")]).code == 0
    }

    /// Sets a variable for every later command of the sandbox (e.g.
    /// `DOCKER_HOST`, which the daemon a command starts inherits).
    pub fn set_env(&self, key: &str, value: &str) {
        self.extra_env.lock().unwrap().push((key.to_string(), value.to_string()));
    }

    fn apply_env(&self, cmd: &mut Command) {
        for v in SCRUBBED {
            cmd.env_remove(v);
        }
        cmd.env("MONO_HOME", &self.home).env("TMUX_TMPDIR", &self.tmux_dir).env("SHELL", "/bin/sh");
        for (key, value) in self.extra_env.lock().unwrap().iter() {
            cmd.env(key, value);
        }
    }

    /// Opens the daemon's state database read-only.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.home.join("state.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open state.db")
    }

    /// Number of rows in `environments`.
    pub fn env_rows(&self) -> i64 {
        self.db().query_row("SELECT count(*) FROM environments", [], |r| r.get(0)).unwrap()
    }

    /// `mono.log`'s text.
    pub fn mono_log(&self) -> String {
        std::fs::read_to_string(self.home.join("mono.log")).unwrap_or_default()
    }

    /// The pid of the daemon holding this home's lock, if one holds it.
    pub fn daemon_pid(&self) -> Option<i32> {
        let path = self.home.join("monod.lock");
        let file = std::fs::File::open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(_) => std::fs::read_to_string(&path).ok()?.trim().parse().ok(),
        }
    }

    /// monod processes serving this home (by their environment).
    pub fn daemons(&self) -> Vec<i32> {
        let needle = format!("MONO_HOME={}", self.home.display());
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else { continue };
            if comm.trim() != "monod" {
                continue;
            }
            // Not the log captures tmux runs (`monod capture ...`).
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).nth(1) == Some(b"capture") {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
            if environ.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Starts monod in the foreground as a child (for signal tests); waits
    /// until it reports ready.
    #[track_caller]
    pub fn spawn_daemon(&self, extra_env: &[(&str, &str)]) -> Spawned {
        let mut cmd = Command::new(self.bins.join("monod"));
        self.apply_env(&mut cmd);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("--notify-stdout")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .start();
        let line = stdout_lines(&mut child).recv_timeout(WAIT);
        assert_eq!(line.as_deref().map(str::trim), Ok("ready"), "monod did not start");
        child
    }

    /// Starts `env.init` of `ws` from another client (a plain JSON-RPC POST)
    /// whose init script is held by `gate`; returns once the script runs.
    /// Join the handle for the (status, body) of the reply.
    pub fn held_init_over_http(&self, ws: &Path, gate: &Gate) -> std::thread::JoinHandle<(u16, String)> {
        self.mono_yml(ws, &gate.mono_yml());
        let sock = self.home.join("monod.sock");
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"env.init","params":{{"path":"{}"}}}}"#,
            ws.display()
        );
        let caller = std::thread::spawn(move || http_post(&sock, &body));
        gate.wait_started();
        caller
    }

    /// POSTs a raw body to the socket as HTTP; returns (status, body).
    pub fn post(&self, body: &str) -> (u16, String) {
        http_post(&self.home.join("monod.sock"), body)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Nothing here may panic (a failed test is unwinding already), and
        // nothing may hang.
        if self.daemon_pid().is_some() {
            let _ = run_within(self.mono_cmd().args(["daemon", "stop"]), WAIT);
        }
        for pid in self.daemons() {
            kill(pid, 9);
        }
        let _ = run_within(self.tmux_cmd().arg("kill-server"), WAIT);
        if self.used_docker.load(std::sync::atomic::Ordering::Relaxed) {
            docker::remove_projects(&format!("mono-{}", self.id));
            docker::remove_seed_bases(&self.home);
        }
        for mount in self.mounts.lock().unwrap_or_else(|p| p.into_inner()).drain(..).rev() {
            // Lazily: a capture tmux has not reaped yet must not keep it.
            let _ = run_within(Command::new("umount").arg("-l").arg(&mount), WAIT);
        }
        // Let tests make files read-only or private; the temp dir must go.
        let _ = std::fs::set_permissions(&self.home, std::fs::Permissions::from_mode(0o700));
    }
}

/// Runs a command to completion with its output captured; one that hangs
/// fails the test after [`COMMAND_DEADLINE`] instead of hanging the run
/// (see [`Bounded::run`]).
#[track_caller]
pub fn run_with_deadline(mut cmd: Command) -> Run {
    cmd.run()
}

/// Runs a command to completion with its output captured, within
/// `deadline`; `Err` says what happened otherwise. The command gets its own
/// process group, which a hang's SIGTERM reaches whole (a script's traps
/// then clean up), then SIGKILL after a grace.
pub fn run_within(cmd: &mut Command, deadline: Duration) -> Result<Run, String> {
    use std::os::unix::process::CommandExt;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let what = format!("{cmd:?}");
    let child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.map(Run::from).map_err(|e| format!("cannot wait for {what}: {e}")),
        Err(_) => {
            kill(-pid, 15);
            let out = rx.recv_timeout(Duration::from_secs(10));
            kill(-pid, 9);
            let said = out.ok().and_then(Result::ok).map(Run::from);
            Err(format!("{what} did not finish within {deadline:?}; it said {said:?}"))
        }
    }
}

/// Deadlines for the commands a test runs: every child either finishes
/// within [`COMMAND_DEADLINE`] or fails its test, saying which.
pub trait Bounded {
    /// Runs to completion with stdout and stderr captured (see
    /// [`run_within`]).
    #[track_caller]
    fn run(&mut self) -> Run;

    /// Starts it in the background (stdio as the caller set it up); see
    /// [`Spawned`].
    #[track_caller]
    fn start(&mut self) -> Spawned;
}

impl Bounded for Command {
    fn run(&mut self) -> Run {
        run_within(self, COMMAND_DEADLINE).unwrap_or_else(|e| panic!("{e}"))
    }

    fn start(&mut self) -> Spawned {
        let what = format!("{self:?}");
        let child = self.spawn().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        Spawned { child: Some(child), what }
    }
}

/// A child process a test started in the background. Waiting for it fails
/// the test (and kills the child) when it does not end within
/// [`COMMAND_DEADLINE`]; dropped, it is killed. It derefs to its
/// [`Child`] for its pid and pipes.
pub struct Spawned {
    child: Option<Child>,
    what: String,
}

impl Spawned {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is there until waited for")
    }

    /// Waits for it to exit; its exit code (-1 when killed by a signal).
    #[track_caller]
    pub fn wait_code(&mut self) -> i32 {
        let mut status = None;
        let what = format!("{} to exit", self.what);
        wait_until(COMMAND_DEADLINE, &what, || {
            status = self.child().try_wait().expect("wait for a child");
            status.is_some()
        });
        status.and_then(|s| s.code()).unwrap_or(-1)
    }

    /// Waits for it to exit and collects what it printed on the streams
    /// that were piped (and are still its own).
    #[track_caller]
    pub fn finish(mut self) -> Run {
        let child = self.child.take().expect("the child is there until waited for");
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(COMMAND_DEADLINE) {
            Ok(out) => Run::from(out.unwrap_or_else(|e| panic!("cannot wait for {}: {e}", self.what))),
            Err(_) => {
                kill(pid, 9);
                panic!("{} did not finish within {COMMAND_DEADLINE:?}", self.what);
            }
        }
    }

    /// Kills it and waits for it to go.
    pub fn stop(&mut self) {
        let _ = self.child().kill();
        let _ = self.child().wait();
    }
}

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.child.as_ref().expect("the child is there until waited for")
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        self.child()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Fails the test unless `program` is on `PATH`, naming the Debian
/// `package` that has it (`scripts/test` installs them).
#[track_caller]
pub fn require_program(program: &str, package: &str) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(program).is_file());
    assert!(found, "{program} is needed for this test (apt install {package}; scripts/test installs it)");
}

/// Fails the test, saying why, unless it runs as root: what the test
/// checks (a mount, another user) cannot be made real for anyone else, and
/// a test that passes without checking misleads. `scripts/test` runs the
/// suite as root; elsewhere skip such tests by name (`--skip`).
#[track_caller]
pub fn require_root(because: &str) {
    let uid = rustix::process::geteuid().as_raw();
    assert!(
        uid == 0,
        "this test {because}, which needs root, and it runs as uid {uid}: run it as root \
         (scripts/test does) or leave it out with `cargo test -- --skip NAME`"
    );
}

/// The lines a child prints on stdout (piped), as they come.
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Whether a process exists.
pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// Whether every thread of a process is stopped (SIGSTOP), per
/// `/proc/PID/task/*/stat`.
fn is_stopped(pid: i32) -> bool {
    let stopped = |stat: &Path| {
        std::fs::read_to_string(stat)
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T')))
    };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().all(|task| stopped(&task.path().join("stat")))
}

/// Sends SIGSTOP to `pid` and waits until every one of its threads has
/// stopped: `kill` returns before they have, and until then a thread that
/// is running goes on (a daemon would still accept and answer).
#[track_caller]
pub fn stop_process(pid: i32) {
    kill(pid, 19);
    wait_until(WAIT, &format!("process {pid} to stop"), || is_stopped(pid));
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// Sends signal `signal` to `pid`; a negative `pid` is a process group.
/// A process already gone is not an error.
pub fn kill(pid: i32, signal: i32) {
    use rustix::process::{Pid, Signal, kill_process, kill_process_group};
    let signal = Signal::from_named_raw(signal).unwrap_or_else(|| panic!("no signal {signal}"));
    let Some(target) = Pid::from_raw(pid.abs()) else { return };
    let _ = if pid < 0 { kill_process_group(target, signal) } else { kill_process(target, signal) };
}

/// Polls `check` every few milliseconds until it holds or `timeout` passes;
/// fails the test, naming `what`, if it never does.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, check: impl FnMut() -> bool) {
    assert!(poll_until(timeout, check), "timed out after {timeout:?} waiting for {what}");
}

/// Polls `check` every few milliseconds until it holds (true) or `timeout`
/// passes (false), for a caller that says more than [`wait_until`] when it
/// fails.
pub fn poll_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    true
}

/// A minimal HTTP/1.1 POST over a Unix socket, to talk to the daemon the
/// way any non-mono client would.
pub fn http_post(socket: &Path, body: &str) -> (u16, String) {
    unix_post(socket, "/", "localhost", body)
}

/// POSTs JSON `body` to `path` over the Unix socket `socket` (one request,
/// `Connection: close`) and returns the status and body of the reply.
pub fn unix_post(socket: &Path, path: &str, host: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connect to {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// `GET path` from 127.0.0.1:`port`; the body, or `None` when nothing
/// answers yet.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?;
    (status == "200").then(|| body.to_string())
}

/// The resident memory of a process in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Raises this process's open-file limit to its hard limit and fails the
/// test when that is still below `needed` (tests that hold many
/// connections).
pub fn raise_fd_limit(needed: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        now >= needed,
        "this test needs {needed} open files, and the hard limit is {now}: raise `ulimit -Hn`"
    );
}
