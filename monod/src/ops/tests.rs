//! Operations driven directly, without a socket: over a real home (SQLite
//! file, log directories) in a temporary directory, with real scripts.
//! tmux commands go to a directory of the test process's own, where no
//! server runs ([`crate::tmux::isolate_for_tests`]); the e2e tests cover
//! the session paths with a real server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mono_proto::{CallerEnv, Mode, event_kinds};

use super::{Built, OpError, Ops};
use crate::home::Home;
use crate::state::{EnvRow, NewEnv, Phase};

/// How long anything here may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// A home of its own and the operations over it; [`Fixture::close`] ends
/// them (a test that panics leaves its state thread to the process's end).
struct Fixture {
    dir: tempfile::TempDir,
    built: Option<Built>,
}

impl Fixture {
    fn new() -> Fixture {
        crate::tmux::isolate_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(&dir.path().join("home")).unwrap();
        let built = Ops::builder(home).build().unwrap();
        Fixture { dir, built: Some(built) }
    }

    /// Ends the operations and closes the state database.
    async fn close(mut self) {
        self.built.take().unwrap().close().await;
    }

    fn ops(&self) -> &Arc<Ops> {
        &self.built.as_ref().unwrap().ops
    }

    /// A workspace folder with this `mono.yml`, canonical.
    fn workspace(&self, name: &str, mono_yml: &str) -> PathBuf {
        let ws = self.dir.path().join("ws").join(name);
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("mono.yml"), mono_yml).unwrap();
        ws.canonicalize().unwrap()
    }

    /// A row for `ws` in `phase`, with the data and log directories an
    /// init makes, as a crash at that point would leave them.
    async fn registered(&self, ws: &Path, phase: Phase) -> EnvRow {
        let ops = self.ops();
        let new = NewEnv {
            path: ws.display().to_string(),
            project: "p".into(),
            workspace: ws.file_name().unwrap().to_string_lossy().into_owned(),
            mode: Mode::Simple,
            docker_endpoint: None,
        };
        let row = ops.store.register(new, |_| None, 1).await.unwrap().row;
        ops.store.set_phase(row.id, phase).await.unwrap();
        ops.home.private_dir(&[mono_proto::paths::DATA_DIR, &row.name]).unwrap();
        std::fs::write(ops.home.data_dir(&row.name).join("db"), "data").unwrap();
        ops.monitor.add(&row.name, Duration::from_secs(60)).unwrap();
        EnvRow { phase, ..row }
    }

    /// Everything under the home's data and log directories.
    fn leftovers(&self) -> Vec<String> {
        let home = self.ops().home();
        let mut left = Vec::new();
        for dir in [home.root().join(mono_proto::paths::DATA_DIR), home.logs_root()] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                left.push(entry.unwrap().path().display().to_string());
            }
        }
        left
    }
}

fn caller() -> CallerEnv {
    CallerEnv::from([("PATH".to_string(), std::env::var("PATH").unwrap_or_default())])
}

#[tokio::test]
async fn an_operation_on_a_busy_workspace_is_refused_and_changes_nothing() {
    let fx = Fixture::new();
    let ws = fx.workspace("busy", "");
    let key = ws.display().to_string();
    let held = fx.ops().claim(&key, "destroy").unwrap();
    let refused = fx.ops().init(key.clone(), caller(), None).await.unwrap_err();
    assert!(matches!(refused, OpError::Busy { running: "destroy", .. }), "{refused}");
    assert!(fx.ops().store.all().await.unwrap().is_empty());
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());
    // The claim ends with its guard; then the workspace is free again.
    drop(held);
    assert!(fx.ops().claim(&key, "init").is_ok());
    fx.close().await;
}

#[tokio::test]
async fn a_failed_setup_rolls_init_back_leaving_nothing() {
    let fx = Fixture::new();
    let ws = fx.workspace("rollback", "scripts:\n  init: echo made > made.txt\n  setup: exit 3\n");
    let failed = fx.ops().init(ws.display().to_string(), caller(), None).await.unwrap_err();
    let OpError::RolledBack { cause, left, .. } = &failed else { panic!("not rolled back: {failed}") };
    assert!(matches!(**cause, OpError::ScriptFailed { script: "setup", .. }), "{cause}");
    assert_eq!(*left, None, "{failed}");
    assert!(failed.to_string().ends_with("rolled back: nothing was left behind"), "{failed}");
    // The row, the data and the log directories are gone; what the init
    // script made in the workspace is the user's and stays.
    assert!(fx.ops().store.all().await.unwrap().is_empty());
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());
    assert!(ws.join("made.txt").exists());
    // The workspace can be initialised again.
    assert!(fx.ops().claim(&ws.display().to_string(), "init").is_ok());
    fx.close().await;
}

#[tokio::test]
async fn teardown_removes_everything_a_row_leads_to_and_repeats_safely() {
    let fx = Fixture::new();
    let ws = fx.workspace("down", "");
    let row = fx.registered(&ws, Phase::Ready).await;
    let ops = fx.ops();
    let progress = ops.progress("test", None);
    let mut warnings = Vec::new();
    ops.teardown(&row, "destroy", &progress, &mut warnings).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(ops.store.all().await.unwrap().is_empty());
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());
    // What is already gone is skipped: a second teardown of the same row
    // (a crash after the first) finishes too.
    ops.teardown(&row, "destroy", &progress, &mut warnings).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    drop(progress);
    fx.close().await;
}

#[tokio::test]
async fn recovery_rolls_back_an_interrupted_init_finishes_a_destroy_and_leaves_ready_ones() {
    let fx = Fixture::new();
    let ops = fx.ops();
    let mut live = ops.events().live();
    let creating = fx.registered(&fx.workspace("creating", ""), Phase::Creating).await;
    let destroying = fx.registered(&fx.workspace("destroying", ""), Phase::Destroying).await;
    let ready = fx.registered(&fx.workspace("ready", ""), Phase::Ready).await;
    ops.recover().await.unwrap();
    // Both claims are held once `recover` returns: no client can race them.
    assert!(matches!(ops.claim(&creating.path, "init"), Err(OpError::Busy { running: "init", .. })));

    let mut ended = Vec::new();
    let wait = async {
        while ended.len() < 2 {
            let event = live.recv().await.unwrap();
            if [event_kinds::ENV_FAILED, event_kinds::ENV_DESTROYED].contains(&event.kind.as_str()) {
                assert_eq!(event.data["recovered"], true, "{event:?}");
                ended.push((event.env.unwrap_or_default(), event.kind));
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait).await.expect("both recoveries ended");
    ended.sort();
    assert_eq!(
        ended,
        vec![
            (creating.name.clone(), event_kinds::ENV_FAILED.to_string()),
            (destroying.name.clone(), event_kinds::ENV_DESTROYED.to_string()),
        ]
    );
    let rows = ops.store.all().await.unwrap();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [ready.name.as_str()]);
    assert_eq!(std::fs::read_to_string(ops.home.data_dir(&ready.name).join("db")).unwrap(), "data");
    for gone in [&creating, &destroying] {
        assert!(!ops.home.data_dir(&gone.name).exists(), "{}", gone.name);
        assert!(!ops.monitor.dir_of(&gone.name).exists(), "{}", gone.name);
    }
    drop(live);
    fx.close().await;
}
