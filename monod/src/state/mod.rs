//! Durable state in `$MONO_HOME/state.db`.
//!
//! One thread owns the SQLite connection; async code sends it jobs over a
//! bounded channel and awaits the answer on a oneshot. That keeps blocking
//! file I/O off the runtime's threads and serialises writers without a lock
//! held across `.await`. The database runs in WAL mode with
//! `synchronous=NORMAL`: a committed row survives a daemon crash, and readers
//! (tests, `sqlite3`) never block the daemon.

mod envs;
pub mod header;
mod migrations;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use envs::{EnvRow, NewEnv, Phase, Registered, Routes};
pub use migrations::SCHEMA_VERSION;

/// Jobs waiting for the state thread; senders wait when it is full.
const QUEUE_DEPTH: usize = 256;

/// What went wrong with the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite reported an error. Its message is part of this one (not a
    /// source), so a chain of causes does not say it twice.
    #[error("state database {path}: {error}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        error: rusqlite::Error,
    },
    /// The file is not a sound SQLite database.
    #[error(
        "state database {path} is damaged ({reason}); keep a copy of it and restore state.db from a backup, \
         or move it away to start with no environments (`mono gc` then lists what they left)"
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read the state database {path}: {source}")]
    Unreadable {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `state.db` has no bytes although environments' directories exist:
    /// it was truncated, and starting would forget those environments.
    #[error(
        "state database {path} is empty (0 bytes), but environments' directories exist ({dirs}); \
         starting would forget those environments: restore state.db from a backup, or remove the empty file \
         to start with none (`mono gc --yes` then removes what they left)"
    )]
    Truncated {
        /// The database file.
        path: PathBuf,
        /// Some of the directories, for the message.
        dirs: String,
    },
    /// The database file could not be created or opened.
    #[error("cannot open state database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer mono.
    #[error(
        "state database {path} has schema version {found}, newer than this monod understands ({known}); upgrade mono \
         (the file was not changed)"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The path is already registered.
    #[error("{path} is already registered as environment {name}")]
    PathTaken {
        /// The workspace path.
        path: String,
        /// The existing environment's name.
        name: String,
    },
    /// All slots are in use, or the free ones' port blocks are taken.
    #[error(
        "no environment slot is free: {max} in all, {blocked} free one(s) passed over because other programs listen on their ports"
    )]
    NoFreeSlot {
        /// The number of slots.
        max: u32,
        /// Free slots whose port blocks other programs listen on.
        blocked: u32,
    },
    /// The state thread is gone (the daemon is shutting down).
    #[error("the state database is closed")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to the state thread. Cheap to clone; the thread ends when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Job>,
    path: PathBuf,
    /// The number of environment rows, kept by the state thread as it
    /// commits inserts and deletes, so `daemon.status` answers without a
    /// trip to that thread (waking it costs more than the query).
    rows: Arc<AtomicU32>,
}

/// Joins the state thread once every [`Store`] handle is gone.
pub struct StoreThread(JoinHandle<()>);

impl StoreThread {
    /// Waits for the thread to finish its queue and close the database.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database, then starts the
    /// thread that owns it.
    ///
    /// Nothing is written before the database is known to be of a schema
    /// this build understands: a newer one is refused from its header (see
    /// [`header`]) and again, once open, before the switch to WAL.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StateError> {
        if let header::Header::Sqlite { user_version } = header::inspect(path)? {
            migrations::check_version(user_version, path)?;
        }
        let mut conn = open_connection(path)?;
        migrations::migrate(&mut conn, path)?;
        let rows: u32 =
            conn.query_row("SELECT count(*) FROM environments", [], |r| r.get(0)).map_err(sql(path))?;
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("state".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut conn);
                }
                // Dropping the connection checkpoints the WAL.
            })
            .map_err(|e| StateError::Sqlite {
                path: path.to_path_buf(),
                error: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        let rows = Arc::new(AtomicU32::new(rows));
        Ok((Store { tx, path: path.to_path_buf(), rows }, StoreThread(thread)))
    }

    /// Runs `f` on the state thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StateError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection, &Path) -> Result<R, StateError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let path = self.path.clone();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn, &path));
        });
        self.tx.send(job).await.map_err(|_| StateError::Closed)?;
        rx.await.map_err(|_| StateError::Closed)?
    }
}

impl Store {
    /// The schema version and SQLite's `quick_check` verdict (`ok` when the
    /// file is sound), for `mono doctor`.
    pub async fn check(&self) -> Result<(i64, String), StateError> {
        self.call(|conn, path| {
            let version = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql(path))?;
            let verdict = conn.pragma_query_value(None, "quick_check", |r| r.get(0)).map_err(sql(path))?;
            Ok((version, verdict))
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Refuses a zero-byte database (what SQLite would take for a new one)
/// when `environment_dirs` finds environments' directories: it was
/// truncated, and starting empty would forget them.
pub fn refuse_truncated(
    path: &Path,
    environment_dirs: impl FnOnce() -> Vec<PathBuf>,
) -> Result<(), StateError> {
    if header::inspect(path)? != header::Header::Empty {
        return Ok(());
    }
    let found = environment_dirs();
    if found.is_empty() {
        return Ok(());
    }
    let mut dirs: Vec<String> = found.iter().take(3).map(|d| d.display().to_string()).collect();
    if found.len() > 3 {
        dirs.push(format!("{} more", found.len() - 3));
    }
    Err(StateError::Truncated { path: path.to_path_buf(), dirs: dirs.join(", ") })
}

/// What [`check_file`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    /// No database yet.
    Missing,
    /// A file of no bytes.
    Empty,
    /// Its schema version and SQLite's `quick_check` verdict (`ok`).
    Checked {
        /// `user_version`.
        version: i64,
        /// The verdict.
        verdict: String,
    },
}

/// Checks the database at `path` without a daemon and without writing to
/// it (opened read-only), for `mono doctor` when monod does not answer.
pub fn check_file(path: &Path) -> Result<FileCheck, StateError> {
    match header::inspect(path)? {
        header::Header::Missing => return Ok(FileCheck::Missing),
        header::Header::Empty => return Ok(FileCheck::Empty),
        header::Header::Sqlite { .. } => {}
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sql(path))?;
    conn.busy_timeout(std::time::Duration::from_secs(2)).map_err(sql(path))?;
    let version = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql(path))?;
    let verdict = conn.pragma_query_value(None, "quick_check", |r| r.get(0)).map_err(sql(path))?;
    Ok(FileCheck::Checked { version, verdict })
}

impl Store {
    /// How many environments are registered.
    pub fn count(&self) -> u32 {
        self.rows.load(Ordering::Relaxed)
    }
}

/// Opens the database for writing, once its schema version (read first,
/// which writes nothing) is known to be one this build understands.
fn open_connection(path: &Path) -> Result<Connection, StateError> {
    use std::os::unix::fs::PermissionsExt;
    let err = sql(path);
    // Created owner-only before SQLite sees it (SQLite would make it 0644
    // and give the WAL and shared-memory files the database's mode); never
    // opened through a link.
    let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CREATE;
    crate::nofollow::open_file(path, flags, crate::nofollow::PRIVATE_FILE)
        .map_err(|source| StateError::Open { path: path.to_path_buf(), source })?;
    let flags = rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags).map_err(&err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(&err)?;
    let version = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(&err)?;
    migrations::check_version(version, path)?;
    // A database of an older mono may be 0644.
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot make the state database private");
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(&err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(&err)?;
    Ok(conn)
}

/// Maps a SQLite error to a [`StateError`] naming the database; one that
/// says the file is not a sound database is [`StateError::Damaged`].
pub fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |error| match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            StateError::Damaged { path: path.to_path_buf(), reason: error.to_string() }
        }
        _ => StateError::Sqlite { path: path.to_path_buf(), error },
    }
}
