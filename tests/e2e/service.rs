//! monod as a service: the units `mono daemon install` writes (checked by
//! `systemd-analyze verify` and Python's plistlib), socket activation by
//! `systemd-socket-activate` (the real fd-passing protocol), and `Type=notify`
//! readiness on a datagram socket of the test's own.
//!
//! Nothing here is skipped: a missing tool fails the test with what to
//! install (scripts/test installs them).

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mono_e2e::{Bounded, Run, Sandbox, WAIT, alive, kill, poll_until, run_with_deadline};

/// A tool the test needs, found on PATH; fails (never skips) without it.
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
        .unwrap_or_else(|| {
            panic!("{name} is missing: install Debian's systemd package (scripts/test installs it)")
        })
}

/// Debian's python3 (which the other tests also prefer), else the first on
/// PATH; plistlib is in its standard library.
fn python() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/python3");
    if debian.is_file() { debian } else { tool("python3") }
}

/// Copies `mono` and `monod` into `dir`: a unit's ExecStart must then
/// quote and escape `dir`'s odd characters, and the client finds monod
/// beside itself there.
fn install_bins(sb: &Sandbox, dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let copy = |from: PathBuf| {
        let to = dir.join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap();
        to
    };
    (copy(sb.mono_path()), copy(sb.monod_path()))
}

/// `mono ARGS` run as `mono` with HOME=`home`, MONO_HOME unset (so it is
/// `~/.mono`) and XDG_CONFIG_HOME as given.
fn mono_as_user(sb: &Sandbox, mono: &Path, home: &Path, xdg: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = sb.command(mono);
    cmd.args(args).env("HOME", home).env_remove("MONO_HOME").current_dir(sb.root());
    match xdg {
        Some(dir) => cmd.env("XDG_CONFIG_HOME", dir),
        None => cmd.env_remove("XDG_CONFIG_HOME"),
    };
    run_with_deadline(cmd)
}

/// `systemd-analyze verify --user FILES` as a user whose home is `home`,
/// with a private runtime directory (there is no user manager here).
fn verify(sb: &Sandbox, home: &Path, files: &[PathBuf]) -> Run {
    let runtime = sb.root().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = Command::new(tool("systemd-analyze"));
    cmd.args(["verify", "--user", "--man=no"])
        .args(files)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null());
    run_with_deadline(cmd)
}

/// `systemctl --user ARGS` on the unit files alone (offline: no manager).
fn systemctl(sb: &Sandbox, home: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(tool("systemctl"));
    cmd.arg("--user")
        .args(args)
        .env("HOME", home)
        .env("SYSTEMD_OFFLINE", "1")
        .env("XDG_RUNTIME_DIR", sb.root().join("runtime"))
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null());
    run_with_deadline(cmd)
}

/// The one line of `text` that starts with `key=`.
fn setting<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "expected one {key}= line in:\n{text}");
    lines[0]
}

#[test]
fn systemd_units_verify_with_odd_paths_and_uninstall_removes_them() {
    let sb = Sandbox::new();
    // `%h` would silently become the home directory if `%` were not
    // doubled; the space would split an unquoted ExecStart.
    let home = sb.root().join("the h%hme");
    let (mono, monod) = install_bins(&sb, &sb.root().join("b i%hn"));
    std::fs::create_dir_all(&home).unwrap();

    let out = mono_as_user(&sb, &mono, &home, None, &["daemon", "install"]).ok();
    let dir = home.join(".config/systemd/user");
    let (service, socket) = (dir.join("monod.service"), dir.join("monod.socket"));
    assert!(out.stdout.contains(&format!("wrote {}", service.display())), "{}", out.stdout);
    assert!(
        out.stdout.contains("systemctl --user daemon-reload && systemctl --user enable --now monod.socket"),
        "{}",
        out.stdout
    );
    let service_text = std::fs::read_to_string(&service).unwrap();
    let socket_text = std::fs::read_to_string(&socket).unwrap();
    let doubled = |p: &Path| p.to_str().unwrap().replace('%', "%%");
    let mono_home = home.join(".mono");
    assert_eq!(setting(&service_text, "ExecStart"), format!("ExecStart=\"{}\"", doubled(&monod)));
    assert!(
        service_text.contains(&format!("Environment=\"MONO_HOME={}\"", doubled(&mono_home))),
        "{service_text}"
    );
    assert_eq!(setting(&service_text, "Type"), "Type=notify");
    assert_eq!(setting(&service_text, "KillMode"), "KillMode=process");
    assert_eq!(setting(&service_text, "Restart"), "Restart=on-failure");
    assert_eq!(
        setting(&socket_text, "ListenStream"),
        format!("ListenStream={}", doubled(&mono_home.join("monod.sock")))
    );
    assert_eq!(setting(&socket_text, "SocketMode"), "SocketMode=0600");
    assert_eq!(setting(&socket_text, "DirectoryMode"), "DirectoryMode=0700");

    // systemd itself reads them: ExecStart must name the copied monod.
    let verified = verify(&sb, &home, &[service.clone(), socket.clone()]);
    assert_eq!(verified.code, 0, "systemd-analyze verify failed:\n{}{}", verified.stdout, verified.stderr);
    assert!(!verified.stderr.contains("monod"), "verify complained:\n{}", verified.stderr);

    // ...and it does fail on the mistakes the escaping prevents, so the
    // check above means something.
    let broken = sb.root().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("monod.socket"), &socket_text).unwrap();
    for (what, text) in [
        ("an undoubled %", service_text.replace("%%", "%")),
        (
            "an unquoted path with a space",
            service_text
                .replace(setting(&service_text, "ExecStart"), &format!("ExecStart={}", doubled(&monod))),
        ),
    ] {
        std::fs::write(broken.join("monod.service"), text).unwrap();
        let failed = verify(&sb, &home, &[broken.join("monod.service"), broken.join("monod.socket")]);
        assert_ne!(failed.code, 0, "verify accepted a unit with {what}:\n{}", failed.stderr);
        assert!(failed.stderr.contains("is not executable"), "{what}: {}", failed.stderr);
    }

    // Re-running rewrites and says so.
    let again = mono_as_user(&sb, &mono, &home, None, &["daemon", "install"]).ok();
    assert!(again.stdout.contains("(it was already installed; unchanged)"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(&service).unwrap(), service_text);

    // Enabled units (the links `systemctl enable` makes) are not removed
    // from under systemd; disabled ones are.
    systemctl(&sb, &home, &["enable", "monod.socket"]).ok();
    assert!(dir.join("sockets.target.wants/monod.socket").is_symlink());
    mono_as_user(&sb, &mono, &home, None, &["daemon", "uninstall"])
        .fails_with("systemctl --user disable --now monod.socket monod.service");
    assert!(service.exists() && socket.exists());
    systemctl(&sb, &home, &["disable", "monod.socket"]).ok();
    let removed = mono_as_user(&sb, &mono, &home, None, &["daemon", "uninstall"]).ok();
    assert!(!service.exists() && !socket.exists(), "{}", removed.stdout);
    assert!(
        removed.stdout.contains("systemctl --user stop monod.socket monod.service"),
        "{}",
        removed.stdout
    );
    let nothing = mono_as_user(&sb, &mono, &home, None, &["daemon", "uninstall"]).ok();
    assert!(nothing.stdout.contains("nothing to remove"), "{}", nothing.stdout);
}

#[test]
fn systemd_units_follow_xdg_config_home_and_mono_home() {
    let sb = Sandbox::new();
    let home = sb.root().join("user");
    let config = sb.root().join("x d%g");
    std::fs::create_dir_all(&home).unwrap();
    // The sandbox's MONO_HOME (set by mono_cmd), units under XDG_CONFIG_HOME.
    let mut cmd = sb.mono_cmd();
    cmd.args(["daemon", "install", "--platform", "systemd"])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &config);
    run_with_deadline(cmd).ok();
    let dir = config.join("systemd/user");
    let socket_text = std::fs::read_to_string(dir.join("monod.socket")).unwrap();
    let service_text = std::fs::read_to_string(dir.join("monod.service")).unwrap();
    assert_eq!(
        setting(&socket_text, "ListenStream"),
        format!("ListenStream={}", sb.home.join("monod.sock").display())
    );
    assert_eq!(setting(&service_text, "ExecStart"), format!("ExecStart=\"{}\"", sb.monod_path().display()));
    assert!(service_text.contains(&format!("Environment=\"MONO_HOME={}\"", sb.home.display())));
    assert!(service_text.contains(&format!("Environment=\"TMUX_TMPDIR={}\"", sb.tmux_dir.display())));
    let verified = verify(&sb, &home, &[dir.join("monod.service"), dir.join("monod.socket")]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(!home.join(".config").exists(), "ignored XDG_CONFIG_HOME");
    let mut cmd = sb.mono_cmd();
    cmd.args(["daemon", "uninstall"]).env("HOME", &home).env("XDG_CONFIG_HOME", &config);
    run_with_deadline(cmd).ok();
    assert!(!dir.join("monod.service").exists() && !dir.join("monod.socket").exists());
}

#[test]
fn launchd_plist_parses_with_the_real_paths() {
    let sb = Sandbox::new();
    let home = sb.root().join("a&b <c> %h");
    let (mono, monod) = install_bins(&sb, &sb.root().join("bin & <x>"));
    std::fs::create_dir_all(&home).unwrap();
    let out = mono_as_user(&sb, &mono, &home, None, &["daemon", "install", "--platform", "launchd"]).ok();
    let plist = home.join("Library/LaunchAgents/dev.mono.monod.plist");
    assert!(out.stdout.contains("launchctl bootstrap gui/$(id -u) '"), "{}", out.stdout);
    let parsed = Command::new(python())
        .args(["-c", r#"import plistlib,sys,json; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))"#])
        .arg(&plist)
        .run();
    assert_eq!(parsed.code, 0, "plistlib: {}", parsed.stderr);
    let p = parsed.json();
    let mono_home = home.join(".mono");
    assert_eq!(p["Label"], "dev.mono.monod");
    assert_eq!(p["ProgramArguments"], serde_json::json!([monod.to_str().unwrap()]));
    assert_eq!(p["EnvironmentVariables"]["MONO_HOME"], mono_home.to_str().unwrap());
    assert_eq!(p["KeepAlive"], serde_json::json!({"SuccessfulExit": false}));
    assert_eq!(p["AbandonProcessGroup"], true);
    assert_eq!(p["RunAtLoad"], true);
    assert_eq!(p["StandardErrorPath"], mono_home.join("monod.log").to_str().unwrap());

    let again = mono_as_user(&sb, &mono, &home, None, &["daemon", "install", "--platform", "launchd"]).ok();
    assert!(again.stdout.contains("rewrote"), "{}", again.stdout);
    mono_as_user(&sb, &mono, &home, None, &["daemon", "uninstall", "--platform", "launchd"]).ok();
    assert!(!plist.exists());
}

/// Waits for a line that satisfies `want`, keeping every line read in `seen`.
#[track_caller]
fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    what: &str,
    want: impl Fn(&str) -> bool,
) {
    let found = poll_until(WAIT, || match lines.recv_timeout(Duration::from_millis(100)) {
        Ok(line) => {
            let done = want(&line);
            seen.push(line);
            done
        }
        Err(_) => false,
    });
    assert!(found, "no {what} within {WAIT:?}; output so far:\n{}", seen.join("\n"));
}

/// The lines a child writes on stderr (piped), as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The pid of the sandbox's tmux server.
fn tmux_server_pid(sb: &Sandbox) -> i32 {
    let out = sb.tmux(["display-message", "-p", "#{pid}"]);
    out.stdout.trim().parse().unwrap_or_else(|_| panic!("no tmux server: {out:?}"))
}

/// A process's environment variables.
fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0).map(|kv| String::from_utf8_lossy(kv).into_owned()).collect()
}

/// What a process's open fds point at (`socket:[123]`, paths).
fn fd_targets(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect()
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

#[test]
fn socket_activation_by_systemd_socket_activate() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = sb.home.join("monod.sock");
    // systemd-socket-activate listens, and on the first connection execs
    // monod in its own place (same pid) with the socket as fd 3 and
    // LISTEN_FDS=1, LISTEN_PID=<pid>; it passes on only the variables
    // named with -E (plus PATH, HOME).
    let mut activator = sb
        .command(tool("systemd-socket-activate"))
        .arg("-l")
        .arg(&socket)
        .args(["-E", "MONO_HOME", "-E", "TMUX_TMPDIR", "-E", "SHELL"])
        .arg(sb.monod_path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .start();
    let lines = stderr_lines(&mut activator);
    let pid = activator.id() as i32;
    let mut log = Vec::new();
    wait_for_line(&lines, &mut log, "\"Listening on\" from systemd-socket-activate", |l| {
        l.starts_with("Listening on")
    });

    // `daemon stop` looks at the lock, so it does not activate monod just
    // to stop it.
    assert!(sb.mono(["daemon", "stop"]).ok().stdout.contains("not running"));
    assert!(sb.daemons().is_empty() && comm(pid) != "monod", "daemon stop started monod");

    // The first connection starts monod through the socket: the daemon that
    // answers is the activator's process, not one the client spawned.
    let status = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(status["pid"], pid, "the client did not use the handed socket");
    assert_eq!(sb.daemons(), vec![pid]);
    wait_for_line(&lines, &mut log, "monod's note that it took the handed socket", |l| {
        l.contains("listening on the socket handed by the service manager (LISTEN_FDS)")
    });
    assert!(!log.iter().any(|l| l.contains("another path")), "{}", log.join("\n"));

    sb.init_workspace("p/act", "");
    assert!(sb.has_session("mono-p-act"));
    // monod's children inherit neither the activation variables nor the
    // listening socket (close-on-exec): a tmux server holding it would
    // accept connections nobody answers once monod is gone.
    let tmux = tmux_server_pid(&sb);
    let leaked: Vec<String> = environ(tmux)
        .into_iter()
        .filter(|kv| kv.starts_with("LISTEN_") || kv.starts_with("NOTIFY_SOCKET="))
        .collect();
    assert!(leaked.is_empty(), "tmux inherited {leaked:?}");
    let listening = std::fs::read_link(format!("/proc/{pid}/fd/3")).unwrap().to_string_lossy().into_owned();
    assert!(listening.starts_with("socket:"), "fd 3 of monod is {listening}");
    assert!(!fd_targets(tmux).contains(&listening), "tmux inherited the listening socket");

    // A clean stop leaves the socket file to its owner.
    sb.mono(["daemon", "stop"]).ok();
    assert_eq!(activator.wait_code(), 0);
    assert!(socket.exists(), "monod removed the socket systemd owns");
    assert!(!alive(pid));

    // Nothing listens now (systemd-socket-activate exec'd monod and is gone
    // with it), so the next command starts a daemon itself, which clears
    // the dead socket; the environment is still there.
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "p-act");
    let new_pid = sb.daemon_pid().expect("a daemon runs");
    assert_ne!(new_pid, pid);
    assert_eq!(sb.daemons(), vec![new_pid]);
}

#[test]
fn notify_socket_gets_ready_when_the_socket_accepts_and_stopping_on_sigterm() {
    let sb = Sandbox::new();
    let notify_path = sb.root().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let recv = || {
        let mut buf = [0u8; 4096];
        let n = notify.recv(&mut buf).expect("a notification within the deadline");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut monod = sb
        .command(sb.monod_path())
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .start();
    let pid = monod.id() as i32;

    let ready = recv();
    let fields: Vec<&str> = ready.lines().collect();
    assert_eq!(fields.first(), Some(&"READY=1"), "{ready}");
    assert!(fields.contains(&format!("MAINPID={pid}").as_str()), "{ready}");
    assert!(fields.iter().any(|f| f.starts_with("STATUS=listening on ")), "{ready}");
    // Ready means the socket accepts, this very moment.
    UnixStream::connect(sb.home.join("monod.sock")).expect("connect right after READY=1");
    let (code, body) = sb.post(r#"{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{}}"#);
    assert_eq!(code, 200, "{body}");

    sb.init_workspace("p/notify", "");
    let tmux = tmux_server_pid(&sb);
    assert!(!environ(tmux).iter().any(|kv| kv.starts_with("NOTIFY_SOCKET=")), "tmux inherited NOTIFY_SOCKET");

    kill(pid, 15);
    let stopping = recv();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    assert_eq!(monod.wait_code(), 0);
    // A socket monod bound itself is its own to remove.
    assert!(!sb.home.join("monod.sock").exists());
}

#[test]
fn a_daemon_the_client_starts_reports_to_no_service_manager() {
    // A mono run by a service (a script of a systemd unit) has that
    // service's NOTIFY_SOCKET; the monod it starts must not report there.
    let sb = Sandbox::new();
    let notify_path = sb.root().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let mut cmd = sb.mono_cmd();
    cmd.args(["daemon", "start"])
        .env("NOTIFY_SOCKET", &notify_path)
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1");
    run_with_deadline(cmd).ok();
    let pid = sb.daemon_pid().expect("a daemon runs");
    let inherited: Vec<String> = environ(pid)
        .into_iter()
        .filter(|kv| kv.starts_with("LISTEN_") || kv.starts_with("NOTIFY_SOCKET="))
        .collect();
    assert!(inherited.is_empty(), "monod was started with {inherited:?}");
    // It announced readiness before `daemon start` returned, so a
    // notification would already be queued.
    notify.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    match notify.recv(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the service manager's socket got {other:?}"),
    }
}
