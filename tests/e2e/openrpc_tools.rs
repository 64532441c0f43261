//! `rpc.discover` through the standard OpenRPC tools, as an integrator
//! would use them: `@open-rpc/schema-utils-js` (meta-schema, dereferencing
//! with the network cut off), ajv in strict mode (every schema),
//! `@open-rpc/test-coverage` (every method called over the socket, every
//! result checked against its schema) and `@open-rpc/generator` (a
//! TypeScript client that must compile with `tsc` and then talk to the
//! daemon). The checks are the Node scripts in tests/openrpc.
//!
//! The tools come from npm, pinned by tests/openrpc/package-lock.json, and
//! are installed (`npm ci`) under target/tools/openrpc, never committed. A
//! machine without Node or npm, or without the registry, fails these tests
//! saying so; they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mono_e2e::{Sandbox, bin_dir, run_with_deadline};
use serde_json::Value;

/// The files of tests/openrpc copied beside the installed packages (Node
/// resolves a module's imports from the module's own directory).
const FILES: [&str; 7] = [
    "package.json",
    "package-lock.json",
    "rpc.mjs",
    "document.mjs",
    "coverage.mjs",
    "client.mjs",
    "ts-client.cjs",
];

/// The directory holding the tools and the checks, installed once per test
/// run (and again whenever the lock file changes).
fn tools() -> PathBuf {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED.get_or_init(install).clone().unwrap_or_else(|e| panic!("{e}"))
}

fn install() -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("openrpc");
    let target = bin_dir().parent().expect("the target directory").join("tools/openrpc");
    std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let lock = std::fs::read(source.join("package-lock.json")).map_err(|e| format!("tests/openrpc: {e}"))?;
    let current = std::fs::read(target.join("node_modules/.mono-lock")).ok();
    for file in FILES {
        std::fs::copy(source.join(file), target.join(file))
            .map_err(|e| format!("cannot copy tests/openrpc/{file} to {}: {e}", target.display()))?;
    }
    if current.as_deref() == Some(&lock[..]) {
        return Ok(target);
    }
    for tool in ["node", "npm"] {
        Command::new(tool).arg("--version").output().map_err(|e| {
            format!(
                "cannot run {tool} ({e}), which the OpenRPC tool checks need: install Node.js and npm \
                 (`apt-get install nodejs npm`; scripts/test installs them)"
            )
        })?;
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&target);
    let run = run_with_deadline(npm);
    if run.code != 0 {
        return Err(format!(
            "`npm ci` in {} could not install the OpenRPC tools (is the npm registry reachable?): {}",
            target.display(),
            run.stderr
        ));
    }
    std::fs::write(target.join("node_modules/.mono-lock"), lock).map_err(|e| e.to_string())?;
    Ok(target)
}

/// Runs one check script against the sandbox's daemon; fails with its
/// output unless it succeeds. Returns what it printed last, parsed.
#[track_caller]
fn check(sb: &Sandbox, script: &str, args: &[&str]) -> Value {
    let dir = tools();
    let mut node = Command::new("node");
    node.arg(dir.join(script)).arg(sb.home.join("monod.sock")).args(args).current_dir(&dir);
    let run = run_with_deadline(node);
    assert_eq!(run.code, 0, "{script} failed:\n{}\n{}", run.stdout, run.stderr);
    let last = run.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed {last:?} last ({e}): {}", run.stdout))
}

#[test]
fn the_document_dereferences_offline_and_every_schema_compiles_under_ajv_strict() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let report = check(&sb, "document.mjs", &[]);
    assert_eq!(report["methods"], mono_proto::methods::ALL.len(), "{report}");
    assert!(report["schemas"].as_u64() > Some(40), "{report}");
}

#[test]
fn open_rpc_test_coverage_calls_every_method_and_every_result_is_valid() {
    // logs.services needs an environment in docker mode.
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let sb = Sandbox::new();
    let services = sb.docker_workspace("coverage");
    sb.compose(
        &services,
        &format!(
            "services:\n  app:\n    image: {}\n    init: true\n    command: [\"sh\", \"-c\", \"echo up; exec sleep 3600\"]\n",
            mono_e2e::docker::TEST_IMAGE
        ),
    );
    sb.mono(["init", services.to_str().unwrap()]).ok();
    let ws = sb.workspace("coverage/app");
    // A seed, so seed.refresh has a snapshot to drop.
    std::fs::write(ws.join("seed.sql"), "rows").unwrap();
    sb.mono_yml(
        &ws,
        "scripts:\n  init: echo init\n  setup: mkdir -p data && cp seed.sql data/\n  run: echo running; sleep 30\n\
         seed:\n  key: [seed.sql]\n  paths: [data]\n",
    );
    let report = check(&sb, "coverage.mjs", &[ws.to_str().unwrap(), services.to_str().unwrap()]);
    assert_eq!(report["methods"], mono_proto::methods::ALL.len(), "{report}");
    // The last call stopped the daemon.
    mono_e2e::wait_until(std::time::Duration::from_secs(10), "monod to stop", || sb.daemon_pid().is_none());
    assert_eq!(sb.env_rows(), 1, "env.destroy removed the workspace's environment, and only it");
}

#[test]
fn a_client_generated_by_open_rpc_generator_compiles_and_talks_to_the_daemon() {
    let sb = Sandbox::new();
    sb.mono(["daemon", "start"]).ok();
    let ws = sb.workspace("generated/app");
    let report = check(&sb, "client.mjs", &[ws.to_str().unwrap()]);
    assert_eq!(report["status"]["pid"], sb.daemon_pid().unwrap(), "{report}");
    assert_eq!(report["list"], serde_json::json!([]), "{report}");
    assert_eq!(report["event"]["kind"], "user.generated", "{report}");
}
