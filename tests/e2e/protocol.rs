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
use mono_e2e::{Sandbox, kill};
use serde_json::Value;

/// How long a client may take for everything it does.
const DEADLINE: Duration = Duration::from_secs(90);

/// The Python interpreter to use: Debian's `/usr/bin/python3` first (where
/// `python3-websockets` installs the module), else `python3` on PATH, the
/// first that can import `websockets`.
fn python_with_websockets() -> PathBuf {
    let candidates = [PathBuf::from("/usr/bin/python3"), PathBuf::from("python3")];
    for python in &candidates {
        let imports = Command::new(python)
            .args(["-c", "import websockets"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
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
                let status = self.child.wait().unwrap();
                panic!("the client ended early ({status}): {err}");
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

    /// Waits for the client to exit; fails unless it succeeded.
    #[track_caller]
    fn succeeds(mut self) {
        while self.child.try_wait().unwrap().is_none() {
            if self.left().is_zero() {
                kill(self.child.id() as i32, 9);
                panic!("the client did not finish within {DEADLINE:?}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().unwrap();
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
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "30", "--unix-socket"])
        .arg(sb.home.join("monod.sock"))
        .args(["--json", r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#, "http://localhost/"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}): install curl (scripts/test installs it)"));
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
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
