//! Copying directory trees between the cache and workspaces, by clone
//! where the file system can (a reflink on btrfs and XFS, `clonefile` on
//! APFS: instant, and no block is stored twice until one side writes), by
//! copy elsewhere (in the kernel, `copy_file_range`), on a few threads.
//!
//! Hard links are never used: a workspace writing into a linked file in
//! place would change the cache and every other workspace with it. A clone
//! or a copy is a file of its own, whatever happens to it later.
//!
//! Every step goes through open directories, one name at a time, without
//! following a link ([`crate::nofollow`]): a symbolic link inside a tree is
//! copied as a link, never followed, and a directory replaced by a link
//! while the copy runs is not descended into, so nothing outside the two
//! trees is read or written. Open directories are bounded: the walk holds
//! those on its current path, and queued file copies at most [`QUEUE`].
//!
//! Modes: what the cache keeps is private (directories 0700, files 0600);
//! each entry's original mode is recorded ([`Modes`]) and given back on
//! restore, so `node_modules/.bin` stays executable.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use crate::nofollow::{self, PRIVATE_DIR, PRIVATE_FILE};

/// File copies queued ahead of the workers (each holds its directories open).
const QUEUE: usize = 256;
/// The mode a file usually has; only others are recorded.
const USUAL_FILE: u32 = 0o644;
/// The mode a directory usually has; only others are recorded.
const USUAL_DIR: u32 = 0o755;

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Regular files written.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// How many of them were cloned rather than copied.
    pub cloned: u64,
}

/// Original modes of a tree's entries that differ from the usual 0644
/// (files) and 0755 (directories), by path relative to the tree (`""` is
/// the tree itself).
pub type ModeMap = BTreeMap<String, u32>;

/// Which modes the copy gets.
#[derive(Debug, Clone, Copy)]
pub enum Modes<'a> {
    /// Private (0700, 0600), for the cache; the originals are returned.
    Private,
    /// As recorded when saved.
    Recorded(&'a ModeMap),
    /// The source's own (entries saved before modes were recorded).
    Source,
}

impl Modes<'_> {
    fn of(self, rel: &Path, source: u32, dir: bool) -> u32 {
        match self {
            Modes::Private if dir => PRIVATE_DIR,
            Modes::Private => PRIVATE_FILE,
            Modes::Recorded(map) => map.get(rel.to_string_lossy().as_ref()).copied().unwrap_or(if dir {
                USUAL_DIR
            } else {
                USUAL_FILE
            }),
            Modes::Source => source,
        }
    }
}

/// A destination directory being filled: writable until every copy into
/// it is done, then given its mode (when the last reference drops).
struct DstDir<'a> {
    fd: OwnedFd,
    mode: u32,
    failure: &'a Mutex<Option<io::Error>>,
}

impl Drop for DstDir<'_> {
    fn drop(&mut self) {
        if let Err(e) = rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(self.mode as _)) {
            self.failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.into());
        }
    }
}

/// One file to copy.
struct Job<'a> {
    from: Arc<OwnedFd>,
    to: Arc<DstDir<'a>>,
    name: OsString,
    mode: u32,
    rel: PathBuf,
}

fn kind(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode)
}

#[allow(clippy::useless_conversion)] // u16 on macOS
fn perm(stat: &Stat) -> u32 {
    u32::from(stat.st_mode) & 0o777
}

/// The names in an open directory, without `.` and `..`.
pub(crate) fn names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(std::ffi::OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(out)
}

/// Copies the tree open at `from` to a new directory `to_name` in `to_dir`
/// (which must not exist there), with the modes `modes` says. `cancelled`
/// is polled between files; a cancelled or failed copy leaves a partial
/// tree for the caller to remove. Returns what was copied and the source's
/// unusual modes.
pub fn copy_tree(
    from: &OwnedFd,
    to_dir: impl AsFd,
    to_name: &Path,
    modes: Modes<'_>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> io::Result<(Copied, ModeMap)> {
    let failure = Mutex::new(None);
    let (count, bytes, cloned) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let clones_work = AtomicBool::new(true);
    let recorded = Mutex::new(ModeMap::new());
    let record = |rel: &Path, mode: u32, dir: bool| {
        if mode != if dir { USUAL_DIR } else { USUAL_FILE } {
            recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rel.to_string_lossy().into_owned(), mode);
        }
    };
    let fail = |e: io::Error| {
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };
    let failed = || failure.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    let root_mode = perm(&rustix::fs::fstat(from)?);
    record(Path::new(""), root_mode, true);
    rustix::fs::mkdirat(&to_dir, to_name, Mode::from_raw_mode(PRIVATE_DIR as _))?;
    let root = DstDir {
        fd: nofollow::open_dir_at(&to_dir, to_name)?,
        mode: modes.of(Path::new(""), root_mode, true),
        failure: &failure,
    };
    let first = Arc::new(rustix::io::dup(from)?);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    {
        let (tx, rx) = mpsc::sync_channel::<Job<'_>>(QUEUE);
        let rx = Mutex::new(rx);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        if failed() {
                            continue;
                        }
                        if cancelled() {
                            fail(io::Error::other("cancelled"));
                            continue;
                        }
                        match copy_file(&job.from, &job.to.fd, &job.name, job.mode, &clones_work) {
                            Ok((len, was_cloned)) => {
                                count.fetch_add(1, Ordering::Relaxed);
                                bytes.fetch_add(len, Ordering::Relaxed);
                                cloned.fetch_add(u64::from(was_cloned), Ordering::Relaxed);
                            }
                            Err(e) => fail(io::Error::new(e.kind(), format!("{}: {e}", job.rel.display()))),
                        }
                    }
                });
            }
            // The walk: depth first, opening a directory only when it is next.
            let mut pending: Vec<(Arc<OwnedFd>, Arc<DstDir<'_>>, OsString, PathBuf)> = Vec::new();
            let mut current = Some((first, Arc::new(root), PathBuf::new()));
            let walked = (|| -> io::Result<()> {
                loop {
                    let (src, dst, rel) = match current.take() {
                        Some(c) => c,
                        None => {
                            let Some((parent, parent_dst, name, rel)) = pending.pop() else { return Ok(()) };
                            let src = Arc::new(nofollow::open_dir_at(&*parent, &name)?);
                            let mode = modes.of(&rel, perm(&rustix::fs::fstat(&*src)?), true);
                            rustix::fs::mkdirat(
                                &parent_dst.fd,
                                &name,
                                Mode::from_raw_mode(PRIVATE_DIR as _),
                            )?;
                            let fd = nofollow::open_dir_at(&parent_dst.fd, &name)?;
                            (src, Arc::new(DstDir { fd, mode, failure: &failure }), rel)
                        }
                    };
                    for name in names(&src)? {
                        if failed() || cancelled() {
                            return Err(io::Error::other("cancelled"));
                        }
                        let child = rel.join(&name);
                        let stat = rustix::fs::statat(&*src, &name, AtFlags::SYMLINK_NOFOLLOW)?;
                        match kind(&stat) {
                            FileType::Directory => {
                                record(&child, perm(&stat), true);
                                pending.push((src.clone(), dst.clone(), name, child));
                            }
                            FileType::RegularFile => {
                                record(&child, perm(&stat), false);
                                let mode = modes.of(&child, perm(&stat), false);
                                let job = Job { from: src.clone(), to: dst.clone(), name, mode, rel: child };
                                tx.send(job).map_err(|_| io::Error::other("the copy workers stopped"))?;
                            }
                            FileType::Symlink => {
                                let target = rustix::fs::readlinkat(&*src, &name, Vec::new())?;
                                rustix::fs::symlinkat(target.as_c_str(), &dst.fd, &name)?;
                            }
                            // Sockets, fifos and devices are not dependencies: skipped.
                            _ => {}
                        }
                    }
                }
            })();
            drop(tx);
            drop(pending);
            if let Err(e) = walked {
                fail(e);
            }
        });
    }
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let copied = Copied { files: count.into_inner(), bytes: bytes.into_inner(), cloned: cloned.into_inner() };
    Ok((copied, recorded.into_inner().unwrap_or_else(|p| p.into_inner())))
}

/// Clones the file `name` of `from` into a new file of that name in `to`
/// or, once clones have failed, copies it; gives it `mode`. Returns its
/// length and whether it was cloned.
fn copy_file(
    from: &OwnedFd,
    to: &OwnedFd,
    name: &OsString,
    mode: u32,
    clones_work: &AtomicBool,
) -> io::Result<(u64, bool)> {
    let mut src = nofollow::open_file_at(from, name, OFlags::RDONLY, 0)?;
    let len = src.metadata()?.len();
    let mode = Mode::from_raw_mode(mode as _);
    #[cfg(target_os = "macos")]
    if clones_work.load(Ordering::Relaxed) {
        use rustix::fs::CloneFlags;
        match rustix::fs::fclonefileat(&src, to, name, CloneFlags::NOFOLLOW | CloneFlags::NOOWNERCOPY) {
            Ok(()) => {
                let dst = nofollow::open_file_at(to, name, OFlags::RDONLY, 0)?;
                rustix::fs::fchmod(&dst, mode)?;
                return Ok((len, true));
            }
            // Not supported here (another volume, not APFS): copy from now on.
            Err(_) => clones_work.store(false, Ordering::Relaxed),
        }
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
    let mut dst: File = nofollow::open_file_at(to, name, flags, PRIVATE_FILE)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if clones_work.load(Ordering::Relaxed) {
        match rustix::fs::ioctl_ficlone(&dst, &src) {
            Ok(()) => {
                rustix::fs::fchmod(&dst, mode)?;
                return Ok((len, true));
            }
            // Not supported here (ext4, tmpfs, another device): copy from
            // now on, without asking again for every file.
            Err(_) => clones_work.store(false, Ordering::Relaxed),
        }
    }
    let copied = io::copy(&mut src, &mut dst)?;
    rustix::fs::fchmod(&dst, mode)?;
    Ok((copied, false))
}

/// Calls `visit` with every entry under the open directory `root` (path
/// relative to it, its status), parents before children, never following
/// a link.
fn visit(root: &OwnedFd, mut visit: impl FnMut(&Path, &Stat)) -> io::Result<()> {
    let mut pending: Vec<(Arc<OwnedFd>, OsString, PathBuf)> = Vec::new();
    let mut current = Some((Arc::new(rustix::io::dup(root)?), PathBuf::new()));
    loop {
        let (dir, rel) = match current.take() {
            Some(c) => c,
            None => {
                let Some((parent, name, rel)) = pending.pop() else { return Ok(()) };
                (Arc::new(nofollow::open_dir_at(&*parent, &name)?), rel)
            }
        };
        for name in names(&dir)? {
            let stat = rustix::fs::statat(&*dir, &name, AtFlags::SYMLINK_NOFOLLOW)?;
            let child = rel.join(&name);
            visit(&child, &stat);
            if kind(&stat) == FileType::Directory {
                pending.push((dir.clone(), name, child));
            }
        }
    }
}

/// A tree's shape: every entry's path, type, size, mtime and inode. Equal
/// snapshots before and after a copy mean nothing changed meanwhile.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot(Vec<(PathBuf, u32, u64, i64, i64, u64)>);

/// Takes a snapshot of the tree open at `root`.
#[allow(clippy::useless_conversion, clippy::unnecessary_cast)] // field types differ on macOS
pub fn snapshot(root: &OwnedFd) -> io::Result<Snapshot> {
    let mut all = Vec::new();
    visit(root, |rel, st| {
        all.push((
            rel.to_path_buf(),
            u32::from(st.st_mode),
            st.st_size as u64,
            st.st_mtime as i64,
            st.st_mtime_nsec as i64,
            st.st_ino as u64,
        ));
    })?;
    all.sort();
    Ok(Snapshot(all))
}

/// Files and bytes the tree at `root` holds on disk: allocated blocks,
/// each inode once.
#[allow(clippy::unnecessary_cast)] // field types differ on macOS
pub fn disk_usage(root: &Path) -> io::Result<(u64, u64)> {
    let dir = nofollow::open_dir(root)?;
    let mut seen = HashSet::new();
    let (mut files, mut bytes) = (0, rustix::fs::fstat(&dir)?.st_blocks as u64 * 512);
    visit(&dir, |_, st| {
        if seen.insert((st.st_dev as u64, st.st_ino as u64)) {
            bytes += st.st_blocks as u64 * 512;
        }
        if kind(st) == FileType::RegularFile {
            files += 1;
        }
    })?;
    Ok((files, bytes))
}

/// Removes the tree `name` in `dir` (a file or link: just it), never
/// following a link; directories without write permission are made
/// writable first.
pub fn remove_tree_at(dir: impl AsFd, name: &Path) -> io::Result<()> {
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
        Ok(st) if kind(&st) != FileType::Directory => {
            return Ok(rustix::fs::unlinkat(&dir, name, AtFlags::empty())?);
        }
        Ok(_) => {}
    }
    let sub = nofollow::open_dir_at(&dir, name)?;
    let _ = rustix::fs::fchmod(&sub, Mode::from_raw_mode(PRIVATE_DIR as _));
    for child in names(&sub)? {
        remove_tree_at(&sub, Path::new(&child))?;
    }
    Ok(rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn sample(root: &Path) {
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/one.txt"), "one").unwrap();
        std::fs::write(root.join("a/b/c/deep.bin"), vec![7u8; 100_000]).unwrap();
        std::fs::write(root.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(root.join("a/one.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(root.join("a/b/c/deep.bin"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::os::unix::fs::symlink("a/one.txt", root.join("link")).unwrap();
        std::fs::set_permissions(root.join("a/b"), std::fs::Permissions::from_mode(0o555)).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn copy(from: &Path, to: &Path, modes: Modes<'_>) -> io::Result<(Copied, ModeMap)> {
        let src = nofollow::open_dir(from).unwrap();
        let parent = nofollow::open_dir(to.parent().unwrap()).unwrap();
        copy_tree(&src, &parent, Path::new(to.file_name().unwrap()), modes, &|| false)
    }

    #[test]
    fn copies_files_and_links_privately_and_restores_the_modes() {
        let dir = tempfile::tempdir().unwrap();
        let (from, kept, to) = (dir.path().join("from"), dir.path().join("kept"), dir.path().join("to"));
        std::fs::create_dir(&from).unwrap();
        std::fs::set_permissions(&from, std::fs::Permissions::from_mode(0o755)).unwrap();
        sample(&from);
        let (copied, modes) = copy(&from, &kept, Modes::Private).unwrap();
        assert_eq!((copied.files, copied.bytes), (3, 3 + 100_000 + 10));
        assert_eq!(modes, ModeMap::from([("a/b".into(), 0o555), ("tool".into(), 0o755)]));
        // What the cache keeps is private.
        for p in ["", "a", "a/b", "a/b/c"] {
            assert_eq!(mode(&kept.join(p)), 0o700, "{p}");
        }
        for p in ["tool", "a/one.txt", "a/b/c/deep.bin"] {
            assert_eq!(mode(&kept.join(p)), 0o600, "{p}");
        }
        assert_eq!(std::fs::read_link(kept.join("link")).unwrap(), Path::new("a/one.txt"));
        // A restore gives the original modes back.
        let (again, _) = copy(&kept, &to, Modes::Recorded(&modes)).unwrap();
        assert_eq!(again, Copied { cloned: again.cloned, ..copied });
        assert_eq!(mode(&to.join("tool")), 0o755);
        assert_eq!(mode(&to.join("a/b")), 0o555);
        assert_eq!(mode(&to.join("a/one.txt")), 0o644);
        assert_eq!(mode(&to), 0o755);
        assert_eq!(std::fs::read_to_string(to.join("a/one.txt")).unwrap(), "one");
        // Writing, appending and deleting in the copy leave the original.
        std::fs::write(to.join("a/one.txt"), "changed").unwrap();
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(to.join("tool")).unwrap().write_all(b"x").unwrap();
        assert_ne!(
            std::fs::metadata(to.join("a/one.txt")).unwrap().ino(),
            std::fs::metadata(from.join("a/one.txt")).unwrap().ino()
        );
        assert_eq!(std::fs::read_to_string(from.join("a/one.txt")).unwrap(), "one");
        assert_eq!(std::fs::read_to_string(from.join("tool")).unwrap(), "#!/bin/sh\n");
        let root = nofollow::open_dir(&from).unwrap();
        let before = snapshot(&root).unwrap();
        assert_eq!(before, snapshot(&root).unwrap());
        std::fs::write(from.join("a/one.txt"), "two").unwrap();
        assert_ne!(before, snapshot(&root).unwrap(), "a change shows in the snapshot");
        let (files, bytes) = disk_usage(&from).unwrap();
        assert_eq!(files, 3);
        assert!(bytes >= 100_000, "{bytes}");
        for p in [&from, &to] {
            std::fs::set_permissions(p.join("a/b"), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let parent = nofollow::open_dir(dir.path()).unwrap();
        for p in ["from", "kept", "to"] {
            remove_tree_at(&parent, Path::new(p)).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn links_inside_are_copied_as_links_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("inner")).unwrap();
        std::fs::write(outside.join("inner/secret"), "x").unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir(&from).unwrap();
        std::os::unix::fs::symlink(&outside, from.join("out")).unwrap();
        let (copied, _) = copy(&from, &dir.path().join("to"), Modes::Private).unwrap();
        assert_eq!(copied.files, 0);
        assert_eq!(std::fs::read_link(dir.path().join("to/out")).unwrap(), outside);
        // Removing the copy removes the link, not what it points to.
        remove_tree_at(nofollow::open_dir(dir.path()).unwrap(), Path::new("to")).unwrap();
        assert!(outside.join("inner/secret").exists());
    }

    #[test]
    fn a_cancelled_copy_stops() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir(&from).unwrap();
        std::fs::write(from.join("f"), "x").unwrap();
        let src = nofollow::open_dir(&from).unwrap();
        let parent = nofollow::open_dir(dir.path()).unwrap();
        assert!(copy_tree(&src, &parent, Path::new("to"), Modes::Private, &|| true).is_err());
    }
}
