//! The `cache_entries` table: hits, misses, sizes and last use per key.
//!
//! The files under `cache/files` are the truth about what is saved (an
//! entry is usable once its directory is published); these rows are the
//! bookkeeping `mono cache stats` shows and eviction orders by.

use rusqlite::{OptionalExtension, params};

use crate::state::{StateError, Store, sql};

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key (hex SHA-256).
    pub key: String,
    /// `files` or `image`.
    pub kind: String,
    /// What it holds.
    pub label: String,
    /// Bytes on disk (files) or the image's size.
    pub size: u64,
    /// Files in the entry.
    pub files: u64,
    /// Restores (or image reuses).
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// First lookup, Unix ms.
    pub created_at: i64,
    /// When it was saved, Unix ms; `None` while not saved.
    pub saved_at: Option<i64>,
    /// Last lookup or save, Unix ms.
    pub last_used: i64,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

const COLUMNS: &str = "key, kind, label, size, files, hits, misses, created_at, saved_at, last_used";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        key: r.get(0)?,
        kind: r.get(1)?,
        label: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        files: r.get::<_, i64>(4)? as u64,
        hits: r.get::<_, i64>(5)? as u64,
        misses: r.get::<_, i64>(6)? as u64,
        created_at: r.get(7)?,
        saved_at: r.get(8)?,
        last_used: r.get(9)?,
    })
}

impl Store {
    /// Counts a hit (`true`) or a miss of `key`, creating its row.
    pub async fn cache_lookup(
        &self,
        key: &str,
        kind: &'static str,
        label: &str,
        hit: bool,
    ) -> Result<(), StateError> {
        let (key, label) = (key.to_string(), label.to_string());
        self.call(move |conn, path| {
            let now = now_ms();
            conn.execute(
                "INSERT INTO cache_entries (key, kind, label, created_at, last_used) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(key) DO NOTHING",
                params![key, kind, label, now],
            )
            .map_err(sql(path))?;
            let column = if hit { "hits" } else { "misses" };
            conn.execute(
                &format!("UPDATE cache_entries SET {column} = {column} + 1, last_used = ?2 WHERE key = ?1"),
                params![key, now],
            )
            .map(drop)
            .map_err(sql(path))
        })
        .await
    }

    /// Records that `key` was saved, with its size.
    pub async fn cache_saved(
        &self,
        key: &str,
        kind: &'static str,
        label: &str,
        size: u64,
        files: u64,
    ) -> Result<(), StateError> {
        let (key, label) = (key.to_string(), label.to_string());
        self.call(move |conn, path| {
            let now = now_ms();
            conn.execute(
                "INSERT INTO cache_entries (key, kind, label, size, files, created_at, saved_at, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)
                 ON CONFLICT(key) DO UPDATE SET size = ?4, files = ?5, saved_at = ?6, last_used = ?6",
                params![key, kind, label, size as i64, files as i64, now],
            )
            .map(drop)
            .map_err(sql(path))
        })
        .await
    }

    /// Records that `key`'s files were removed (evicted), keeping its
    /// hits and misses.
    pub async fn cache_unsaved(&self, key: &str) -> Result<(), StateError> {
        let key = key.to_string();
        self.call(move |conn, path| {
            conn.execute(
                "UPDATE cache_entries SET saved_at = NULL, size = 0, files = 0 WHERE key = ?1",
                [key],
            )
            .map(drop)
            .map_err(sql(path))
        })
        .await
    }

    /// Forgets `key` (its entry was removed).
    pub async fn cache_forget(&self, key: &str) -> Result<(), StateError> {
        let key = key.to_string();
        self.call(move |conn, path| {
            conn.execute("DELETE FROM cache_entries WHERE key = ?1", [key]).map(drop).map_err(sql(path))
        })
        .await
    }

    /// Every row, most recently used first.
    pub async fn cache_records(&self) -> Result<Vec<Record>, StateError> {
        self.call(|conn, path| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM cache_entries ORDER BY last_used DESC"))
                .map_err(sql(path))?;
            let rows = stmt.query_map([], from_row).map_err(sql(path))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(path))
        })
        .await
    }

    /// One row.
    pub async fn cache_record(&self, key: &str) -> Result<Option<Record>, StateError> {
        let key = key.to_string();
        self.call(move |conn, path| {
            conn.query_row(&format!("SELECT {COLUMNS} FROM cache_entries WHERE key = ?1"), [key], from_row)
                .optional()
                .map_err(sql(path))
        })
        .await
    }
}
