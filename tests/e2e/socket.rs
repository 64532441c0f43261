//! The socket under abuse, driven by a bare WebSocket client
//! (tests/support/ws.rs) and raw HTTP: watchers sharing an operation id,
//! subscribers that never read, connections that stall half-way, and the
//! limits and timeouts that keep everyone else served meanwhile.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use mono_e2e::ws::RawWs;
use mono_e2e::{Bounded, Sandbox, WAIT, poll_until};
use serde_json::{Value, json};

/// JSON-RPC's own code for a request that is not one.
const INVALID_REQUEST: i64 = -32600;

/// The lines of `ops.output` notifications, as `stream:line`.
fn output_lines(notes: &[Value]) -> Vec<String> {
    notes
        .iter()
        .filter(|n| n["method"] == "ops.output")
        .map(|n| {
            let r = &n["params"]["result"];
            format!("{}:{}", r["stream"].as_str().unwrap(), r["line"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn every_watcher_of_an_operation_gets_every_line() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let socket = sb.home.join("monod.sock");
    let ws = sb.workspace("watch/app");
    sb.mono_yml(&ws, "scripts:\n  init: for i in 1 2 3 4 5; do echo line$i; done\n");

    // Three watchers of one id; the third leaves before the operation runs.
    let mut watchers: Vec<RawWs> = (0..3).map(|_| RawWs::connect(&socket).unwrap()).collect();
    let mut subs = Vec::new();
    for w in &mut watchers {
        w.call(1, "ops.watch", json!({"op": "shared-op"})).unwrap();
        let (_, reply) = w.until_reply(1, WAIT).unwrap();
        assert!(reply.get("result").is_some(), "{reply}");
        subs.push(reply["result"].clone());
    }
    let mut leaver = watchers.pop().unwrap();
    leaver.call(2, "ops.unwatch", json!([subs[2]])).unwrap();
    assert_eq!(leaver.until_reply(2, WAIT).unwrap().1["result"], true);
    drop(leaver);

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "env.init",
                      "params": {"path": ws.to_str().unwrap(), "op": "shared-op"}});
    let (status, reply) = sb.post(&body.to_string());
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("\"result\""), "{reply}");

    // Every line comes before the reply, and a call made after the reply is
    // answered after them on the same connection.
    let mut seen = Vec::new();
    for (i, w) in watchers.iter_mut().enumerate() {
        w.call(10, "daemon.status", json!({})).unwrap();
        let (notes, _) = w.until_reply(10, WAIT).unwrap();
        let lines = output_lines(&notes);
        let out: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("out:")).collect();
        assert_eq!(out, ["line1", "line2", "line3", "line4", "line5"], "watcher {i} got {lines:?}");
        seen.push(lines);
    }
    assert_eq!(seen[0], seen[1], "both watchers get the same lines");
    assert!(seen[0].iter().any(|l| l.starts_with("log:")), "steps are watched too: {:?}", seen[0]);
}

/// Publishes `n` user events in batches over HTTP; returns the last seq.
fn publish(sb: &Sandbox, n: usize) -> u64 {
    let mut last = 0;
    for start in (0..n).step_by(500) {
        let batch: Vec<Value> = (start..n.min(start + 500))
            .map(|i| {
                json!({"jsonrpc": "2.0", "id": i, "method": "events.publish",
                       "params": {"kind": "user.load", "data": {"i": i, "note": "x".repeat(120)}}})
            })
            .collect();
        let (status, body) = sb.post(&Value::Array(batch).to_string());
        assert_eq!(status, 200, "{body}");
        let replies: Vec<Value> = serde_json::from_str(&body).unwrap();
        last = replies.iter().filter_map(|r| r["result"].as_u64()).max().unwrap_or(last).max(last);
    }
    last
}

/// Samples monod's RSS until it has not grown for two seconds (at most
/// `limit`); returns the peak in KiB.
fn peak_rss_when_settled(pid: i32, limit: Duration) -> u64 {
    let (mut peak, mut since_growth) = (mono_e2e::rss_kib(pid), Instant::now());
    poll_until(limit, || {
        let now = mono_e2e::rss_kib(pid);
        if now > peak + 512 {
            since_growth = Instant::now();
        }
        peak = peak.max(now);
        since_growth.elapsed() >= Duration::from_secs(2)
    });
    peak
}

#[test]
fn subscribers_that_never_read_the_whole_log_keep_monod_small() {
    mono_e2e::raise_fd_limit(1024);
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let pid = sb.daemon_pid().unwrap();
    let socket = sb.home.join("monod.sock");
    let last = publish(&sb, 10_000);
    assert!(last >= 10_000, "{last}");
    let idle = peak_rss_when_settled(pid, Duration::from_secs(10));

    // 200 WebSockets replay everything and never read a byte of it.
    let mut idle_readers = Vec::new();
    for _ in 0..200 {
        let mut ws = RawWs::connect(&socket).unwrap();
        ws.call(1, "events.subscribe", json!({"since": 0})).unwrap();
        idle_readers.push(ws);
    }
    let peak = peak_rss_when_settled(pid, Duration::from_secs(60));
    drop(idle_readers);
    let mut after = 0;
    poll_until(WAIT, || {
        after = mono_e2e::rss_kib(pid);
        after <= idle + 10 * 1024
    });
    eprintln!(
        "monod RSS: idle {} MiB, 200 idle replays {} MiB, after they closed {} MiB",
        idle / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(peak < 100 * 1024, "200 non-reading subscribers took monod to {} MiB", peak / 1024);
    assert!(
        after <= idle + 10 * 1024,
        "monod kept {} MiB after they closed (idle {} MiB)",
        after / 1024,
        idle / 1024
    );

    // A reader that does read gets every stored event, in order.
    let out = sb.mono(["events", "--json", "--no-follow", "--since", "0"]).ok();
    let events: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_from_one(&events);
    let published: Vec<u64> = events
        .iter()
        .filter(|e| e["kind"] == "user.load")
        .map(|e| e["data"]["i"].as_u64().unwrap())
        .collect();
    assert!(
        published.iter().copied().eq(0..10_000),
        "{} published events, not 0..10000 in order",
        published.len()
    );

    // Events published while a follower is still replaying join on with no
    // gap and no duplicate.
    let mut follower = sb.follow_events(&["--since", "0"]);
    let last = publish(&sb, 2_000);
    follower.collect_until("every event", |seen| seen.iter().any(|e| e["seq"].as_u64() == Some(last)));
    assert_from_one(&follower.seen);
}

/// Asserts that the events' seqs are 1, 2, 3, ... (naming the first that
/// is not, rather than printing thousands).
#[track_caller]
fn assert_from_one(events: &[Value]) {
    assert!(!events.is_empty());
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "event {i} of {}: {e}", events.len());
    }
}

/// A request head announcing a 200-byte body, and half of that body.
const HALF_BODY: &str = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
     Content-Length: 200\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"env.list\",";

/// A request head announcing a body and waiting to be told to send it.
const EXPECTING_BODY: &str = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
     Content-Length: 200\r\nExpect: 100-continue\r\n\r\n";

/// The first line the daemon sends on `s`.
fn first_line(s: &mut UnixStream) -> String {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8];
    while !line.ends_with(b"\r\n") && s.read(&mut byte).unwrap() == 1 {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).trim_end().to_string()
}

/// Whether the daemon has sent nothing on `s` yet (beyond the blank line
/// that ends an interim `100 Continue`, which [`first_line`] leaves).
fn unanswered(s: &UnixStream) -> bool {
    use rustix::net::{RecvFlags, recv};
    let mut buf = [0u8; 16];
    match recv(s, &mut buf, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Err(rustix::io::Errno::AGAIN) => true,
        Ok((n, _)) => &buf[..n] == b"\r\n",
        Err(e) => panic!("peek: {e}"),
    }
}

/// Opens a connection and sends `bytes`, holding it open.
fn stall(socket: &Path, bytes: &str) -> UnixStream {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(bytes.as_bytes()).unwrap();
    s
}

/// Everything the daemon sends on `s` until it closes it, within `timeout`.
fn answer(s: &mut UnixStream, timeout: Duration) -> String {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            // The daemon closed with our unread bytes queued: what it sent
            // came first.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no answer within {timeout:?} ({e}); got {:?}", String::from_utf8_lossy(&raw)),
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}

/// The status and JSON-RPC error of a refusal, checking its shape.
#[track_caller]
fn refusal(raw: &str) -> (u16, i64, String) {
    // After an interim 100 Continue, if there was one.
    let raw = raw.strip_prefix("\r\n").unwrap_or(raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not HTTP: {raw:?}"));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert!(v["id"].is_null(), "{v}");
    (status, v["error"]["code"].as_i64().unwrap(), v["error"]["message"].as_str().unwrap().to_string())
}

#[test]
fn stalled_requests_and_idle_websockets_leave_one_shot_calls_served() {
    mono_e2e::raise_fd_limit(4096);
    let sb = Sandbox::new();
    // Long enough that the stalled requests are still waiting, however
    // slowly they were opened, when the one-shot calls below are made.
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "socket:\n  request_timeout: 10s\n").unwrap();
    sb.mono(["daemon", "start"]).ok();
    let socket = sb.home.join("monod.sock");

    // 1,030 connections send half a request body and hold it; a few more
    // stop inside the head.
    let opened = Instant::now();
    let mut stalled: Vec<UnixStream> = (0..1030).map(|_| stall(&socket, HALF_BODY)).collect();
    let mut half_heads: Vec<UnixStream> =
        (0..10).map(|_| stall(&socket, "POST / HTTP/1.1\r\nHost: loc")).collect();
    // 200 WebSockets subscribe and then sit idle.
    let mut idle: Vec<RawWs> = (0..200)
        .map(|_| {
            let mut ws = RawWs::connect(&socket).unwrap();
            ws.call(1, "events.subscribe", json!({})).unwrap();
            assert!(ws.until_reply(1, WAIT).unwrap().1.get("result").is_some());
            ws
        })
        .collect();

    // Meanwhile one-shot calls are answered: while every stalled request
    // still waits for its timeout, not once they are cut.
    let started = Instant::now();
    sb.mono(["list"]).ok();
    let list = started.elapsed();
    let started = Instant::now();
    mono_e2e::require_program("curl", "curl");
    let curl = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "30", "--unix-socket"])
        .arg(&socket)
        .args(["--json", r#"{"jsonrpc":"2.0","id":7,"method":"env.list","params":{}}"#, "http://localhost/"])
        .run();
    let curled = started.elapsed();
    assert_eq!(curl.code, 0, "curl: {}", curl.stderr);
    assert_eq!(curl.json()["id"], 7);
    eprintln!("with 1,040 stalled requests and 200 idle WebSockets: mono list {list:?}, curl {curled:?}");
    let waiting = stalled.iter().chain(&half_heads).filter(|s| unanswered(s)).count();
    assert_eq!(waiting, 1040, "the one-shot calls were answered only once stalled requests were cut");

    // The stalled ones are cut after the request timeout, each with a
    // JSON-RPC error saying why.
    for s in stalled.iter_mut().chain(half_heads.iter_mut()) {
        let (status, code, message) = refusal(&answer(s, WAIT));
        assert_eq!(status, 408, "{message}");
        assert_eq!(code, i64::from(mono_proto::ErrorCode::Limit.code()), "{message}");
        assert!(message.contains("not received within 10s"), "{message}");
    }
    assert!(opened.elapsed() >= Duration::from_secs(10), "cut before the timeout");
    // The idle WebSockets outlive them and still answer.
    let ws = &mut idle[123];
    ws.call(2, "daemon.status", json!({})).unwrap();
    assert!(ws.until_reply(2, WAIT).unwrap().1["result"]["pid"].is_number());
}

#[test]
fn refusals_at_the_socket_limits_are_json_rpc_errors() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "socket:\n  max_connections: 16\n  request_timeout: 4s\n")
        .unwrap();
    sb.mono(["daemon", "start"]).ok();
    let socket = sb.home.join("monod.sock");
    let limit = i64::from(mono_proto::ErrorCode::Limit.code());

    // Half of the connections may be WebSockets; the next one is refused.
    let websockets: Vec<RawWs> = (0..8).map(|_| RawWs::connect(&socket).unwrap()).collect();
    let mut ninth = stall(
        &socket,
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let (status, code, message) = refusal(&answer(&mut ninth, WAIT));
    assert_eq!((status, code), (503, limit), "{message}");
    assert!(message.contains("8 WebSocket connections"), "{message}");
    sb.mono(["events", "--no-follow"]).fails_with("has too many connections open; close idle clients");
    // ... and calls still have room.
    sb.mono(["list"]).ok();

    // The other half fills with stalled requests, each known to be served
    // once it is told to go on (100 Continue): then the next connection is
    // refused at once, with the reason. (A connection that just ended may
    // still hold its permit for a moment: a probe refused meanwhile is
    // simply not counted.)
    let mut stalled = Vec::new();
    while stalled.len() < 8 {
        let mut s = stall(&socket, EXPECTING_BODY);
        match first_line(&mut s).as_str() {
            "HTTP/1.1 100 Continue" => stalled.push(s),
            "HTTP/1.1 503 Service Unavailable" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // Refused while the stalled ones still wait (not once they are cut).
    sb.mono(["list"]).fails_with("monod has 16 connections open, its limit");
    assert!(stalled.iter().all(unanswered), "the refusal came only once the stalled requests were cut");
    // Cut after the request timeout, and then calls are served again.
    for s in &mut stalled {
        let (status, code, message) = refusal(&answer(s, WAIT));
        assert_eq!((status, code), (408, limit), "{message}");
        assert!(message.contains("not received within 4s"), "{message}");
    }
    sb.mono(["list"]).ok();
    drop(websockets);

    // A body larger than the limit is refused before it is read, with the
    // code jsonrpsee gives a WebSocket message too large.
    let mut big = stall(
        &socket,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n",
    );
    let (status, code, message) = refusal(&answer(&mut big, WAIT));
    let oversized = i64::from(mono_proto::ProtocolCode::OversizedRequest.code());
    assert_eq!((status, code), (413, oversized), "{message}");
    assert!(message.contains("larger than 4.0 MiB"), "{message}");
    // So is a head larger than 64 KiB.
    let mut long_head = UnixStream::connect(&socket).unwrap();
    let header = format!("POST / HTTP/1.1\r\nX-Big: {}\r\n", "y".repeat(70 * 1024));
    let _ = long_head.write_all(header.as_bytes());
    let (status, code, message) = refusal(&answer(&mut long_head, WAIT));
    assert_eq!((status, code), (431, limit), "{message}");

    // What is not a JSON-RPC call gets a JSON-RPC error too.
    let invalid = INVALID_REQUEST;
    let mut get = stall(&socket, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (status, code, message) = refusal(&answer(&mut get, WAIT));
    assert_eq!((status, code), (405, invalid), "{message}");
    assert!(message.starts_with("HTTP GET is not a JSON-RPC call; POST"), "{message}");
    let mut text = stall(
        &socket,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
    );
    let (status, code, message) = refusal(&answer(&mut text, WAIT));
    assert_eq!((status, code), (415, invalid), "{message}");
    assert!(message.contains("\"text/plain\", not JSON; send Content-Type: application/json"), "{message}");
}

#[test]
fn a_stalled_request_does_not_hold_up_shutdown() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let pid = sb.daemon_pid().unwrap();
    let socket = sb.home.join("monod.sock");
    let mut stalled = [stall(&socket, "POST / HTTP/1.1\r\nHost: loc"), stall(&socket, HALF_BODY)];
    sb.mono(["daemon", "stop"]).ok();
    mono_e2e::wait_until(WAIT, "monod to exit", || !mono_e2e::alive(pid));
    // Both were told why: the shutdown did not wait for them to be cut by
    // the request timeout (which would have answered 408).
    for s in &mut stalled {
        let (status, code, message) = refusal(&answer(s, WAIT));
        assert_eq!((status, code), (503, i64::from(mono_proto::ErrorCode::ShuttingDown.code())), "{message}");
        assert!(message.starts_with("monod is shutting down"), "{message}");
    }
}

#[test]
fn a_websocket_stuck_mid_frame_is_closed_and_one_that_answers_pings_stays() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("monod.yml"), "socket:\n  websocket_timeout: 3s\n").unwrap();
    sb.mono(["daemon", "start"]).ok();
    let socket = sb.home.join("monod.sock");
    // A WebSocket that stops in the middle of a frame is closed once it
    // answers no ping for the WebSocket timeout; one that answers pings
    // stays open, idle, for longer than that.
    let mut stuck = RawWs::connect(&socket).unwrap();
    let frame = RawWs::frame(0x1, br#"{"jsonrpc":"2.0","id":1,"method":"daemon.status"}"#);
    stuck.stream().write_all(&frame[..frame.len() / 2]).unwrap();
    let mut alive = RawWs::connect(&socket).unwrap();
    let watched = Instant::now();
    let mut closed_after = None;
    // Until the stuck one is closed, and for two WebSocket timeouts at
    // least, the idle one answers its pings (inside `recv`) and gets
    // nothing else.
    mono_e2e::wait_until(WAIT, "the stuck WebSocket to be closed", || {
        if closed_after.is_none() {
            // Answers no ping (stuck mid-frame), only looks for the close.
            stuck.stream().set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut byte = [0u8; 1024];
            match stuck.stream().read(&mut byte) {
                Ok(0) => closed_after = Some(watched.elapsed()),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed_after = Some(watched.elapsed())
                }
                _ => {}
            }
        }
        match alive.recv(Duration::from_millis(50)) {
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            other => panic!("the idle WebSocket got {other:?}"),
        }
        closed_after.is_some() && watched.elapsed() >= Duration::from_secs(6)
    });
    eprintln!("the stuck WebSocket was closed after {closed_after:?}");
    alive.call(9, "daemon.status", json!({})).unwrap();
    assert!(alive.until_reply(9, WAIT).unwrap().1["result"]["pid"].is_number());
}
