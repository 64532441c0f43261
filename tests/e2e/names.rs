//! Environment names derived from paths, through the real binaries.

use std::process::Command;

use mono_e2e::{Bounded, Sandbox};

fn init_name(sb: &Sandbox, ws: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut cmd = sb.mono_cmd();
    cmd.args(["init", ws.to_str().unwrap(), "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.run().ok().json()["name"].as_str().unwrap().to_string()
}

#[test]
fn conductor_layout_and_variables() {
    let sb = Sandbox::new();
    let ws = sb.workspace("Shop/.conductor/workspaces/Feature_Auth");
    assert_eq!(init_name(&sb, &ws, &[]), "shop-feature-auth");
    let other = sb.workspace("somewhere/else");
    let name = init_name(
        &sb,
        &other,
        &[("CONDUCTOR_ROOT_PATH", "/src/Web-App"), ("CONDUCTOR_WORKSPACE_NAME", "lisbon")],
    );
    assert_eq!(name, "web-app-lisbon");
    let plain = sb.workspace("conductor/workspaces/backend/oslo");
    assert_eq!(init_name(&sb, &plain, &[]), "backend-oslo");
    // Conductor's own variables name the workspace when PATH is omitted.
    let out = sb.mono_cmd().args(["status", "--json"]).env("CONDUCTOR_WORKSPACE_PATH", &plain).run().ok();
    assert!(out.stdout.contains("\"backend-oslo\""), "{}", out.stdout);
}

#[test]
fn git_worktree_takes_main_repository_name() {
    let sb = Sandbox::new();
    let repo = sb.workspace("MainRepo");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.email=t@t", "-c", "user.name=t", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&repo)
            .run();
        assert_eq!(out.code, 0, "git {args:?}: {}", out.stderr);
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "init"]);
    let wt = sb.root().join("ws/trees/Feature-X");
    git(&["worktree", "add", "-q", wt.to_str().unwrap()]);
    assert_eq!(init_name(&sb, &wt.canonicalize().unwrap(), &[]), "mainrepo-feature-x");
}

#[test]
fn colliding_names_are_made_unique() {
    let sb = Sandbox::new();
    let a = sb.workspace("one/shop/ws");
    let b = sb.workspace("two/shop/ws");
    let c = sb.workspace("three/Shop/WS");
    assert_eq!(init_name(&sb, &a, &[]), "shop-ws");
    assert_eq!(init_name(&sb, &b, &[]), "shop-ws-2");
    assert_eq!(init_name(&sb, &c, &[]), "shop-ws-3");
    assert!(sb.has_session("mono-shop-ws-2"));
    assert!(sb.home.join("data/shop-ws-3").is_dir());
}
