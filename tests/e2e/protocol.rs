//! The socket protocol from clients that are not ours: Python's `websockets`
//! over the WebSocket (tests/clients/ws_client.py) and curl over plain HTTP
//! POST. They know nothing of mono's Rust types, so these tests catch what a
//! Rust-only test cannot: a method missing from `rpc.discover`, a shape only
//! our own client can read, a convention that only works with jsonrpsee.
//!
//! Both tools are required: a missing one fails the test with what to
//! install (`scripts/test` installs them), it never skips.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use mono_e2e::ws::RawWs;
use mono_e2e::{Bounded, Sandbox, kill, poll_until, run_within};
use serde_json::Value;

/// How long a client may take for everything it does.
const DEADLINE: Duration = Duration::from_secs(90);

/// The Python interpreter to use: Debian's `/usr/bin/python3` first (where
/// `python3-websockets` installs the module), else `python3` on PATH, the
/// first that can import `websockets`.
pub(crate) fn python_with_websockets() -> PathBuf {
    let candidates = [PathBuf::from("/usr/bin/python3"), PathBuf::from("python3")];
    for python in &candidates {
        let imports = run_within(Command::new(python).args(["-c", "import websockets"]), DEADLINE)
            .is_ok_and(|run| run.code == 0);
        if imports {
            return python.clone();
        }
    }
    panic!(
        "this test needs Python 3 with the `websockets` module, and neither /usr/bin/python3 nor python3 \
         on PATH can import it: install python3-websockets (`apt-get install python3-websockets`; \
         scripts/test installs it)"
    );
}

/// Every method name a document lists.
fn method_names(doc: &Value) -> BTreeSet<String> {
    doc["methods"]
        .as_array()
        .unwrap_or_else(|| panic!("no methods in {doc}"))
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

fn published() -> BTreeSet<String> {
    mono_proto::methods::ALL.iter().map(|m| m.to_string()).collect()
}

/// A child process whose stdout lines arrive on a channel; killed when
/// dropped.
struct Client {
    child: Child,
    lines: Receiver<String>,
    started: Instant,
}

impl Client {
    fn spawn(cmd: &mut Command) -> Client {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Client { child, lines, started: Instant::now() }
    }

    fn left(&self) -> Duration {
        DEADLINE.saturating_sub(self.started.elapsed())
    }

    /// The next line of progress, parsed; fails with the client's stderr
    /// when it ends or the deadline passes first.
    #[track_caller]
    fn next(&mut self) -> Value {
        match self.lines.recv_timeout(self.left()) {
            Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
            Err(RecvTimeoutError::Timeout) => panic!("the client gave no output within {DEADLINE:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let err = self.stderr();
                let status = self.exit();
                panic!("the client ended early ({status:?}): {err}");
            }
        }
    }

    /// The next line, which must be progress step `step`.
    #[track_caller]
    fn step(&mut self, step: &str) -> Value {
        let v = self.next();
        assert_eq!(v["step"], step, "expected step {step}, got {v}");
        v
    }

    fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        err
    }

    /// Its exit status, once it exits within the deadline (else `None`,
    /// and it is killed).
    fn exit(&mut self) -> Option<std::process::ExitStatus> {
        let mut status = None;
        let left = self.left();
        if !poll_until(left, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        }) {
            kill(self.child.id() as i32, 9);
        }
        status
    }

    /// Waits for the client to exit; fails unless it succeeded.
    #[track_caller]
    fn succeeds(mut self) {
        let status = self.exit();
        let status = status
            .unwrap_or_else(|| panic!("the client did not finish within {DEADLINE:?}: {}", self.stderr()));
        assert!(status.success(), "the client failed ({status}): {}", self.stderr());
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_python_websocket_client_discovers_calls_and_follows_events() {
    let python = python_with_websockets();
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let ws = sb.workspace("py/app");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/ws_client.py");
    let mut client =
        Client::spawn(Command::new(&python).arg(&script).arg(sb.home.join("monod.sock")).arg("py-app"));

    let discover = client.step("discover");
    let listed: BTreeSet<String> =
        discover["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    assert_eq!(listed, published(), "rpc.discover over WebSocket");
    assert_eq!(discover["version"], mono_proto::VERSION);
    assert_eq!(discover["protocol"], mono_proto::PROTOCOL_VERSION);

    let status = client.step("status");
    assert_eq!(status["protocol"], mono_proto::PROTOCOL_VERSION);
    assert_eq!(status["pid"], sb.daemon_pid().unwrap());
    assert_eq!(client.step("list")["names"], serde_json::json!([]));

    // Create the environment only once the client listens, so its events
    // come live rather than from the replay.
    client.step("subscribed");
    sb.mono(["init", ws.to_str().unwrap()]).ok();

    let events = client.step("events");
    // Filtered by kind; the progress events between them have their own seqs.
    let seen = events["seen"].as_array().unwrap();
    assert_eq!(seen.len(), 2, "events.event notifications: {seen:?}");
    assert_eq!(seen[0], serde_json::json!([1, "py-app", "env.created"]));
    assert_eq!((&seen[1][1], &seen[1][2]), (&serde_json::json!("py-app"), &serde_json::json!("env.ready")));
    assert!(seen[1][0].as_u64() > Some(1));
    let unsubscribed = client.step("unsubscribed");
    assert_eq!(unsubscribed["ended"], true);
    assert_eq!(unsubscribed["again"], false, "a second unsubscribe finds nothing to end");
    client.succeeds();
}

#[test]
fn curl_gets_the_openrpc_document_over_http_post() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    mono_e2e::require_program("curl", "curl");
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "30", "--unix-socket"])
        .arg(sb.home.join("monod.sock"))
        .args(["--json", r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#, "http://localhost/"])
        .stdin(Stdio::null())
        .run();
    assert_eq!(out.code, 0, "curl failed: {}", out.stderr);
    let reply = out.json();
    assert_eq!(reply["id"], 1);
    let doc = &reply["result"];
    assert_eq!(doc["openrpc"], "1.2.6");
    assert_eq!(doc["info"]["version"], mono_proto::VERSION);
    assert_eq!(doc["info"]["x-protocol-version"], mono_proto::PROTOCOL_VERSION);
    assert_eq!(method_names(doc), published());
    assert_eq!(doc["servers"][0]["url"], "http://localhost/", "{}", doc["servers"]);
    assert!(
        doc["servers"][0]["x-unix-socket"].as_str().unwrap().ends_with("/monod.sock"),
        "{}",
        doc["servers"]
    );
    let errors = doc["components"]["errors"].as_object().unwrap();
    for code in mono_proto::ErrorCode::ALL {
        assert_eq!(errors[code.name()]["code"], code.code(), "components.errors.{}", code.name());
    }
    let init = doc["methods"].as_array().unwrap().iter().find(|m| m["name"] == "env.init").unwrap();
    assert_eq!(init["paramStructure"], "by-name");
    assert_eq!(init["result"]["schema"]["$ref"], "#/components/schemas/EnvInfo");
    assert!(doc["components"]["schemas"]["EnvInfo"]["properties"]["port_base"].is_object());
}

/// JSON-RPC 2.0 to the letter, over both transports: each case below is
/// sent as raw text, once as an HTTP POST body and once as a WebSocket
/// message, the way a client library that is not ours would send it.
mod spec {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use mono_e2e::ws::RawWs;
    use mono_e2e::{Sandbox, WAIT, wait_until};
    use serde_json::{Value, json};

    const PARSE_ERROR: i64 = -32700;
    const INVALID_REQUEST: i64 = -32600;
    const METHOD_NOT_FOUND: i64 = -32601;

    /// A daemon, and a WebSocket to it.
    fn daemon() -> (Sandbox, RawWs) {
        let sb = Sandbox::new();
        sb.mono(["daemon", "start"]).ok();
        let ws = RawWs::connect(&sb.home.join("monod.sock")).unwrap();
        (sb, ws)
    }

    /// The reply to `text` over HTTP: its raw body (status 200).
    #[track_caller]
    fn http(sb: &Sandbox, text: &str) -> String {
        let (status, body) = sb.post(text);
        assert_eq!(status, 200, "{text} over HTTP: {body}");
        body
    }

    /// The reply to `text` over the WebSocket: the next message that is not
    /// a notification, raw.
    #[track_caller]
    fn ws_reply(ws: &mut RawWs, text: &str) -> String {
        ws.send_text(text).unwrap();
        ws_next_reply(ws)
    }

    #[track_caller]
    fn ws_next_reply(ws: &mut RawWs) -> String {
        loop {
            let raw = ws.recv(WAIT).unwrap().expect("the daemon closed the WebSocket");
            let v: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
            if v.get("method").is_none() {
                return raw;
            }
        }
    }

    /// The reply to `text` over both transports, parsed, with the raw text.
    #[track_caller]
    fn both(sb: &Sandbox, ws: &mut RawWs, text: &str) -> [(&'static str, Value, String); 2] {
        let parse = |raw: String| (serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}")), raw);
        let (h, h_raw) = parse(http(sb, text));
        let (w, w_raw) = parse(ws_reply(ws, text));
        [("HTTP", h, h_raw), ("WebSocket", w, w_raw)]
    }

    /// Asserts that `reply` is the error `code` with `"id": null`.
    #[track_caller]
    fn assert_error(reply: &Value, code: i64, id: &Value, what: &str) {
        assert_eq!(reply["jsonrpc"], "2.0", "{what}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{what}: {reply}");
        assert_eq!(&reply["id"], id, "{what}: {reply}");
        assert!(reply.get("result").is_none(), "{what}: {reply}");
    }

    /// The stored events of `kind`.
    fn stored(sb: &Sandbox, kind: &str) -> Vec<Value> {
        let out = sb.mono(["events", "--json", "--no-follow", "--since", "0", "--kind", kind]).ok();
        out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    fn publish(id: Option<&str>, kind: &str, n: usize) -> String {
        let id = id.map_or(String::new(), |id| format!(r#""id":{id},"#));
        format!(
            r#"{{"jsonrpc":"2.0",{id}"method":"events.publish","params":{{"kind":"{kind}","data":{{"n":{n}}}}}}}"#
        )
    }

    /// Asserts that the WebSocket has nothing for the client but the reply
    /// to a call made now (what came before it would be a reply owed to
    /// nobody).
    #[track_caller]
    fn assert_ws_quiet(ws: &mut RawWs, marker: u64) {
        ws.call(marker, "daemon.status", json!({})).unwrap();
        let (before, reply) = ws.until_reply(marker, WAIT).unwrap();
        assert!(reply["result"]["pid"].is_number(), "{reply}");
        assert!(before.is_empty(), "the WebSocket sent replies nobody asked for: {before:?}");
    }

    #[test]
    fn ids_are_echoed_exactly_and_ids_of_other_kinds_are_invalid_requests() {
        let (sb, mut ws) = daemon();
        let ids = ["-1", "1.5", "-0.25", "18446744073709551616", "1e3", "0", "7", r#""seven""#, "null"];
        for id in ids {
            for (via, reply, raw) in both(&sb, &mut ws, &publish(Some(id), "user.ids", 0)) {
                assert!(reply["result"].is_u64(), "id {id} over {via}: {raw}");
                assert!(
                    raw.contains(&format!(r#""id":{id}"#)),
                    "id {id} over {via} is not echoed as sent: {raw}"
                );
            }
        }
        // Each was executed once per transport.
        assert_eq!(stored(&sb, "user.ids").len(), ids.len() * 2);

        // A subscription's reply echoes its id too, and its notifications follow.
        let subscribe =
            r#"{"jsonrpc":"2.0","id":-7.5,"method":"events.subscribe","params":{"kinds":["user.sub"]}}"#;
        let raw = ws_reply(&mut ws, subscribe);
        assert!(raw.contains(r#""id":-7.5"#), "{raw}");
        let sub = serde_json::from_str::<Value>(&raw).unwrap()["result"].clone();
        assert!(sub.is_string() || sub.is_u64(), "{raw}");
        http(&sb, &publish(Some("1"), "user.sub", 0));
        let note = ws.recv_json(WAIT).unwrap().expect("the event");
        assert_eq!(
            (&note["method"], &note["params"]["subscription"]),
            (&json!("events.event"), &sub),
            "{note}"
        );

        for id in ["{}", "[1]", "true", "false", r#"{"n":1}"#] {
            for (via, reply, _) in both(&sb, &mut ws, &publish(Some(id), "user.bad-ids", 0)) {
                assert_error(&reply, INVALID_REQUEST, &Value::Null, &format!("id {id} over {via}"));
                assert!(reply["error"]["message"].as_str().unwrap().contains("\"id\""), "{reply}");
            }
        }
        assert_ws_quiet(&mut ws, 9001);
        assert!(stored(&sb, "user.bad-ids").is_empty(), "requests with invalid ids must not run");
    }

    #[test]
    fn notifications_run_and_are_never_answered() {
        let (sb, mut ws) = daemon();
        let (status, body) = sb.post(&publish(None, "user.notified", 1));
        assert_eq!((status, body.as_str()), (204, ""), "a notification over HTTP gets an empty answer");
        ws.send_text(&publish(None, "user.notified", 2)).unwrap();
        wait_until(WAIT, "both notifications to be stored", || stored(&sb, "user.notified").len() == 2);
        let mut ns: Vec<u64> =
            stored(&sb, "user.notified").iter().map(|e| e["data"]["n"].as_u64().unwrap()).collect();
        ns.sort();
        assert_eq!(ns, [1, 2]);
        assert_ws_quiet(&mut ws, 9002);

        // A batch of notifications only: run, and no answer at all.
        let batch = format!("[{},{}]", publish(None, "user.batched", 3), publish(None, "user.batched", 4));
        let (status, body) = sb.post(&batch);
        assert_eq!((status, body.as_str()), (204, ""), "{body}");
        ws.send_text(&batch).unwrap();
        wait_until(WAIT, "the batched notifications to be stored", || stored(&sb, "user.batched").len() == 4);
        assert_ws_quiet(&mut ws, 9003);

        // Nor is a subscription sent as a notification.
        ws.send_text(r#"{"jsonrpc":"2.0","method":"events.subscribe","params":{"kinds":["user.none"]}}"#)
            .unwrap();
        assert_ws_quiet(&mut ws, 9008);

        // A notification of a method that fails is not answered either.
        let (status, body) = sb.post(r#"{"jsonrpc":"2.0","method":"env.status","params":{"path":"/nope"}}"#);
        assert_eq!((status, body.as_str()), (204, ""), "{body}");
        ws.send_text(r#"{"jsonrpc":"2.0","method":"no.such.method"}"#).unwrap();
        assert_ws_quiet(&mut ws, 9004);
    }

    #[test]
    fn what_is_not_a_request_is_an_invalid_request_and_only_bad_json_a_parse_error() {
        let (sb, mut ws) = daemon();
        for params in [r#""hello""#, "42", "true", "null"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":5,"method":"daemon.status","params":{params}}}"#);
            for (via, reply, _) in both(&sb, &mut ws, &text) {
                assert_error(&reply, INVALID_REQUEST, &json!(5), &format!("params {params} over {via}"));
                assert!(reply["error"]["message"].as_str().unwrap().contains("\"params\""), "{reply}");
            }
        }
        for text in [r#""hello""#, "42", "null", r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#] {
            for (via, reply, _) in both(&sb, &mut ws, text) {
                assert_error(&reply, INVALID_REQUEST, &Value::Null, &format!("{text} over {via}"));
            }
        }
        for text in [r#"{"id":6,"method":"daemon.status"}"#, r#"{"jsonrpc":"2.0","id":6}"#] {
            for (via, reply, _) in both(&sb, &mut ws, text) {
                assert_error(&reply, INVALID_REQUEST, &json!(6), &format!("{text} over {via}"));
            }
        }
        for text in ["{not json", r#"{"jsonrpc":"2.0","id":1,"method":"daemon.status""#] {
            for (via, reply, _) in both(&sb, &mut ws, text) {
                assert_error(&reply, PARSE_ERROR, &Value::Null, &format!("{text} over {via}"));
            }
        }

        // Invalid UTF-8: a POST body, and a binary WebSocket message (a text
        // message must be UTF-8 by RFC 6455 itself).
        let bad = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.\xff\"}";
        let mut s = UnixStream::connect(sb.home.join("monod.sock")).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            bad.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(bad).unwrap();
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        let reply: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
        assert_error(&reply, PARSE_ERROR, &Value::Null, "invalid UTF-8 over HTTP");
        ws.stream().write_all(&RawWs::frame(0x2, bad)).unwrap();
        let reply: Value = serde_json::from_str(&ws_next_reply(&mut ws)).unwrap();
        assert_error(&reply, PARSE_ERROR, &Value::Null, "invalid UTF-8 over the WebSocket");
        assert_ws_quiet(&mut ws, 9005);
    }

    #[test]
    fn batches_are_answered_element_by_element() {
        let (sb, mut ws) = daemon();
        for (via, reply, _) in both(&sb, &mut ws, "[]") {
            assert_error(&reply, INVALID_REQUEST, &Value::Null, &format!("an empty batch over {via}"));
        }
        for (via, reply, _) in both(&sb, &mut ws, "[1,2]") {
            let replies = reply.as_array().unwrap_or_else(|| panic!("[1,2] over {via}: {reply}"));
            assert_eq!(replies.len(), 2, "{reply}");
            for r in replies {
                assert_error(r, INVALID_REQUEST, &Value::Null, &format!("[1,2] over {via}"));
            }
        }
        let batch = format!(
            r#"[{{"jsonrpc":"2.0","id":1,"method":"daemon.status"}},{},{{"foo":"boo"}},{{"jsonrpc":"2.0","id":"x","method":"no.such"}},{{"jsonrpc":"2.0","id":-2,"method":"daemon.status","params":7}}]"#,
            publish(None, "user.in-batch", 0)
        );
        for (via, reply, _) in both(&sb, &mut ws, &batch) {
            let replies = reply.as_array().unwrap_or_else(|| panic!("batch over {via}: {reply}"));
            assert_eq!(
                replies.len(),
                4,
                "one reply per request, none for the notification, over {via}: {reply}"
            );
            let by_id =
                |id: Value| replies.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id}: {reply}"));
            assert!(by_id(json!(1))["result"]["pid"].is_number(), "{reply}");
            assert_error(by_id(Value::Null), INVALID_REQUEST, &Value::Null, &format!("{{foo}} over {via}"));
            assert_error(by_id(json!("x")), METHOD_NOT_FOUND, &json!("x"), &format!("no.such over {via}"));
            assert_error(by_id(json!(-2)), INVALID_REQUEST, &json!(-2), &format!("params 7 over {via}"));
        }
        wait_until(WAIT, "the batch's notification to run over both", || {
            stored(&sb, "user.in-batch").len() == 2
        });
    }

    #[test]
    fn an_oversized_websocket_message_is_refused_like_an_oversized_body() {
        let (_sb, mut ws) = daemon();
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"events.publish","params":{{"kind":"user.big","data":"{}"}}}}"#,
            "x".repeat(5 * 1024 * 1024)
        );
        let reply: Value = serde_json::from_str(&ws_reply(&mut ws, &big)).unwrap();
        assert_error(
            &reply,
            mono_proto::ProtocolCode::OversizedRequest.code().into(),
            &Value::Null,
            "a 5 MiB message",
        );
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("larger than 4.0 MiB"), "{message}");
        assert_ws_quiet(&mut ws, 9007);
    }

    #[test]
    fn subscriptions_over_http_say_they_need_the_websocket() {
        let sb = Sandbox::new();
        sb.mono(["daemon", "start"]).ok();
        let calls = [
            ("events.subscribe", json!({})),
            ("ops.watch", json!({"op": "x"})),
            ("logs.follow", json!({"path": "/nope"})),
            ("events.unsubscribe", json!(["1"])),
        ];
        for (method, params) in calls {
            let text = json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}).to_string();
            let reply: Value = serde_json::from_str(&http(&sb, &text)).unwrap();
            assert_error(&reply, METHOD_NOT_FOUND, &json!(3), method);
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.contains(method) && message.contains("WebSocket"), "{method}: {message}");
        }
    }

    #[test]
    fn unsubscribing_by_name_ends_the_subscription() {
        let (sb, mut ws) = daemon();
        let subscribe = |ws: &mut RawWs, id: u64| {
            let text = json!({"jsonrpc": "2.0", "id": id, "method": "events.subscribe",
                              "params": {"kinds": ["user.after"]}});
            let reply: Value = serde_json::from_str(&ws_reply(ws, &text.to_string())).unwrap();
            assert!(reply["result"].is_string() || reply["result"].is_number(), "{reply}");
            reply["result"].clone()
        };
        let ended = subscribe(&mut ws, 1);
        let kept = subscribe(&mut ws, 2);
        let unsubscribe = |ws: &mut RawWs, id: u64| -> Value {
            let text = json!({"jsonrpc": "2.0", "id": id, "method": "events.unsubscribe",
                              "params": {"subscription": ended}});
            serde_json::from_str(&ws_reply(ws, &text.to_string())).unwrap()
        };
        assert_eq!(unsubscribe(&mut ws, 3)["result"], true, "by name, the subscription is found and ended");
        assert_eq!(unsubscribe(&mut ws, 4)["result"], false, "and a second time there is nothing to end");
        let text = json!({"jsonrpc": "2.0", "id": 5, "method": "events.unsubscribe",
                          "params": {"subscription": kept, "extra": 1}});
        let reply: Value = serde_json::from_str(&ws_reply(&mut ws, &text.to_string())).unwrap();
        assert_eq!(reply["error"]["code"], -32602, "{reply}");

        // Only the subscription still held gets the next event.
        let published: Value =
            serde_json::from_str(&http(&sb, &publish(Some("1"), "user.after", 0))).unwrap();
        assert!(published["result"].is_u64(), "{published}");
        let note = ws.recv_json(WAIT).unwrap().expect("the event");
        assert_eq!(note["method"], "events.event", "{note}");
        assert_eq!(note["params"]["subscription"], kept, "{note}");
        assert_ws_quiet(&mut ws, 9006);
    }
}

#[test]
fn an_unknown_parameter_is_refused_by_name_over_http_and_websocket() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let socket = sb.home.join("monod.sock");

    // A call over HTTP: refused, naming the key and what the method takes.
    let (status, body) = sb.post(r#"{"jsonrpc":"2.0","id":7,"method":"env.list","params":{"all":true}}"#);
    let reply: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {status} {body}"));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert_eq!(reply["error"]["message"], "unknown parameter \"all\" for env.list; it takes none");
    // Nothing was run: a publish with a misspelt key stores no event.
    let (_, body) =
        sb.post(r#"{"jsonrpc":"2.0","id":8,"method":"events.publish","params":{"kind":"user.x","dta":1}}"#);
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("\"dta\""), "{reply}");
    let (_, body) =
        sb.post(r#"{"jsonrpc":"2.0","id":9,"method":"events.publish","params":{"kind":"user.y"}}"#);
    assert!(body.contains(r#""result":"#), "{body}");
    let events = sb.mono(["events", "--since", "0", "--json", "--no-follow"]).ok();
    assert!(events.stdout.contains("user.y"), "the good publish is missing: {}", events.stdout);
    assert!(!events.stdout.contains("user.x"), "a refused publish was recorded: {}", events.stdout);
    let (_, body) =
        sb.post(r#"{"jsonrpc":"2.0","id":7,"method":"env.status","params":{"path":"/nowhere","verbose":1}}"#);
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["error"]["message"], "unknown parameter \"verbose\" for env.status; it takes: path");

    // Over the WebSocket, subscriptions too, and the connection stays usable.
    let mut ws = RawWs::connect(&socket).unwrap();
    ws.call(7, "events.subscribe", serde_json::json!({"since": 0, "folow": false})).unwrap();
    let (_, reply) = ws.until_reply(7, DEADLINE).unwrap();
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert_eq!(
        reply["error"]["message"],
        "unknown parameter \"folow\" for events.subscribe; it takes: since, env, kinds, follow, op"
    );
    ws.call(9, "env.status", serde_json::json!({"path": "/nowhere", "verbose": true})).unwrap();
    let (_, reply) = ws.until_reply(9, DEADLINE).unwrap();
    assert_eq!(reply["error"]["message"], "unknown parameter \"verbose\" for env.status; it takes: path");
    ws.call(10, "env.list", serde_json::json!({})).unwrap();
    let (_, reply) = ws.until_reply(10, DEADLINE).unwrap();
    assert_eq!(reply["result"], serde_json::json!([]), "{reply}");
}
