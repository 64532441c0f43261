//! An operation's output: one live path (`mono.log`, `ops.watch`, and
//! live-only `env.progress` events for those who ask), never the stored
//! event log, which keeps the lifecycle however chatty a script is; and
//! `mono init`, which ends on its reply.

use std::path::Path;
use std::process::{Command, Stdio};

use mono_e2e::ws::RawWs;
use mono_e2e::{Bounded, Sandbox, WAIT, wait_until};
use serde_json::{Value, json};

/// The stored events `mono events --since 0 ARGS` prints.
fn stored(sb: &Sandbox, args: &[&str]) -> Vec<Value> {
    let out = sb.mono([&["events", "--since", "0", "--no-follow", "--json"][..], args].concat()).ok();
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// `env` of each stored event of `kind`, in order.
fn envs_of(events: &[Value], kind: &str) -> Vec<String> {
    events.iter().filter(|e| e["kind"] == kind).map(|e| e["env"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_chatty_init_leaves_every_environments_lifecycle_in_the_event_log() {
    let sb = Sandbox::new();
    let quiet = sb.workspace("chatty/quiet");
    sb.mono(["init", quiet.to_str().unwrap()]).ok();
    // Twice the default retention (50,000 events), were lines events.
    let loud = sb.workspace("chatty/loud");
    sb.mono_yml(&loud, "scripts:\n  setup: seq 1 100000\n");
    let init = sb.mono(["init", loud.to_str().unwrap()]).ok();
    let tail = &init.stdout[init.stdout.len().saturating_sub(500)..];
    assert!(init.stdout.contains("chatty-loud is ready"), "{tail}");
    assert!(init.stdout.lines().any(|l| l == "1"), "the output did not reach the caller");
    assert!(sb.mono_log().contains("[chatty-loud|out] 100000\n"), "the last line is not in mono.log");
    let after = sb.workspace("chatty/after");
    sb.mono(["init", after.to_str().unwrap()]).ok();

    let names = ["chatty-quiet", "chatty-loud", "chatty-after"];
    let created = stored(&sb, &["--kind", "env.created"]);
    assert_eq!(envs_of(&created, "env.created"), names, "{created:?}");
    let all = stored(&sb, &[]);
    assert_eq!(envs_of(&all, "env.ready"), names);
    assert!(all.iter().all(|e| e["kind"] != "env.progress" && e["seq"].as_u64() > Some(0)), "output stored");
    assert!(all.len() < 50, "{} stored events for three inits", all.len());
}

/// A JSON-RPC subscription's id from its reply.
fn subscribe(ws: &mut RawWs, id: u64, params: Value) -> Value {
    ws.call(id, "events.subscribe", params).unwrap();
    let (_, reply) = ws.until_reply(id, WAIT).unwrap();
    reply.get("result").cloned().unwrap_or_else(|| panic!("no subscription: {reply}"))
}

#[test]
fn event_subscribers_that_ask_get_the_output_live_before_the_final_event() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let mut ws = RawWs::connect(&sb.home.join("monod.sock")).unwrap();
    let asking = subscribe(&mut ws, 1, json!({"kinds": ["env.progress", "env.ready"]}));
    let everything = subscribe(&mut ws, 2, json!({}));
    let w = sb.workspace("live/out");
    sb.mono_yml(&w, "scripts:\n  init: echo one; echo two >&2; echo three\n");
    let init = sb.mono(["init", w.to_str().unwrap()]).ok();

    let (mut asked, mut all) = (Vec::new(), Vec::new());
    while !(asked.last().is_some_and(|e: &Value| e["kind"] == "env.ready")
        && all.iter().any(|e: &Value| e["kind"] == "env.ready"))
    {
        let msg = ws.recv_json(WAIT).unwrap().expect("the daemon closed the WebSocket");
        let (sub, event) = (&msg["params"]["subscription"], msg["params"]["result"].clone());
        if *sub == asking {
            asked.push(event);
        } else if *sub == everything {
            all.push(event);
        }
    }
    // The lines, in order, then the final event: what `mono init` printed
    // from `ops.watch`, stream by stream.
    let (progress, ready) = asked.split_at(asked.len() - 1);
    assert_eq!(ready[0]["env"], "live-out");
    assert!(progress.iter().all(|e| e["kind"] == "env.progress" && e["seq"] == 0 && e["env"] == "live-out"));
    assert!(
        progress.iter().all(|e| e["data"]["op"] == progress[0]["data"]["op"] && e["data"]["op"].is_string())
    );
    let lines = |streams: &[&str]| -> Vec<String> {
        progress
            .iter()
            .filter(|e| streams.contains(&e["data"]["stream"].as_str().unwrap()))
            .map(|e| match e["data"]["stream"].as_str().unwrap() {
                "log" => format!("[mono] {}", e["data"]["line"].as_str().unwrap()),
                _ => e["data"]["line"].as_str().unwrap().to_string(),
            })
            .collect()
    };
    assert_eq!(lines(&["out"]), ["one", "three"]);
    let printed: Vec<String> = init.stdout.lines().map(str::to_string).collect();
    assert_eq!(printed[..printed.len() - 1], lines(&["out"]), "{}", init.stdout);
    let printed: Vec<String> = init.stderr.lines().map(str::to_string).collect();
    assert_eq!(printed, lines(&["log", "err"]), "{}", init.stderr);
    // Not asked for by name: none of it; and none of it is stored.
    assert!(all.iter().all(|e| e["kind"] != "env.progress" && e["seq"].as_u64() > Some(0)), "{all:?}");
    assert_eq!(stored(&sb, &["--kind", "env.progress"]), Vec::<Value>::new());
    assert_eq!(envs_of(&stored(&sb, &[]), "env.ready"), ["live-out"]);
}

/// The Python interpreter with `websockets`, or a failure saying what to
/// install (see `protocol.rs`).
fn python() -> std::path::PathBuf {
    crate::protocol::python_with_websockets()
}

/// The methods and params a fake daemon recorded, in order.
fn recorded(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The reply is all `mono init` needs: against a daemon that answers and
/// never publishes an event (a stand-in, tests/clients/fake_monod.py, so
/// that the events a real monod publishes cannot hide a wait for them),
/// init prints its output and result and asks for no final event.
#[test]
fn mono_init_ends_on_its_reply_and_waits_for_no_event() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let socket = sb.home.join("monod.sock");
    let record = sb.root().join("requests.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/fake_monod.py");
    let _fake = Command::new(python())
        .arg(&script)
        .arg(&socket)
        .arg(mono_proto::VERSION)
        .arg(mono_proto::PROTOCOL_VERSION.to_string())
        .arg(&record)
        .stdin(Stdio::null())
        .start();
    wait_until(WAIT, "the fake monod to listen", || socket.exists());
    let w = sb.workspace("fake/env");

    let init = sb.mono(["init", w.to_str().unwrap()]).ok();
    assert_eq!(init.stdout.lines().next(), Some("fake output"), "{}", init.stdout);
    assert!(init.stdout.contains("fake-env is ready: id 7, ports 10700-10799"), "{}", init.stdout);
    let json = sb.mono(["init", w.to_str().unwrap(), "--json"]).ok();
    assert_eq!(json.stderr.lines().next(), Some("fake output"), "{}", json.stderr);
    assert_eq!(json.json()["name"], "fake-env");

    let requests = recorded(&record);
    let methods: Vec<&str> = requests.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(methods.iter().filter(|m| **m == "env.init").count(), 2, "{methods:?}");
    assert_eq!(methods.iter().filter(|m| **m == "ops.watch").count(), 2, "{methods:?}");
    // Only `--json` subscribes to events: the pulls it prints, live.
    let subscribed: Vec<&Value> = requests.iter().filter(|r| r["method"] == "events.subscribe").collect();
    assert_eq!(subscribed.len(), 1, "{methods:?}");
    assert_eq!(subscribed[0]["params"]["kinds"], json!(["image.pull"]), "{:?}", subscribed[0]);
    assert!(subscribed[0]["params"].get("since").is_none_or(Value::is_null), "{:?}", subscribed[0]);
}
