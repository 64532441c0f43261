//! The Docker Engine failing part-way, for real: monod reaches the Engine
//! through a fault-injecting proxy ([`FaultProxy`]) that goes down at a
//! chosen request. A rollback or teardown that cannot finish keeps the
//! environment, `failed`, with what is left and why; nothing claims that
//! nothing was left; once the Engine answers again `mono destroy` or
//! `mono gc --yes` finishes it, and the next init works.

use mono_e2e::docker::{TEST_IMAGE, labelled, networks_named, require_docker};
use mono_e2e::proxy::FaultProxy;
use mono_e2e::{Sandbox, WAIT, wait_until};

/// Two services and a named volume: two containers, a network, a volume.
fn two_services() -> String {
    format!(
        "services:\n  a:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    volumes:\n      - data:/data\n  b:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\nvolumes:\n  data:\n"
    )
}

/// Everything labelled with the sandbox's home, asked of the Engine itself.
fn home_objects(sb: &Sandbox) -> Vec<String> {
    let mut all = labelled(&format!("dev.mono.home={}", sb.home.display()));
    all.sort();
    all
}

/// The one environment `mono list --json` shows.
fn only_env(sb: &Sandbox) -> serde_json::Value {
    let list = sb.mono(["list", "--json"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    list[0].clone()
}

/// A sandbox whose daemon reaches the Engine through a proxy.
fn behind_proxy(name: &str) -> (Sandbox, FaultProxy, std::path::PathBuf) {
    let sb = Sandbox::new();
    let ws = sb.docker_workspace(name);
    let proxy = FaultProxy::start(sb.root());
    sb.set_env("DOCKER_HOST", &proxy.docker_host());
    sb.compose(&ws, &two_services());
    (sb, proxy, ws)
}

#[test]
fn an_engine_that_dies_mid_init_leaves_a_failed_environment_that_gc_finishes() {
    let Some(_engine) = require_docker() else { return };
    let (sb, proxy, ws) = behind_proxy("dies");
    let env = format!("{}-dies", sb.id);
    let project = format!("mono-{env}");
    // Down once the containers exist and the first is to start.
    proxy.fail_on("POST", "/start");
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with("could not remove everything");
    assert!(proxy.is_down());
    assert!(!line.contains("nothing was left"), "{line}");
    assert!(line.contains(&format!("mono destroy {}", ws.display())), "{line}");

    // Kept, failed, saying what is left and why.
    let info = only_env(&sb);
    assert_eq!(info["status"], "failed", "{info}");
    let failure = info["failure"].as_str().unwrap_or_default().to_string();
    assert!(failure.contains("init failed") && failure.contains(&project), "{failure}");
    assert!(failure.contains("Docker did not answer"), "{failure}");
    let human = sb.mono(["status", ws.to_str().unwrap()]).ok().stdout;
    assert!(human.contains(&format!("failure:   {failure}")), "{human}");
    let doctor = sb.mono(["doctor"]).stdout;
    assert!(doctor.contains(&failure), "{doctor}");
    assert!(doctor.contains(&format!("fix: mono destroy {}", ws.display())), "{doctor}");
    let left = home_objects(&sb);
    assert_eq!(
        left,
        vec![
            format!("{project}-a-1"),
            format!("{project}-b-1"),
            format!("{project}_data"),
            format!("{project}_default")
        ],
        "the Engine should hold what init made"
    );

    // Healed: gc lists the environment and finishes it.
    proxy.heal();
    let gc = sb.mono(["gc", "--json"]).ok().json();
    assert_eq!(gc["failed"][0]["name"], env.as_str(), "{gc}");
    sb.mono(["gc", "--yes"]).ok();
    assert_eq!(home_objects(&sb), Vec::<String>::new());
    assert_eq!(sb.env_rows(), 0);

    // And init works again: no conflict, one network of the name.
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert_eq!(networks_named(&format!("{project}_default")).len(), 1);
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(home_objects(&sb), Vec::<String>::new());
}

#[test]
fn an_engine_that_dies_mid_destroy_keeps_the_environment_until_destroy_finishes() {
    let Some(_engine) = require_docker() else { return };
    let (sb, proxy, ws) = behind_proxy("halfway");
    let project = format!("mono-{}-halfway", sb.id);
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    proxy.fail_on("DELETE", "/containers/");
    let line = sb.mono(["destroy", ws.to_str().unwrap()]).fails_with("kept as failed");
    assert!(line.contains(&format!("mono destroy {}", ws.display())), "{line}");
    let info = only_env(&sb);
    assert_eq!(info["status"], "failed", "{info}");
    let failure = info["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("destroy failed") && failure.contains(&project), "{failure}");
    assert!(!home_objects(&sb).is_empty(), "the Engine died before anything was removed");

    proxy.heal();
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(home_objects(&sb), Vec::<String>::new());
    assert_eq!(sb.env_rows(), 0);
    assert_eq!(sb.mono(["gc", "--json"]).ok().json()["orphans"], serde_json::json!([]));
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert_eq!(networks_named(&format!("{project}_default")).len(), 1);
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn a_recovery_that_cannot_reach_the_engine_keeps_the_environment_failed() {
    let Some(_engine) = require_docker() else { return };
    let (sb, proxy, ws) = behind_proxy("recover");
    sb.crash_at("init.scripts-done", ["init", ws.to_str().unwrap()]);
    assert!(!home_objects(&sb).is_empty(), "the crash came before the containers");
    proxy.go_down();
    sb.mono(["daemon", "start"]).ok();
    wait_until(WAIT, "recovery to give up", || {
        sb.mono(["list", "--json"]).ok().json()[0]["status"] == "failed"
    });
    let failure = only_env(&sb)["failure"].as_str().unwrap_or_default().to_string();
    assert!(failure.contains("interrupted init"), "{failure}");
    assert!(failure.contains("Docker did not answer"), "{failure}");

    proxy.heal();
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(home_objects(&sb), Vec::<String>::new());
    assert_eq!(sb.env_rows(), 0);
}
