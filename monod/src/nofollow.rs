//! File-system steps that never follow a symbolic link.
//!
//! Under `MONO_HOME` and in workspaces, a name mono creates or descends
//! through may have been replaced by a link (a script planting
//! `data/<name> -> /elsewhere`, a cached `node_modules -> /etc`). Following
//! it would make mono write, copy or delete outside the directory it means.
//! So every step here opens one component at a time, relative to an open
//! directory, with `O_NOFOLLOW`: a link is an error that names it, never a
//! way out, and a directory swapped for a link after it was checked is not
//! the one written into.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Mode of every directory mono creates under its home.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of every file mono creates under its home.
pub const PRIVATE_FILE: u32 = 0o600;

const DIR_FLAGS: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// What a name in a directory is, without following it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing of that name.
    Missing,
    /// A directory.
    Dir,
    /// A symbolic link, and where it points.
    Link(String),
    /// Anything else (a file, a socket).
    Other,
}

/// What `name` in `dir` is.
pub fn entry_at(dir: impl AsFd, name: impl AsRef<Path>) -> io::Result<Entry> {
    let name = name.as_ref();
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(Entry::Missing),
        Err(e) => Err(e.into()),
        Ok(st) => Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Entry::Dir,
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&dir, name, Vec::new()).map_err(io::Error::from)?;
                Entry::Link(target.to_string_lossy().into_owned())
            }
            _ => Entry::Other,
        }),
    }
}

/// A link found where mono expected a directory or a file.
#[derive(Debug, thiserror::Error)]
#[error("{} is a symbolic link (to {target}), which mono does not follow", at.as_ref().map_or("it".into(), |p| p.display().to_string()))]
pub struct LinkFound {
    /// Which component was the link, relative to where the walk began
    /// (see [`walk_dirs`]); `None` for a single step.
    pub at: Option<std::path::PathBuf>,
    /// Where the link points.
    pub target: String,
}

/// The error for a link found where mono expected a directory or file.
pub fn link_error(target: &str) -> io::Error {
    io::Error::other(LinkFound { at: None, target: target.to_string() })
}

/// The link `e` reports, if it reports one.
pub fn link_found(e: &io::Error) -> Option<&LinkFound> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<LinkFound>())
}

/// Whether `e` is [`link_error`]'s or the kernel's refusal to follow a link.
pub fn is_link(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) || link_found(e).is_some()
}

/// Opens an absolute directory path, refusing a link as its last component
/// (for paths that are already canonical: a workspace, the home).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, DIR_FLAGS, Mode::empty())?)
}

/// Opens the directory `name` (one component) in `dir`.
pub fn open_dir_at(dir: impl AsFd, name: impl AsRef<Path>) -> io::Result<OwnedFd> {
    let name = name.as_ref();
    match rustix::fs::openat(&dir, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(e @ (Errno::LOOP | Errno::NOTDIR)) => match entry_at(&dir, name)? {
            Entry::Link(target) => Err(link_error(&target)),
            _ => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Creates the directory `name` in `dir` with `mode` unless it exists, and
/// opens it; a link there is refused. Returns whether it was created.
pub fn create_dir_at(dir: impl AsFd, name: impl AsRef<Path>, mode: u32) -> io::Result<(OwnedFd, bool)> {
    let name = name.as_ref();
    let created = match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(mode as _)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(e.into()),
    };
    Ok((open_dir_at(&dir, name)?, created))
}

/// Creates the directory at `path` (0700) unless it exists; its parent is
/// trusted, its last component is never followed. Returns whether it was
/// created.
pub fn create_private_dir(path: &Path) -> io::Result<bool> {
    let (dir, name) = split(path)?;
    Ok(create_dir_at(open_dir(dir)?, name, PRIVATE_DIR)?.1)
}

/// Opens the directory at the relative path `rel` below `root`, one
/// component at a time; with `create`, missing ones are made with `mode`.
/// Fails on a link at any component, and on `..`.
pub fn walk_dirs(root: impl AsFd, rel: &Path, create: Option<u32>) -> io::Result<OwnedFd> {
    let mut dir = rustix::io::dup(&root)?;
    let mut at = std::path::PathBuf::new();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} leaves its root", rel.display()),
            ));
        };
        at.push(name);
        let step = match create {
            Some(mode) => create_dir_at(&dir, name, mode).map(|(fd, _)| fd),
            None => open_dir_at(&dir, name),
        };
        dir = step.map_err(|e| match link_found(&e) {
            Some(link) => io::Error::other(LinkFound { at: Some(at.clone()), target: link.target.clone() }),
            None => e,
        })?;
    }
    Ok(dir)
}

/// Creates (or truncates) the file `name` in `dir` for writing, with `mode`
/// when new; a link there is refused.
pub fn create_file_at(dir: impl AsFd, name: impl AsRef<Path>, mode: u32) -> io::Result<std::fs::File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    open_file_at(dir, name, flags, mode)
}

/// Opens the file `name` in `dir` with `flags` (plus no-follow and
/// close-on-exec), `mode` when it is created.
pub fn open_file_at(
    dir: impl AsFd,
    name: impl AsRef<Path>,
    flags: OFlags,
    mode: u32,
) -> io::Result<std::fs::File> {
    let name = name.as_ref();
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(mode as _)) {
        Ok(fd) => Ok(std::fs::File::from(fd)),
        Err(e @ Errno::LOOP) => match entry_at(&dir, name)? {
            Entry::Link(target) => Err(link_error(&target)),
            _ => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Opens the file at `path` (its directory trusted, its last component not
/// followed) with `flags`, `mode` when created.
pub fn open_file(path: &Path, flags: OFlags, mode: u32) -> io::Result<std::fs::File> {
    let (dir, name) = split(path)?;
    open_file_at(open_dir(dir)?, name, flags, mode)
}

/// Writes `bytes` to the file at `path` (mode 0600 when new), never through
/// a link at its last component.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let (dir, name) = split(path)?;
    create_file_at(open_dir(dir)?, name, PRIVATE_FILE)?.write_all(bytes)
}

/// A path's directory and last component.
fn split(path: &Path) -> io::Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((dir, name)),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} has no parent", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = open_dir(dir.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let e = create_dir_at(&root, "link", PRIVATE_DIR).unwrap_err();
        assert!(is_link(&e) && e.to_string().contains(&outside.path().display().to_string()), "{e}");
        let e = walk_dirs(&root, Path::new("link/below"), Some(PRIVATE_DIR)).unwrap_err();
        assert_eq!(link_found(&e).unwrap().at.as_deref(), Some(Path::new("link")), "{e}");
        assert!(create_file_at(&root, "link", PRIVATE_FILE).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "wrote through the link");

        let (_, created) = create_dir_at(&root, "real", PRIVATE_DIR).unwrap();
        assert!(created);
        walk_dirs(&root, Path::new("real/a/b"), Some(PRIVATE_DIR)).unwrap();
        assert_eq!(entry_at(&root, "real").unwrap(), Entry::Dir);
        assert_eq!(entry_at(&root, "nothing").unwrap(), Entry::Missing);
        assert!(walk_dirs(&root, Path::new("real/../link"), None).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("real/a/b")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
