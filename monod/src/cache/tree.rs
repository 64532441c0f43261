//! Copying directory trees between the cache and workspaces, by clone
//! where the file system can (a reflink on btrfs and XFS, `clonefile` on
//! APFS: instant, and no block is stored twice until one side writes), by
//! copy elsewhere (in the kernel, `copy_file_range`), on a few threads.
//!
//! Hard links are never used: a workspace writing into a linked file in
//! place would change the cache and every other workspace with it. A clone
//! or a copy is a file of its own, whatever happens to it later.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

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

#[derive(Debug)]
enum Kind {
    Dir(u32),
    File,
    Link,
}

/// Every entry under `root`, parents before children, relative to it.
fn walk(root: &Path) -> io::Result<Vec<(PathBuf, Kind)>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            let meta = entry.metadata()?;
            let ft = meta.file_type();
            if ft.is_dir() {
                out.push((path.clone(), Kind::Dir(meta.permissions().mode())));
                stack.push(path);
            } else if ft.is_file() {
                out.push((path, Kind::File));
            } else if ft.is_symlink() {
                out.push((path, Kind::Link));
            }
            // Sockets, fifos and devices are not dependencies: skipped.
        }
    }
    Ok(out)
}

/// Copies the tree at `from` to `to`, which must not exist. `cancelled` is
/// polled between files; a cancelled or failed copy leaves a partial `to`
/// for the caller to remove.
pub fn copy_tree(from: &Path, to: &Path, cancelled: &(dyn Fn() -> bool + Sync)) -> io::Result<Copied> {
    let root_mode = std::fs::metadata(from)?.permissions().mode();
    let entries = walk(from)?;
    std::fs::create_dir(to)?;
    // Directories writable while they fill; their own modes at the end.
    for (rel, kind) in &entries {
        match kind {
            Kind::Dir(_) => std::fs::create_dir(to.join(rel))?,
            Kind::Link => std::os::unix::fs::symlink(std::fs::read_link(from.join(rel))?, to.join(rel))?,
            Kind::File => {}
        }
    }
    let files: Vec<&PathBuf> =
        entries.iter().filter_map(|(rel, kind)| matches!(kind, Kind::File).then_some(rel)).collect();
    let next = AtomicUsize::new(0);
    let (count, bytes, cloned) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let clones_work = AtomicBool::new(true);
    let failure = std::sync::Mutex::new(None);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rel) = files.get(i) else { return };
                    if cancelled() {
                        failure.lock().expect("copy failure").get_or_insert(io::Error::other("cancelled"));
                        return;
                    }
                    match copy_file(&from.join(rel), &to.join(rel), &clones_work) {
                        Ok((len, was_cloned)) => {
                            count.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(len, Ordering::Relaxed);
                            cloned.fetch_add(u64::from(was_cloned), Ordering::Relaxed);
                        }
                        Err(e) => {
                            let e = io::Error::new(e.kind(), format!("{}: {e}", from.join(rel).display()));
                            failure.lock().expect("copy failure").get_or_insert(e);
                            next.store(files.len(), Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("copy failure") {
        return Err(e);
    }
    for (rel, kind) in entries.iter().rev() {
        if let Kind::Dir(mode) = kind {
            std::fs::set_permissions(to.join(rel), std::fs::Permissions::from_mode(*mode))?;
        }
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(root_mode))?;
    Ok(Copied { files: count.into_inner(), bytes: bytes.into_inner(), cloned: cloned.into_inner() })
}

/// Clones `from` to `to` or, once clones have failed, copies it; keeps its
/// permissions. Returns its length and whether it was cloned.
fn copy_file(from: &Path, to: &Path, clones_work: &AtomicBool) -> io::Result<(u64, bool)> {
    if clones_work.load(Ordering::Relaxed) {
        match reflink_copy::reflink(from, to) {
            Ok(()) => {
                let meta = std::fs::metadata(from)?;
                std::fs::set_permissions(to, meta.permissions())?;
                return Ok((meta.len(), true));
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied) => {
                return Err(e);
            }
            // Not supported here (ext4, tmpfs, another device): copy from
            // now on, without asking again for every file.
            Err(_) => {
                clones_work.store(false, Ordering::Relaxed);
                let _ = std::fs::remove_file(to);
            }
        }
    }
    Ok((std::fs::copy(from, to)?, false))
}

/// A tree's shape: every entry's path, type, size, mtime and inode. Equal
/// snapshots before and after a copy mean nothing changed meanwhile.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot(Vec<(PathBuf, u32, u64, i64, i64, u64)>);

/// Takes a snapshot of the tree at `root`.
pub fn snapshot(root: &Path) -> io::Result<Snapshot> {
    let mut all = Vec::new();
    for (rel, _) in walk(root)? {
        let m = std::fs::symlink_metadata(root.join(&rel))?;
        all.push((rel, m.mode(), m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
    }
    all.sort();
    Ok(Snapshot(all))
}

/// Files and bytes a tree holds on disk: allocated blocks, each inode once.
pub fn disk_usage(root: &Path) -> io::Result<(u64, u64)> {
    let mut seen = HashSet::new();
    let (mut files, mut bytes) = (0, 0);
    let root_meta = std::fs::symlink_metadata(root)?;
    bytes += root_meta.blocks() * 512;
    for (rel, kind) in walk(root)? {
        let m = std::fs::symlink_metadata(root.join(rel))?;
        if seen.insert((m.dev(), m.ino())) {
            bytes += m.blocks() * 512;
        }
        if matches!(kind, Kind::File) {
            files += 1;
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(root: &Path) {
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/one.txt"), "one").unwrap();
        std::fs::write(root.join("a/b/c/deep.bin"), vec![7u8; 100_000]).unwrap();
        std::fs::write(root.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a/one.txt", root.join("link")).unwrap();
        std::fs::set_permissions(root.join("a/b"), std::fs::Permissions::from_mode(0o555)).unwrap();
    }

    #[test]
    fn copies_files_links_and_modes_and_the_copy_is_independent() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir(&from).unwrap();
        sample(&from);
        let copied = copy_tree(&from, &to, &|| false).unwrap();
        assert_eq!((copied.files, copied.bytes), (3, 3 + 100_000 + 10));
        assert_eq!(std::fs::read_to_string(to.join("a/one.txt")).unwrap(), "one");
        assert_eq!(std::fs::read_link(to.join("link")).unwrap(), Path::new("a/one.txt"));
        assert_eq!(std::fs::metadata(to.join("tool")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::metadata(to.join("a/b")).unwrap().permissions().mode() & 0o777, 0o555);
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
        let before = snapshot(&from).unwrap();
        assert_eq!(before, snapshot(&from).unwrap());
        std::fs::write(from.join("a/one.txt"), "two").unwrap();
        assert_ne!(before, snapshot(&from).unwrap(), "a change shows in the snapshot");
        let (files, bytes) = disk_usage(&from).unwrap();
        assert_eq!(files, 3);
        assert!(bytes >= 100_000, "{bytes}");
        for p in [&from, &to] {
            std::fs::set_permissions(p.join("a/b"), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn a_cancelled_copy_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir(&from).unwrap();
        std::fs::write(from.join("f"), "x").unwrap();
        assert!(copy_tree(&from, &to, &|| true).is_err());
    }
}
