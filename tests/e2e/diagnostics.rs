//! monod's own log, `monod.log`: rotated by size, never holding callers'
//! request parameters, and not flooded by refused connections.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use mono_e2e::{Sandbox, require_root, run_with_deadline};

/// `mono daemon start` with monod's diagnostics at `level`.
fn start_logging(sb: &Sandbox, level: &str) {
    let mut cmd = sb.mono_cmd();
    cmd.env("MONO_LOG", level).args(["daemon", "start"]);
    run_with_deadline(cmd).ok();
}

fn daemon_log(sb: &Sandbox, name: &str) -> Option<String> {
    std::fs::read_to_string(sb.home.join(name)).ok()
}

#[test]
fn monod_log_is_rotated_by_size() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "daemon_log:\n  max_size: 4KiB\n  keep: 2\n").unwrap();
    // Every start and stop costs monod.log a few lines (about 500 bytes at
    // debug): 25 of them fill the 4 KiB file three times over.
    for _ in 0..25 {
        start_logging(&sb, "debug");
        sb.mono(["daemon", "stop"]).ok();
    }
    let current = daemon_log(&sb, "monod.log").expect("monod.log");
    assert!(daemon_log(&sb, "monod.log.1").is_some(), "never rotated ({} bytes)", current.len());
    assert!(daemon_log(&sb, "monod.log.2").is_some(), "keeps 2");
    assert!(daemon_log(&sb, "monod.log.3").is_none(), "keeps only 2");
    for name in ["monod.log", "monod.log.1", "monod.log.2"] {
        let len = std::fs::metadata(sb.home.join(name)).unwrap().len();
        assert!(len < 4096 + 4096, "{name} is {len} bytes");
    }
    // monod went on writing to the new file after rotating: its last words
    // are in the current one.
    assert!(current.trim_end().ends_with("stopped"), "{current}");
    let mode = std::fs::metadata(sb.home.join("monod.log")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A client still shows monod's last line when it cannot start.
    std::fs::write(sb.home.join("monod.yml"), "daemon_log:\n  max_size: 0\n").unwrap();
    sb.mono(["list"]).fails_with("daemon_log.max_size must be more than 0");
}

#[test]
fn request_parameters_never_reach_monod_log() {
    let sb = Sandbox::new();
    let marker = format!("secret-{}", sb.id);
    // Even at trace, where the transport would dump whole requests.
    start_logging(&sb, "trace");
    let calls = [
        // A failed call, with the caller's environment.
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"env.init","params":{{"path":"/nonexistent/ws","env":{{"TOKEN":"{marker}"}}}}}}"#
        ),
        // Malformed parameters, whose error quotes the value.
        format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"env.init","params":{{"path":"/x","env":"{marker}"}}}}"#
        ),
        format!(r#"{{"jsonrpc":"2.0","id":3,"method":"no.such.method","params":{{"x":"{marker}"}}}}"#),
    ];
    for body in &calls {
        let (status, reply) = sb.post(body);
        assert_eq!(status, 200, "{reply}");
        assert!(reply.contains("\"error\""), "{reply}");
    }
    sb.mono(["daemon", "stop"]).ok();
    let log = daemon_log(&sb, "monod.log").unwrap();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "the level did not apply:\n{log}");
    assert!(!log.contains(&marker), "a request's parameters reached monod.log:\n{log}");
    assert!(!sb.mono_log().contains(&marker), "{}", sb.mono_log());
}

#[test]
fn a_thousand_refused_connections_cost_a_few_lines() {
    require_root("connects as another user (uid 65534)");
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    // The kernel lets uid 65534 reach the socket; monod refuses it.
    let sock = sb.open_socket_to_others();
    let script = r#"
import socket, sys
body = b'{"jsonrpc":"2.0","id":1,"method":"daemon.status"}'
req = b'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' % (len(body), body)
refused = 0
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(req)
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    refused += data.startswith(b'HTTP/1.1 403')
print(refused)
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script]).arg(&sock).env_clear().env("PATH", "/usr/bin:/bin").uid(65534).gid(65534);
    let out = run_with_deadline(cmd).ok();
    assert_eq!(out.stdout.trim(), "1000", "every connection is refused");
    sb.mono(["list"]).ok();
    let log = daemon_log(&sb, "monod.log").unwrap();
    let lines = log.lines().filter(|l| l.contains("refused a connection from another user")).count();
    assert!((1..=2).contains(&lines), "{lines} lines for 1000 refusals:\n{log}");
    assert!(log.contains("peer=uid 65534"), "{log}");
}
