//! The `environments` table: registration (slot and unique name in one
//! transaction), lookups, phase changes and removal.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mono_proto::Mode;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{StateError, Store, sql};
use crate::ports::MAX_SLOT;

/// Where an environment is in its life, as stored. Whether a ready
/// environment is running or stopped is not stored: it is read from tmux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Init has started and not finished.
    Creating,
    /// Init finished.
    Ready,
    /// Destroy has started and not finished.
    Destroying,
    /// An operation was interrupted; destroy cleans up.
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Creating => "creating",
            Phase::Ready => "ready",
            Phase::Destroying => "destroying",
            Phase::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Phase {
        match s {
            "creating" => Phase::Creating,
            "ready" => Phase::Ready,
            "destroying" => Phase::Destroying,
            _ => Phase::Failed,
        }
    }
}

/// One registered environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRow {
    /// The slot, `MONO_ENV_ID`.
    pub id: u32,
    /// Unique `<project>-<workspace>` name.
    pub name: String,
    /// Canonical workspace path.
    pub path: String,
    /// Project part of the name, before de-duplication.
    pub project: String,
    /// Workspace part of the name, before de-duplication.
    pub workspace: String,
    /// Simple or docker.
    pub mode: Mode,
    /// Docker mode: the compose project (`mono-<name>`).
    pub docker_project: Option<String>,
    /// Stored lifecycle phase.
    pub phase: Phase,
    /// RFC 3339 UTC registration time.
    pub created_at: String,
    /// Phase `failed`: what failed and what it left.
    pub failure: Option<String>,
    /// Docker mode: the Engine endpoint it was created on (JSON, see
    /// `docker::Endpoint`); `None` for environments made before it was recorded.
    pub docker_endpoint: Option<String>,
    /// The key of the seed it was restored from or captured under.
    pub seed_key: Option<String>,
    /// Docker mode: what the router reaches (empty in simple mode).
    pub routes: Routes,
}

/// Docker mode: each service's first published TCP port, in the compose
/// file's order, and the service `<env>.localhost` reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Routes {
    /// `(service, host port)`.
    pub services: Vec<(String, u16)>,
    /// `mono.yml` `router.default`, or the only service with a port.
    pub default: Option<String>,
}

/// What registration needs.
#[derive(Debug, Clone)]
pub struct NewEnv {
    /// Canonical workspace path.
    pub path: String,
    /// Sanitised project part.
    pub project: String,
    /// Sanitised workspace part.
    pub workspace: String,
    /// Simple or docker.
    pub mode: Mode,
    /// Docker mode: the Engine endpoint (JSON).
    pub docker_endpoint: Option<String>,
}

/// A registration: the row, and the free slots passed over because some
/// program listens on a port of their block.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The new environment.
    pub row: EnvRow,
    /// `(slot, first port taken)` of each slot passed over.
    pub skipped: Vec<(u32, u16)>,
}

const COLUMNS: &str = "id, name, path, project, workspace, mode, phase, created_at, docker_project, failure, docker_endpoint, seed_key, routes";

fn from_row(r: &Row<'_>) -> rusqlite::Result<EnvRow> {
    let mode: String = r.get(5)?;
    let phase: String = r.get(6)?;
    Ok(EnvRow {
        id: r.get(0)?,
        name: r.get(1)?,
        path: r.get(2)?,
        project: r.get(3)?,
        workspace: r.get(4)?,
        mode: if mode == "docker" { Mode::Docker } else { Mode::Simple },
        phase: Phase::parse(&phase),
        created_at: r.get(7)?,
        docker_project: r.get(8)?,
        failure: r.get(9)?,
        docker_endpoint: r.get(10)?,
        seed_key: r.get(11)?,
        // Written only by `set_routes`; unreadable JSON routes nothing.
        routes: r
            .get::<_, Option<String>>(12)?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default(),
    })
}

impl Store {
    /// Registers a workspace in phase `creating`: takes the smallest free
    /// slot from `first_slot` on for which `taken` finds no port held, and
    /// a unique name (`name`, `name-2`, ...), in one transaction.
    pub async fn register(
        &self,
        new: NewEnv,
        taken: impl Fn(u32) -> Option<u16> + Send + 'static,
        first_slot: u32,
    ) -> Result<Registered, StateError> {
        let rows = Arc::clone(&self.rows);
        self.call(move |conn, path| {
            let registered = register(conn, &new, &taken, first_slot).map_err(|e| e.into_state(path))?;
            rows.fetch_add(1, Ordering::Relaxed);
            Ok(registered)
        })
        .await
    }

    /// The environment registered for a workspace path.
    pub async fn by_path(&self, ws: &str) -> Result<Option<EnvRow>, StateError> {
        let ws = ws.to_string();
        self.call(move |conn, path| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM environments WHERE path = ?1"))
                .and_then(|mut s| s.query_row([&ws], from_row).optional())
                .map_err(sql(path))
        })
        .await
    }

    /// Every environment, by slot.
    pub async fn all(&self) -> Result<Vec<EnvRow>, StateError> {
        self.call(|conn, path| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM environments ORDER BY id"))
                .map_err(sql(path))?;
            let rows = stmt.query_map([], from_row).map_err(sql(path))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(path))
        })
        .await
    }

    /// Records a phase change (clearing any earlier failure).
    pub async fn set_phase(&self, id: u32, phase: Phase) -> Result<(), StateError> {
        self.call(move |conn, path| {
            conn.execute(
                "UPDATE environments SET phase = ?2, failure = NULL WHERE id = ?1",
                params![id, phase.as_str()],
            )
            .map(drop)
            .map_err(sql(path))
        })
        .await
    }

    /// Marks an environment `failed`, with what failed and what it left.
    pub async fn set_failed(&self, id: u32, failure: String) -> Result<(), StateError> {
        self.call(move |conn, path| {
            conn.execute(
                "UPDATE environments SET phase = 'failed', failure = ?2 WHERE id = ?1",
                params![id, failure],
            )
            .map(drop)
            .map_err(sql(path))
        })
        .await
    }

    /// Records what the router reaches in a docker-mode environment.
    pub async fn set_routes(&self, id: u32, routes: &Routes) -> Result<(), StateError> {
        let json = serde_json::to_string(routes).expect("routes serialise");
        self.call(move |conn, path| {
            conn.execute("UPDATE environments SET routes = ?2 WHERE id = ?1", params![id, json])
                .map(drop)
                .map_err(sql(path))
        })
        .await
    }

    /// Records the seed key an environment was restored from or captured under.
    pub async fn set_seed_key(&self, id: u32, key: String) -> Result<(), StateError> {
        self.call(move |conn, path| {
            conn.execute("UPDATE environments SET seed_key = ?2 WHERE id = ?1", params![id, key])
                .map(drop)
                .map_err(sql(path))
        })
        .await
    }

    /// Deletes an environment's row, freeing its slot and name.
    pub async fn remove(&self, id: u32) -> Result<(), StateError> {
        let rows = Arc::clone(&self.rows);
        self.call(move |conn, path| {
            let deleted = conn.execute("DELETE FROM environments WHERE id = ?1", [id]).map_err(sql(path))?;
            if deleted == 1 {
                rows.fetch_sub(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .await
    }
}

/// Registration failures before they are tied to the database path.
enum RegisterError {
    Sql(rusqlite::Error),
    Taken { path: String, name: String },
    Full { slots: u32, blocked: u32 },
}

impl From<rusqlite::Error> for RegisterError {
    fn from(e: rusqlite::Error) -> Self {
        RegisterError::Sql(e)
    }
}

impl RegisterError {
    fn into_state(self, db: &std::path::Path) -> StateError {
        match self {
            RegisterError::Sql(e) => sql(db)(e),
            RegisterError::Taken { path, name } => StateError::PathTaken { path, name },
            RegisterError::Full { slots, blocked } => StateError::NoFreeSlot { max: slots, blocked },
        }
    }
}

fn register(
    conn: &mut Connection,
    new: &NewEnv,
    taken: &dyn Fn(u32) -> Option<u16>,
    first_slot: u32,
) -> Result<Registered, RegisterError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<String> = tx
        .query_row("SELECT name FROM environments WHERE path = ?1", [&new.path], |r| r.get(0))
        .optional()?;
    if let Some(name) = existing {
        return Err(RegisterError::Taken { path: new.path.clone(), name });
    }
    let used: BTreeSet<u32> = tx
        .prepare_cached("SELECT id FROM environments")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut skipped = Vec::new();
    let mut slot = None;
    for candidate in (first_slot.max(1)..=MAX_SLOT).filter(|s| !used.contains(s)) {
        match taken(candidate) {
            Some(port) => skipped.push((candidate, port)),
            None => {
                slot = Some(candidate);
                break;
            }
        }
    }
    let slot = slot.ok_or(RegisterError::Full {
        slots: MAX_SLOT + 1 - first_slot.max(1),
        blocked: skipped.len() as u32,
    })?;
    let base = format!("{}-{}", new.project, new.workspace);
    let mut name = base.clone();
    let mut n = 2;
    while tx
        .query_row("SELECT 1 FROM environments WHERE name = ?1", [&name], |_| Ok(()))
        .optional()?
        .is_some()
    {
        name = format!("{base}-{n}");
        n += 1;
    }
    let (mode, docker_project) = match new.mode {
        Mode::Simple => ("simple", None),
        Mode::Docker => ("docker", Some(format!("mono-{name}"))),
    };
    let row = tx.query_row(
        &format!(
            "INSERT INTO environments (id, name, path, project, workspace, mode, phase, docker_project, docker_endpoint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'creating', ?7, ?8) RETURNING {COLUMNS}"
        ),
        params![slot, name, new.path, new.project, new.workspace, mode, docker_project, new.docker_endpoint],
        from_row,
    )?;
    tx.commit()?;
    Ok(Registered { row, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports;

    impl Store {
        async fn register_free(&self, new: NewEnv) -> Result<EnvRow, StateError> {
            self.register(new, |_| None, 1).await.map(|r| r.row)
        }
    }

    fn new(path: &str, ws: &str) -> NewEnv {
        NewEnv {
            path: path.into(),
            project: "p".into(),
            workspace: ws.into(),
            mode: Mode::Simple,
            docker_endpoint: None,
        }
    }

    #[tokio::test]
    async fn slots_are_smallest_free_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let a = store.register_free(new("/a", "a")).await.unwrap();
        let b = store.register_free(new("/b", "b")).await.unwrap();
        let c = store.register_free(new("/c", "c")).await.unwrap();
        assert_eq!((a.id, b.id, c.id), (1, 2, 3));
        store.remove(b.id).await.unwrap();
        assert_eq!(store.register_free(new("/d", "d")).await.unwrap().id, 2);
        store.remove(a.id).await.unwrap();
        assert_eq!(store.register_free(new("/e", "e")).await.unwrap().id, 1);
        assert_eq!(store.register_free(new("/f", "f")).await.unwrap().id, 4);
    }

    #[tokio::test]
    async fn count_follows_inserts_and_deletes_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let (store, thread) = Store::open(&db).unwrap();
        assert_eq!(store.count(), 0);
        let a = store.register_free(new("/a", "a")).await.unwrap();
        store.register_free(new("/b", "b")).await.unwrap();
        assert!(store.register_free(new("/a", "again")).await.is_err());
        assert_eq!(store.count(), 2, "a refused registration adds no row");
        store.remove(a.id).await.unwrap();
        store.remove(a.id).await.unwrap();
        assert_eq!(store.count(), 1, "removing a missing row changes nothing");
        drop(store);
        thread.join();
        let (store, _t) = Store::open(&db).unwrap();
        assert_eq!(store.count(), 1);
    }

    #[tokio::test]
    async fn names_are_unique_and_paths_registered_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(store.register_free(new("/x/a", "w")).await.unwrap().name, "p-w");
        assert_eq!(store.register_free(new("/y/a", "w")).await.unwrap().name, "p-w-2");
        assert_eq!(store.register_free(new("/z/a", "w")).await.unwrap().name, "p-w-3");
        assert!(matches!(store.register_free(new("/x/a", "q")).await, Err(StateError::PathTaken { .. })));
        assert_eq!(store.by_path("/y/a").await.unwrap().unwrap().phase, Phase::Creating);
    }

    #[tokio::test]
    async fn slots_whose_block_is_listened_on_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        store.register_free(new("/a", "a")).await.unwrap();
        let listening = BTreeSet::from([19_205, 19_399]);
        let taken = move |slot| listening.range(ports::block(slot)).next().copied();
        let got = store.register(new("/b", "b"), taken.clone(), 1).await.unwrap();
        assert_eq!(got.row.id, 4);
        assert_eq!(got.skipped, vec![(2, 19_205), (3, 19_399)]);
        // Slot 1 is freed; its block is free, so it is taken again first.
        store.remove(1).await.unwrap();
        assert_eq!(store.register(new("/c", "c"), taken, 1).await.unwrap().row.id, 1);
        // A first slot keeps environments off the low blocks.
        assert_eq!(store.register(new("/d", "d"), |_| None, 100).await.unwrap().row.id, 100);
    }

    #[tokio::test]
    async fn a_failure_is_kept_until_the_next_phase() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        let row = store.register_free(new("/a", "a")).await.unwrap();
        assert_eq!(row.failure, None);
        store.set_failed(row.id, "destroy failed: docker is down; left: container x".into()).await.unwrap();
        let failed = store.by_path("/a").await.unwrap().unwrap();
        assert_eq!(failed.phase, Phase::Failed);
        assert_eq!(failed.failure.as_deref(), Some("destroy failed: docker is down; left: container x"));
        store.set_phase(row.id, Phase::Destroying).await.unwrap();
        assert_eq!(store.by_path("/a").await.unwrap().unwrap().failure, None);
    }

    #[tokio::test]
    async fn full_when_every_slot_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("s.db")).unwrap();
        for i in 0..MAX_SLOT {
            store.register_free(new(&format!("/p{i}"), &format!("w{i}"))).await.unwrap();
        }
        assert!(matches!(
            store.register_free(new("/last", "last")).await,
            Err(StateError::NoFreeSlot { max: 464, blocked: 0 })
        ));
        store.remove(200).await.unwrap();
        assert_eq!(store.register_free(new("/last", "last")).await.unwrap().id, 200);
    }
}
