//! Operations on different environments run in parallel; on one
//! environment they are serialised.

use std::process::Stdio;

use mono_e2e::{Bounded, Sandbox};

#[test]
fn twenty_concurrent_inits_get_distinct_ids() {
    let sb = Sandbox::new();
    let paths: Vec<_> = (0..20).map(|i| sb.workspace(&format!("many/ws{i:02}"))).collect();
    let children: Vec<_> = paths
        .iter()
        .map(|p| {
            sb.mono_cmd()
                .args(["init", p.to_str().unwrap(), "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .start()
        })
        .collect();
    let mut ids: Vec<u64> =
        children.into_iter().map(|c| c.finish().ok().json()["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(sb.daemons().len(), 1, "more than one daemon was started");
    let list = sb.mono(["list", "--json"]).ok().json();
    assert!(list.as_array().unwrap().iter().all(|e| e["status"] == "running"), "{list}");
}

#[test]
fn init_and_destroy_of_one_path_do_not_interleave() {
    let sb = Sandbox::new();
    let ws = sb.workspace("p/race");
    let gate = sb.gate();
    sb.mono_yml(&ws, &gate.mono_yml());
    let init = sb
        .mono_cmd()
        .args(["init", ws.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .start();
    gate.wait_started();
    sb.mono(["destroy", ws.to_str().unwrap()]).fails_with("`mono init` is already in progress");
    sb.mono(["init", ws.to_str().unwrap()]).fails_with("`mono init` is already in progress");
    assert_eq!(sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()["status"], "creating");
    gate.open();
    init.finish().ok();
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(sb.env_rows(), 0);
}
