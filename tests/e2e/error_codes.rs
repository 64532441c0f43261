//! Error codes on the wire, from both transports: mono's own and those of
//! the protocol layer (JSON-RPC's and jsonrpsee's) never share a number, so
//! a client tells a daemon failure from a refusal by the code alone, and
//! `mono` never reports a refusal as a lost daemon.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use mono_e2e::ws::RawWs;
use mono_e2e::{COMMAND_DEADLINE, Sandbox, alive};
use mono_proto::{Code, ErrorCode, ProtocolCode};
use serde_json::{Value, json};

use crate::bad_input::assert_untouched;

/// The error of a JSON-RPC reply, as (code, message).
#[track_caller]
fn error_of(reply: &Value) -> (i64, String) {
    let code = reply["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {reply}"));
    (code, reply["error"]["message"].as_str().unwrap_or_default().to_string())
}

/// The table's entry for a code seen on the wire; every code must have one.
#[track_caller]
fn known(code: i64) -> Code {
    Code::of(i32::try_from(code).unwrap()).unwrap_or_else(|| panic!("code {code} is in no table"))
}

/// Calls `method` over HTTP POST; returns the reply.
fn over_http(sb: &Sandbox, method: &str, params: Value) -> Value {
    let (_, body) =
        sb.post(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string());
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Calls `method` on `ws`; returns the reply.
fn over_ws(ws: &mut RawWs, id: u64, method: &str, params: Value) -> Value {
    ws.call(id, method, params).unwrap();
    ws.until_reply(id, COMMAND_DEADLINE).unwrap().1
}

/// Sends the head of a POST declaring a body of `length` bytes, and a
/// little of it; returns the HTTP status and the reply.
fn post_declaring(socket: &Path, length: usize) -> (u16, Value) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(COMMAND_DEADLINE)).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}")))
}

#[test]
fn mono_and_library_codes_never_share_a_number_on_either_transport() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let socket = sb.home.join("monod.sock");
    let gone = sb.root().join("never-registered");
    let mut ws = RawWs::connect(&socket).unwrap();

    // A daemon failure: mono's code, on both transports.
    for reply in [
        over_http(&sb, "env.status", json!({"path": gone})),
        over_ws(&mut ws, 1, "env.status", json!({"path": gone})),
    ] {
        let (code, message) = error_of(&reply);
        assert_eq!(known(code), Code::Mono(ErrorCode::NotFound), "{message}");
        assert!(message.contains("no environment is registered"), "{message}");
    }
    // No such method: the spec's.
    for reply in [over_http(&sb, "env.nothing", json!({})), over_ws(&mut ws, 2, "env.nothing", json!({}))] {
        assert_eq!(known(error_of(&reply).0), Code::Protocol(ProtocolCode::MethodNotFound), "{reply}");
    }

    // A request over the limit: jsonrpsee's oversized_request on both, not
    // mono's tmux (-32007 was both). The WebSocket lives on.
    let limit = mono_proto::error::MAX_REQUEST as usize;
    let (status, reply) = post_declaring(&socket, limit + 1);
    assert_eq!(status, 413, "{reply}");
    let (code, message) = error_of(&reply);
    assert_eq!(known(code), Code::Protocol(ProtocolCode::OversizedRequest), "{message}");
    assert!(message.contains("larger than 4.0 MiB"), "{message}");
    let padding = "x".repeat(limit + 1);
    ws.call(3, "env.status", json!({"path": padding})).unwrap();
    let reply = ws.recv_json(COMMAND_DEADLINE).unwrap().expect("a reply");
    assert!(reply["id"].is_null(), "{reply}");
    assert_eq!(known(error_of(&reply).0), Code::Protocol(ProtocolCode::OversizedRequest), "{reply}");
    assert!(over_ws(&mut ws, 4, "daemon.status", json!({}))["result"]["pid"].is_number());

    // Too many subscriptions on one WebSocket: jsonrpsee's, not mono's
    // script_failed (-32006 was both).
    // Sent 64 at a time, each window's replies read before the next (as
    // a client that reads its replies does: monod stops reading a client
    // that lets them pile up).
    let mut subs = RawWs::connect(&socket).unwrap();
    let mut refused = Vec::new();
    for window in (1..=1025u64).collect::<Vec<_>>().chunks(64) {
        for &id in window {
            subs.call(id, "events.subscribe", json!({"follow": true})).unwrap();
        }
        // They are served concurrently: whichever comes last is refused.
        for _ in window {
            let reply = subs.recv_json(COMMAND_DEADLINE).unwrap().expect("a reply to each subscription");
            if reply.get("error").is_some() {
                refused.push(reply);
            }
        }
    }
    let [refused] = refused.as_slice() else { panic!("expected one refusal: {refused:?}") };
    let (code, message) = error_of(refused);
    assert_eq!(known(code), Code::Protocol(ProtocolCode::TooManySubscriptions), "{message}");
    for c in ErrorCode::ALL {
        assert_ne!(i64::from(c.code()), code, "{} shares the code", c.name());
    }
}

#[test]
fn an_init_too_large_for_the_socket_says_so_and_monod_lives_on() {
    let sb = Sandbox::new();
    let pid = {
        sb.mono(["daemon", "start"]).ok();
        sb.daemon_pid().expect("monod runs")
    };
    let ws = sb.workspace("big/request");
    // Forty variables of 120 KiB (one may have at most 128 KiB): 4.7 MiB
    // of environment, more than a request may carry. exec allows that much
    // only with a larger stack limit, so the shell raises it first, then
    // makes the variables and becomes `mono init`.
    let script = r#"ulimit -s 65536 || { echo "test setup: cannot raise the stack limit to 64 MiB (see ulimit -Hs)" >&2; exit 90; }
i=0
while [ "$i" -lt 40 ]; do
  export "BIG_$i=$(head -c 122880 /dev/zero | tr '\0' x)"
  i=$((i + 1))
done
exec "$0" init "$1""#;
    let mut init = sb.command("sh");
    init.arg("-c").arg(script).arg(sb.mono_path()).arg(&ws);
    let line = mono_e2e::run_with_deadline(init).fails_with("the request is too large for monod");
    for needle in ["which reads at most 4.0 MiB", "the environment forwarded with it takes 4.", "BIG_"] {
        assert!(line.contains(needle), "{line:?} does not contain {needle:?}");
    }
    assert!(!line.contains("lost") && !line.contains("rolled back"), "{line}");
    eprintln!("{line}");
    // The daemon was never troubled: the same one answers, nothing exists.
    assert!(alive(pid));
    assert_eq!(sb.daemon_pid(), Some(pid));
    assert_eq!(sb.mono(["list", "--json"]).ok().json(), json!([]));
    assert_untouched(&sb);
    assert!(!sb.mono_log().contains("big-request"), "init started: {}", sb.mono_log());
}

#[test]
fn cache_clean_with_bad_params_is_invalid_params_naming_them() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let mut ws = RawWs::connect(&sb.home.join("monod.sock")).unwrap();
    let cases = [
        (json!({"all": true, "older_than": "30d"}), "give either all or older_than, not both"),
        (json!({}), "say what to clean: all: true, or older_than"),
        (json!({"all": false}), "say what to clean: all: true, or older_than"),
        (json!({"older_than": "soon"}), "older_than \"soon\" is not a duration"),
    ];
    for (i, (params, needle)) in cases.into_iter().enumerate() {
        let id = u64::try_from(i).unwrap();
        for reply in [
            over_http(&sb, "cache.clean", params.clone()),
            over_ws(&mut ws, id, "cache.clean", params.clone()),
        ] {
            let (code, message) = error_of(&reply);
            assert_eq!(known(code), Code::Protocol(ProtocolCode::InvalidParams), "{params}: {message}");
            assert!(message.contains(needle), "{params}: {message:?} does not contain {needle:?}");
        }
    }
    // `mono` says it the same way, as a refusal of the parameters.
    let line = sb
        .mono(["cache", "clean", "--older-than", "soon"])
        .fails_with("monod refused the request's parameters");
    assert!(line.contains("older_than \"soon\" is not a duration"), "{line}");
}

/// Whether a socket `pid` holds has lost its peer: `ss` shows its peer
/// inode as 0 once the other end is closed (the client's WebSocket, once
/// monod closed it).
fn a_peer_closed(pid: i32) -> bool {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|l| Some(l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_string()))
        .collect();
    let mut ss = std::process::Command::new("ss");
    ss.arg("-xa");
    let listed = mono_e2e::run_with_deadline(ss);
    assert_eq!(listed.code, 0, "ss -xa failed (install iproute2; scripts/test does): {}", listed.stderr);
    listed.stdout.lines().any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() >= 8 && inodes.iter().any(|i| i == cols[5]) && cols[7] == "0"
    })
}

#[test]
fn a_connection_monod_closes_while_it_runs_is_not_called_a_lost_daemon() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "socket:\n  websocket_timeout: 1s\n").unwrap();
    sb.mono(["daemon", "start"]).ok();
    let pid = sb.daemon_pid().unwrap();
    let ws = sb.workspace("p/stopped-client");
    let gate = sb.gate();
    sb.mono_yml(&ws, &gate.mono_yml());
    let mut init = sb.mono_cmd();
    init.args(["init", ws.to_str().unwrap()]).stdout(std::process::Stdio::null());
    let client = init.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let client_pid = i32::try_from(client.id()).unwrap();
    gate.wait_started();
    // A stopped client answers no ping: monod closes its WebSocket, and
    // lives on with the init.
    mono_e2e::kill(client_pid, 19);
    mono_e2e::wait_until(COMMAND_DEADLINE, "monod to close the stopped client's WebSocket", || {
        a_peer_closed(client_pid)
    });
    mono_e2e::kill(client_pid, 18);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(client.wait_with_output()));
    let Ok(out) = rx.recv_timeout(COMMAND_DEADLINE) else {
        mono_e2e::kill(client_pid, 9);
        panic!("`mono init` did not end within {COMMAND_DEADLINE:?} once monod closed its WebSocket");
    };
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    eprintln!("{stderr}");
    assert!(stderr.contains("the connection to monod ended ("), "{stderr}");
    assert!(
        stderr.contains(&format!("but monod (pid {pid}) still runs: an operation it had started goes on")),
        "{stderr}"
    );
    assert!(!stderr.contains("lost the connection") && !stderr.contains("rolled back"), "{stderr}");
    // As it says: the init finishes once its script does.
    gate.open();
    mono_e2e::wait_until(COMMAND_DEADLINE, "the init to finish", || {
        sb.mono(["status", ws.to_str().unwrap(), "--json"]).json()["status"] == "running"
    });
    assert_eq!(sb.daemon_pid(), Some(pid));
}
