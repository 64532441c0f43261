//! Which directory may serve as `MONO_HOME`, checked alike by the daemon and
//! the client before either writes anything there.
//!
//! mono never chmods or fills a directory it did not make. A home that does
//! not exist is created, mode 0700 (its parents as usual). An existing one
//! is resolved (a symbolic link to a directory of your own is fine: macOS's
//! `/tmp`, a home on another disk), opened once without following a link,
//! and the open directory is checked: it must belong to the caller (root
//! included: root is refused another user's home), must not be writable by
//! group or others, and must be a mono home already or hold nothing but
//! mono's own files (so `MONO_HOME=/etc` is refused, even for root). The
//! checks are made on the open descriptor, so a directory swapped for
//! another after the name was resolved is not the one approved; callers
//! create inside it relative to that descriptor, or without following links.
//!
//! A home that is accepted is never chmodded: a mode that lets others read
//! (0755) is `mono doctor`'s warning, not a refusal.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

/// The state database, whose presence marks a home mono has used.
const MARKER: &str = crate::paths::STATE_FILE;

/// Names mono keeps in its home: a directory holding only these (or
/// nothing) may become one.
const OWN_ENTRIES: [&str; 14] = [
    crate::paths::STATE_FILE,
    "state.db-wal",
    "state.db-shm",
    "state.db-journal",
    crate::paths::SOCKET_FILE,
    crate::paths::LOCK_FILE,
    crate::paths::START_LOCK_FILE,
    crate::paths::DAEMON_LOG_FILE,
    crate::paths::MONO_LOG_FILE,
    crate::paths::SETTINGS_FILE,
    crate::paths::DATA_DIR,
    crate::paths::LOGS_DIR,
    crate::paths::CACHE_DIR,
    crate::paths::SSH_DIR,
];

/// An approved home: its canonical path and the directory, open.
#[derive(Debug)]
pub struct HomeDir {
    path: PathBuf,
    fd: OwnedFd,
}

impl HomeDir {
    /// The canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open directory, to create files relative to.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The path and the open directory.
    pub fn into_parts(self) -> (PathBuf, OwnedFd) {
        (self.path, self.fd)
    }

    /// Opens (creating it, mode 0600) the file `name` in the home, never
    /// through a symbolic link.
    pub fn open_file(&self, name: &str, flags: OFlags) -> io::Result<std::fs::File> {
        let flags = flags | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))?;
        Ok(std::fs::File::from(fd))
    }
}

/// Why a directory cannot be `MONO_HOME`. Every message says what, where
/// and what to do, on one line.
#[derive(Debug)]
pub enum HomeError {
    /// The path names something other than a directory.
    NotADirectory {
        /// As given.
        path: PathBuf,
    },
    /// The path is a symbolic link to nothing.
    Dangling {
        /// As given.
        path: PathBuf,
    },
    /// The directory belongs to another user.
    NotOwned {
        /// As given, and where it leads.
        path: Shown,
        /// Its owner.
        owner: u32,
        /// The caller.
        me: u32,
    },
    /// Group or others may write in it.
    Writable {
        /// As given, and where it leads.
        path: Shown,
        /// Its permission bits.
        mode: u32,
    },
    /// It holds files of something else.
    Foreign {
        /// As given, and where it leads.
        path: Shown,
        /// One of the names that are not mono's.
        example: String,
    },
    /// A file-system step failed.
    Io {
        /// The step.
        what: &'static str,
        /// The directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A home's path for messages: as given, with its target when it differs.
#[derive(Debug)]
pub struct Shown {
    given: PathBuf,
    resolved: PathBuf,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.given == self.resolved {
            write!(f, "{}", self.given.display())
        } else {
            write!(f, "{} (-> {})", self.given.display(), self.resolved.display())
        }
    }
}

impl fmt::Display for HomeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HomeError::NotADirectory { path } => write!(
                f,
                "MONO_HOME {} is not a directory; set MONO_HOME to a directory of your own",
                path.display()
            ),
            HomeError::Dangling { path } => write!(
                f,
                "MONO_HOME {} is a symbolic link to nothing; create its target or set MONO_HOME to a directory of your own",
                path.display()
            ),
            HomeError::NotOwned { path, owner, me } => write!(
                f,
                "MONO_HOME {path} belongs to uid {owner}, not to you (uid {me}), and mono never uses another user's home; \
                 set MONO_HOME to a directory of your own"
            ),
            HomeError::Writable { path, mode } => write!(
                f,
                "MONO_HOME {path} is writable by others (mode {mode:o}), so anyone could plant files there; \
                 `chmod 700 {}`, or set MONO_HOME to a directory of your own",
                path.resolved.display()
            ),
            HomeError::Foreign { path, example } => write!(
                f,
                "MONO_HOME {path} holds files that are not mono's (such as {example:?}) and has never been a mono home; \
                 set MONO_HOME to a new or empty directory"
            ),
            HomeError::Io { what, path, source } => {
                write!(f, "cannot {what} MONO_HOME {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for HomeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HomeError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks the existing home at `path`; `Ok(None)` when nothing is there.
/// Changes nothing.
pub fn open(path: &Path) -> Result<Option<HomeDir>, HomeError> {
    let io = |what| move |source| HomeError::Io { what, path: path.to_path_buf(), source };
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => Err(HomeError::Dangling { path: path.to_path_buf() }),
                _ => Ok(None),
            };
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            return Err(HomeError::NotADirectory { path: path.to_path_buf() });
        }
        Err(e) => return Err(io("resolve")(e)),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(&resolved, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
            return Err(HomeError::NotADirectory { path: path.to_path_buf() });
        }
        Err(e) => return Err(io("open")(e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io("inspect")(e.into()))?;
    let shown = || Shown { given: path.to_path_buf(), resolved: resolved.clone() };
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(HomeError::NotOwned { path: shown(), owner: stat.st_uid, me });
    }
    #[allow(clippy::useless_conversion)] // u16 on macOS
    let mode = u32::from(stat.st_mode) & 0o7777;
    if mode & 0o022 != 0 {
        return Err(HomeError::Writable { path: shown(), mode: mode & 0o777 });
    }
    if let Some(example) = foreign_entry(&fd).map_err(io("read"))? {
        return Err(HomeError::Foreign { path: shown(), example });
    }
    Ok(Some(HomeDir { path: resolved, fd }))
}

/// Checks the home at `path`, creating it (mode 0700, its parents as
/// usual) when nothing is there.
pub fn open_or_create(path: &Path) -> Result<HomeDir, HomeError> {
    if let Some(home) = open(path)? {
        return Ok(home);
    }
    let io = |what| move |source| HomeError::Io { what, path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create the parent of"))?;
    }
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        // Another client or daemon made it meanwhile: checked below like any.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("create")(e)),
    }
    open(path)?.ok_or_else(|| io("create")(io::Error::from(io::ErrorKind::NotFound)))
}

/// The first entry that is not mono's, unless the directory is a mono home
/// already (it holds the state database).
fn foreign_entry(dir: &OwnedFd) -> io::Result<Option<String>> {
    if rustix::fs::statat(dir, MARKER, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        return Ok(None);
    }
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." || is_own(name) {
            continue;
        }
        return Ok(Some(name.to_string_lossy().into_owned()));
    }
    Ok(None)
}

fn is_own(name: &OsStr) -> bool {
    OWN_ENTRIES.iter().any(|own| name == *own)
        || name.as_bytes().starts_with(format!("{}.", crate::paths::MONO_LOG_FILE).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_absent_home_is_created_private_and_an_empty_one_is_taken_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("a/b/home");
        assert!(open(&home).unwrap().is_none());
        let made = open_or_create(&home).unwrap();
        assert_eq!(mode(&home), 0o700);
        assert_eq!(made.path(), home.canonicalize().unwrap());
        // An existing empty directory of 0755 is used, and not chmodded.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o755)).unwrap();
        open_or_create(&empty).unwrap();
        assert_eq!(mode(&empty), 0o755);
        // Through a link to a directory of one's own.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&empty, &link).unwrap();
        assert_eq!(open(&link).unwrap().unwrap().path(), empty.canonicalize().unwrap());
    }

    #[test]
    fn foreign_open_or_odd_directories_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("passwd"), "x").unwrap();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = open_or_create(&etc).unwrap_err().to_string();
        assert!(e.contains("\"passwd\"") && e.contains("new or empty directory"), "{e}");
        assert_eq!(mode(&etc), 0o755);
        // Once it is a mono home, other files beside its own are its user's.
        std::fs::write(etc.join(MARKER), "").unwrap();
        open(&etc).unwrap().unwrap();

        let open_dir = dir.path().join("open");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(open(&open_dir), Err(HomeError::Writable { mode: 0o777, .. })));
        assert_eq!(mode(&open_dir), 0o777);

        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(open_or_create(&file), Err(HomeError::NotADirectory { .. })));
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
        assert!(matches!(open_or_create(&dangling), Err(HomeError::Dangling { .. })));
        assert!(!dir.path().join("nothing").exists());

        // Only mono's names: a home being set up (monod.yml written first).
        let setup = dir.path().join("setup");
        std::fs::create_dir(&setup).unwrap();
        std::fs::write(setup.join("monod.yml"), "").unwrap();
        std::fs::write(setup.join("mono.log.1"), "").unwrap();
        open(&setup).unwrap().unwrap();
    }
}
