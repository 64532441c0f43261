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

use mono_e2e::{Bounded, Sandbox, kill, poll_until, run_within};
use serde_json::Value;

/// How long a client may take for everything it does.
const DEADLINE: Duration = Duration::from_secs(90);

/// The Python interpreter to use: Debian's `/usr/bin/python3` first (where
/// `python3-websockets` installs the module), else `python3` on PATH, the
/// first that can import `websockets`.
fn python_with_websockets() -> PathBuf {
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
    assert!(doc["servers"][0]["url"].as_str().unwrap().ends_with("/monod.sock"), "{}", doc["servers"]);
    let errors = doc["components"]["errors"].as_object().unwrap();
    for code in mono_proto::ErrorCode::ALL {
        assert_eq!(errors[code.name()]["code"], code.code(), "components.errors.{}", code.name());
    }
    let init = doc["methods"].as_array().unwrap().iter().find(|m| m["name"] == "env.init").unwrap();
    assert_eq!(init["paramStructure"], "by-name");
    assert_eq!(init["result"]["schema"]["$ref"], "#/components/schemas/EnvInfo");
    assert!(doc["components"]["schemas"]["EnvInfo"]["properties"]["port_base"].is_object());
}
