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
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql(path))?;
    if current > SCHEMA_VERSION {
        return Err(StateError::TooNew { path: path.to_path_buf(), found: current, known: SCHEMA_VERSION });
    }
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

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn, &path), Err(StateError::TooNew { .. })));
    }
}
