//! A look at `state.db` before SQLite opens it for writing: whether it
//! exists, is empty, is an SQLite database at all, and which schema version
//! its header records.
//!
//! Nothing is written here. Opening a database read-write already changes
//! it (the switch to WAL rewrites the header and bumps its change counter,
//! and monod makes it owner-only), so a database from a newer mono, or one
//! that is not a database, is refused from its header alone, with its bytes,
//! mode and journal untouched.

use std::io::Read;
use std::path::Path;

use super::StateError;

/// What an SQLite database file begins with.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The header's length; `user_version` is the big-endian 4 bytes at 60.
const HEADER_LEN: usize = 100;
const USER_VERSION_AT: usize = 60;

/// What the file at the database's path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// There is none: a first start.
    Missing,
    /// It exists with no bytes (SQLite would treat it as a new database).
    Empty,
    /// An SQLite database whose header records this schema version. A
    /// newer version may sit in its write-ahead log; the migrations check
    /// again once it is open.
    Sqlite {
        /// `PRAGMA user_version` as the main file's header has it.
        user_version: i64,
    },
}

/// Reads the header of the database at `path`; a file that is not an
/// SQLite database is [`StateError::Damaged`].
pub fn inspect(path: &Path) -> Result<Header, StateError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Header::Missing),
        Err(source) => return Err(StateError::Unreadable { path: path.to_path_buf(), source }),
    };
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|source| StateError::Unreadable { path: path.to_path_buf(), source })?;
    if head.is_empty() {
        return Ok(Header::Empty);
    }
    let damaged = |reason: String| StateError::Damaged { path: path.to_path_buf(), reason };
    if !head.starts_with(MAGIC) {
        return Err(damaged("it does not begin with SQLite's header".into()));
    }
    if head.len() < HEADER_LEN {
        return Err(damaged(format!("it is {} bytes long, shorter than SQLite's header", head.len())));
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&head[USER_VERSION_AT..USER_VERSION_AT + 4]);
    Ok(Header::Sqlite { user_version: i64::from(i32::from_be_bytes(version)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_missing_empty_damaged_and_versions_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert_eq!(inspect(&path).unwrap(), Header::Missing);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(inspect(&path).unwrap(), Header::Empty);
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        assert!(matches!(inspect(&path), Err(StateError::Damaged { .. })));
        std::fs::write(&path, b"SQLite format 3\0short").unwrap();
        assert!(matches!(inspect(&path), Err(StateError::Damaged { .. })));
        std::fs::remove_file(&path).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 999;").unwrap();
        drop(conn);
        assert_eq!(inspect(&path).unwrap(), Header::Sqlite { user_version: 999 });
    }
}
