//! `mono mcp`, spoken to as an MCP client does: newline-delimited JSON-RPC
//! on its stdin and stdout (initialize, tools/list, tools/call), against a
//! real daemon, tmux session and, for services, Docker Engine.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use mono_e2e::{Bounded, Sandbox, Spawned, WAIT, wait_until};
use serde_json::{Value, json};

/// A running `mono mcp` with an initialized session.
struct Session {
    child: Spawned,
    stdin: ChildStdin,
    replies: mpsc::Receiver<Value>,
    next_id: u64,
}

impl Session {
    /// Starts `mono mcp` in `ws` and goes through the MCP handshake;
    /// returns the session and the server's `initialize` result.
    fn start(sb: &Sandbox, ws: &Path) -> (Session, Value) {
        let mut cmd = sb.mono_cmd();
        cmd.current_dir(ws);
        Session::start_with(cmd)
    }

    /// Starts `mono mcp` as `cmd` says (directory, variables).
    fn start_with(mut cmd: std::process::Command) -> (Session, Value) {
        let mut child = cmd.arg("mcp").stdin(Stdio::piped()).stdout(Stdio::piped()).start();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let message: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| json!({"unparsable": line, "error": e.to_string()}));
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let mut session = Session { child, stdin, replies, next_id: 0 };
        let init = session.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}),
        );
        session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        (session, init)
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns its result (fails the test on an
    /// error reply or none within [`WAIT`]).
    #[track_caller]
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self.replies.recv_timeout(left).unwrap_or_else(|_| panic!("no reply to {method}"));
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
            assert!(reply.get("unparsable").is_none(), "mono mcp wrote something that is not JSON: {reply}");
        }
    }

    /// Calls a tool: whether it failed (`isError`) and its text.
    #[track_caller]
    fn call(&mut self, tool: &str, arguments: Value) -> (bool, String) {
        let result = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        let text = result["content"]
            .as_array()
            .unwrap_or_else(|| panic!("{tool}: no content: {result}"))
            .iter()
            .filter_map(|c| c["text"].as_str())
            .collect::<Vec<_>>()
            .join("");
        (result["isError"] == true, text)
    }

    /// Calls a tool that must succeed; its text.
    #[track_caller]
    fn ok(&mut self, tool: &str, arguments: Value) -> String {
        let (failed, text) = self.call(tool, arguments);
        assert!(!failed, "{tool} failed: {text}");
        text
    }

    /// Calls a tool that must succeed; its text as JSON.
    #[track_caller]
    fn ok_json(&mut self, tool: &str, arguments: Value) -> Value {
        let text = self.ok(tool, arguments);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tool}: {e}: {text}"))
    }

    /// Closes stdin: the server ends, with status 0.
    #[track_caller]
    fn close(self) {
        let Session { mut child, stdin, .. } = self;
        drop(stdin);
        assert_eq!(child.wait_code(), 0);
    }
}

/// Polls the `output` tool until its text contains `needle`.
#[track_caller]
fn output_until(session: &mut Session, needle: &str) -> String {
    let mut last = String::new();
    wait_until(WAIT, &format!("{needle:?} in the session's output"), || {
        last = session.ok("output", json!({"lines": 50}));
        last.contains(needle)
    });
    last
}

#[test]
fn an_agent_reads_and_drives_its_workspace_over_mcp() {
    let sb = Sandbox::new();
    let ws = sb.init_workspace(
        "agents/a",
        "scripts:\n  run: \"printf '\\\\033[1;32mmcp-run-%s\\\\033[0m\\\\n' $((6*7)); exec sleep 600\"\n",
    );
    let other = sb.init_workspace("agents/b", "");
    let (mut session, init) = Session::start(&sb, &ws);
    assert_eq!(init["serverInfo"]["name"], "mono", "{init}");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");

    let tools = session.request("tools/list", json!({}));
    let mut names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["list", "output", "restart", "restart_service", "run", "service_logs", "status", "stop"]
    );

    let status = session.ok_json("status", json!({}));
    assert_eq!(status["path"], ws.to_str().unwrap(), "{status}");
    assert_eq!(status["name"], "agents-a");
    assert!(status["port_base"].as_u64().is_some_and(|p| p > 19000), "{status}");
    assert!(status["run"].is_null(), "{status}");

    let started = session.ok_json("run", json!({}));
    let first_run = started["run"]["run"].as_u64().unwrap();
    // Plain text: the colour escapes are gone.
    let out = output_until(&mut session, "mcp-run-42");
    assert!(out.lines().any(|l| l.ends_with("mcp-run-42")), "{out:?}");
    assert!(!out.contains('\u{1b}') && !out.contains("[1;32m"), "{out:?}");

    let (failed, text) = session.call("run", json!({}));
    assert!(failed && text.contains("a run is already going") && text.contains("use restart"), "{text}");

    let restarted = session.ok_json("restart", json!({}));
    assert!(restarted["run"]["run"].as_u64().unwrap() > first_run, "{restarted}");
    assert_eq!(restarted["stopped"]["run"], first_run, "{restarted}");
    let stopped = session.ok_json("stop", json!({}));
    assert!(stopped["exit"].is_object(), "{stopped}");
    assert!(session.ok_json("status", json!({}))["run"].is_null());

    // Bounded: `lines` is honoured.
    let one = session.ok("output", json!({"lines": 1}));
    assert_eq!(one.lines().count(), 1, "{one:?}");

    let all = session.ok_json("list", json!({}));
    let paths: Vec<&str> = all.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&other.to_str().unwrap()) && paths.len() == 2, "{all}");

    // A simple-mode environment has no services: one line saying so.
    let (failed, text) = session.call("service_logs", json!({}));
    assert!(failed && text.contains("simple-mode environment"), "{text}");
    let (failed, text) = session.call("restart_service", json!({"service": "db"}));
    assert!(failed && text.contains("simple-mode environment"), "{text}");
    session.close();

    // Conductor's agent: the workspace comes from CONDUCTOR_WORKSPACE_PATH,
    // wherever the server was started.
    let mut cmd = sb.mono_cmd();
    cmd.current_dir(sb.root()).env("CONDUCTOR_WORKSPACE_PATH", &*other);
    let (mut session, _) = Session::start_with(cmd);
    assert_eq!(session.ok_json("status", json!({}))["path"], other.to_str().unwrap());
    session.close();

    // In a folder with no environment, every tool says so and changes nothing.
    let stranger = sb.workspace("agents/none");
    let (mut session, _) = Session::start(&sb, &stranger);
    let (failed, text) = session.call("status", json!({}));
    assert!(failed && text.contains("no environment is registered for"), "{text}");
    let (failed, text) = session.call("run", json!({}));
    assert!(failed && text.contains("no environment is registered for"), "{text}");
    session.close();
    assert_eq!(sb.mono(["list", "--json"]).ok().json().as_array().map(Vec::len), Some(2));
}

fn services_compose() -> String {
    let image = mono_e2e::docker::TEST_IMAGE;
    format!(
        "services:\n  web:\n    image: {image}\n    init: true\n    command: [\"sh\", \"-c\", \"echo web-up; exec sleep 3600\"]\n  \
         worker:\n    image: {image}\n    init: true\n    command: [\"sh\", \"-c\", \"echo worker-up; exec sleep 3600\"]\n"
    )
}

#[test]
fn an_agent_reads_service_logs_and_restarts_a_service_over_mcp() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("agents-docker");
    sb.compose(&ws, &services_compose());
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let (mut session, _) = Session::start(&sb, &ws);

    let status = session.ok_json("status", json!({}));
    let containers = status["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{status}");
    let web =
        containers.iter().find(|c| c["service"] == "web").unwrap()["name"].as_str().unwrap().to_string();
    let started_at = |name: &str| {
        let (ok, out, err) = mono_e2e::docker::docker(["inspect", "-f", "{{.State.StartedAt}}", name]);
        assert!(ok, "{err}");
        out
    };
    let before = started_at(&web);

    let mut logs = String::new();
    wait_until(WAIT, "both services' first lines", || {
        logs = session.ok("service_logs", json!({}));
        logs.contains("web | web-up") && logs.contains("worker | worker-up")
    });
    assert_eq!(session.ok("service_logs", json!({"service": "web"})), "web-up\n");

    let restarted = session.ok_json("restart_service", json!({"service": "web"}));
    assert_eq!(restarted["containers"], json!([web]), "{restarted}");
    assert_ne!(started_at(&web), before, "web was not restarted");
    // Its log has the second start; the other service was left alone.
    wait_until(WAIT, "web's second start in its logs", || {
        session.ok("service_logs", json!({"service": "web"})) == "web-up\nweb-up\n"
    });
    assert_eq!(session.ok("service_logs", json!({"service": "worker", "lines": 5})), "worker-up\n");

    let (failed, text) = session.call("restart_service", json!({"service": "nope"}));
    assert!(failed && text.contains("no service \"nope\"") && text.contains("web, worker"), "{text}");
    session.close();

    // The same from the command line.
    let out = sb.mono(["restart", "worker", ws.to_str().unwrap()]).ok();
    assert!(out.stdout.contains(": worker restarted ("), "{out:?}");
    sb.mono(["restart", "nope", ws.to_str().unwrap()]).fails_with("no service \"nope\"");
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}
