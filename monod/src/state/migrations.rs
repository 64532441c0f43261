//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Each entry runs once, in its own transaction, in order. Entries are never
//! edited after release; a change is a new entry.

use std::path::Path;

use rusqlite::Connection;

use super::{StateError, sql};

/// The migrations, oldest first. Index `i` brings the schema to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: environments. `id` is the slot (MONO_ENV_ID), reused after destroy.
    "CREATE TABLE environments (
        id             INTEGER PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        path           TEXT NOT NULL UNIQUE,
        project        TEXT NOT NULL,
        workspace      TEXT NOT NULL,
        mode           TEXT NOT NULL CHECK (mode IN ('simple', 'docker')),
        docker_project TEXT,
        phase          TEXT NOT NULL CHECK (phase IN ('creating', 'ready', 'destroying', 'failed')),
        created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );",
    // 2: the event log. AUTOINCREMENT: a seq is never reused, even after
    // old events are pruned, so subscribers can resume by seq.
    "CREATE TABLE events (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        env  TEXT,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
    );",
    // 3: the dependency cache's bookkeeping: one row per key ever looked
    // up (its hits and misses), saved or not; `kind` 'files' (directories
    // under cache/files) or 'image' (an image built for a `build:` service).
    // Times are Unix milliseconds.
    "CREATE TABLE cache_entries (
        key        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('files', 'image')),
        label      TEXT NOT NULL,
        size       INTEGER NOT NULL DEFAULT 0,
        files      INTEGER NOT NULL DEFAULT 0,
        hits       INTEGER NOT NULL DEFAULT 0,
        misses     INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        saved_at   INTEGER,
        last_used  INTEGER NOT NULL
    );",
    // 4: why an environment is `failed` and what it left (a rollback or
    // teardown that could not finish), shown by list, status and doctor.
    "ALTER TABLE environments ADD COLUMN failure TEXT;",
    // 5: docker mode: the Engine endpoint an environment was created on
    // (JSON: host, TLS file paths, why), so its teardown and its container
    // events reach that engine whoever asks later. NULL for older rows:
    // they use monod's own endpoint, as before.
    "ALTER TABLE environments ADD COLUMN docker_endpoint TEXT;",
    // 6: seeds (`seed:` in mono.yml) are cache entries of kind 'seed'; the
    // kind's CHECK is widened by remaking the table (SQLite cannot alter one).
    "CREATE TABLE cache_entries_new (
        key        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('files', 'image', 'seed')),
        label      TEXT NOT NULL,
        size       INTEGER NOT NULL DEFAULT 0,
        files      INTEGER NOT NULL DEFAULT 0,
        hits       INTEGER NOT NULL DEFAULT 0,
        misses     INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        saved_at   INTEGER,
        last_used  INTEGER NOT NULL
    );
    INSERT INTO cache_entries_new SELECT key, kind, label, size, files, hits, misses, created_at, saved_at, last_used
        FROM cache_entries;
    DROP TABLE cache_entries;
    ALTER TABLE cache_entries_new RENAME TO cache_entries;",
    // 7: the seed key an environment was restored from or captured under,
    // which `mono seed refresh` drops.
    "ALTER TABLE environments ADD COLUMN seed_key TEXT;",
    // 8: docker mode: the services the router reaches, and the one the
    // environment's own name reaches (JSON, see `envs::Routes`).
    "ALTER TABLE environments ADD COLUMN routes TEXT;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses a schema version newer than this build's.
pub fn check_version(found: i64, path: &Path) -> Result<(), StateError> {
    if found > SCHEMA_VERSION {
        return Err(StateError::TooNew { path: path.to_path_buf(), found, known: SCHEMA_VERSION });
    }
    Ok(())
}

/// Brings the database up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql(path))?;
    check_version(current, path)?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().map_err(sql(path))?;
        tx.execute_batch(step).map_err(sql(path))?;
        tx.pragma_update(None, "user_version", i as i64 + 1).map_err(sql(path))?;
        tx.commit().map_err(sql(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_fresh_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        migrate(&mut conn, &path).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// A database of the first released schema (see
    /// `tests/fixtures/make_state_v1.py`) upgrades with nothing lost.
    #[tokio::test]
    async fn first_released_schema_upgrades_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, include_bytes!("../../tests/fixtures/state-v1.db")).unwrap();
        let (store, _thread) = crate::state::Store::open(&path).unwrap();
        let rows = store.all().await.unwrap();
        let summary: Vec<(u32, &str, &str, Option<&str>, crate::state::Phase)> = rows
            .iter()
            .map(|r| (r.id, r.name.as_str(), r.path.as_str(), r.docker_project.as_deref(), r.phase))
            .collect();
        use crate::state::Phase::*;
        assert_eq!(
            summary,
            vec![
                (1, "web-app-lisbon", "/fixture/web-app/.conductor/workspaces/lisbon", None, Ready),
                (
                    2,
                    "web-app-tokyo",
                    "/fixture/web-app/.conductor/workspaces/tokyo",
                    Some("mono-web-app-tokyo"),
                    Ready
                ),
                (4, "api-main", "/fixture/api", None, Failed),
                (5, "web-app-tokyo-2", "/fixture/copy/web-app/tokyo", None, Ready),
            ]
        );
        assert_eq!(rows[1].mode, mono_proto::Mode::Docker);
        assert_eq!(rows[0].created_at, "2026-11-01T09:00:00.000Z");
        let (version, verdict) = store.check().await.unwrap();
        assert_eq!((version, verdict.as_str()), (SCHEMA_VERSION, "ok"));
        // The upgraded database works: slots, names and the event log.
        let new = crate::state::NewEnv {
            path: "/fixture/new".into(),
            project: "web-app".into(),
            workspace: "tokyo".into(),
            mode: mono_proto::Mode::Simple,
            docker_endpoint: None,
        };
        let registered = store.register(new, |_| None, 1).await.unwrap();
        assert_eq!((registered.row.id, registered.row.name.as_str()), (3, "web-app-tokyo-3"));
        let seq = store
            .call(|conn, path| {
                conn.execute("INSERT INTO events (time, kind, data) VALUES ('t', 'k', '{}')", [])
                    .map_err(super::sql(path))?;
                Ok(conn.last_insert_rowid())
            })
            .await
            .unwrap();
        assert_eq!(seq, 1);
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn, &path), Err(StateError::TooNew { .. })));
    }
}
