//! The socket under abuse, driven by a bare WebSocket client
//! (tests/support/ws.rs) and raw HTTP: watchers sharing an operation id,
//! subscribers that never read, connections that stall half-way, and the
//! limits and timeouts that keep everyone else served meanwhile.

use std::time::Duration;

use mono_e2e::Sandbox;
use mono_e2e::ws::RawWs;
use serde_json::{Value, json};

/// How long a test waits for one message.
const WAIT: Duration = Duration::from_secs(30);

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
