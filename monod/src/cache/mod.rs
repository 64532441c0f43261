//! The dependency cache: directories such as `node_modules`, kept once per
//! content of the files that determine them (`package-lock.json`) and
//! restored into every new workspace of the repository; and seeds, the
//! data a setup script makes (volumes as archives, directories as trees),
//! kept the same way ([`key::Kind`]).
//!
//! Layout under `$MONO_HOME/cache`:
//!
//! ```text
//! files/<key>/entry.json   what the entry holds: paths, file and byte counts
//! files/<key>/data/<i>/    the i-th cached path's tree
//! files/<key>/volumes/<i>.tar  a seed's i-th volume, as the Engine archived it
//! tmp/                     entries being saved (cleared when monod starts)
//! locks/<key>.lock         shared while restoring, exclusive while saving
//!                          or removing
//! ```
//!
//! Saving copies into `tmp/` and publishes with one `rename`, after
//! checking that the workspace did not change while it was copied, so a
//! half-saved entry is never seen. A restore copies into a hidden folder
//! beside the cached path and renames it into place (never over anything),
//! and checks that it copied exactly what `entry.json` promises: a damaged
//! entry is removed and counts as a miss. Copies are clones where the file
//! system can (see [`tree`]).
//!
//! A cached path and each of its parents must be a real directory in the
//! workspace: they are opened one component at a time without following a
//! link, when saving and when restoring, and the copy and the rename work
//! on those open directories. A rule whose path is a link, or lies below
//! one (`node_modules -> /etc`, `x -> /elsewhere` for `x/nm`), is skipped
//! with a note ([`Restored::Refused`], [`Saved::Refused`]), so nothing
//! outside the workspace is ever copied into the cache or written by a
//! restore. Links inside a cached tree stay links. Everything under the
//! cache is private (0700, 0600); the saved paths' own modes are recorded
//! in `entry.json` and given back on restore.

pub mod key;
mod records;
pub mod tree;

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use key::Key;
pub use records::{Record, now_ms};
pub use tree::Copied;

use crate::config::CacheRule;
use crate::home::Home;
use crate::nofollow;
use crate::state::{StateError, Store};
use tree::{ModeMap, Modes};

/// What went wrong with the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file operation failed.
    #[error("cache: cannot {action} {path}: {source}")]
    Io {
        /// What mono was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The bookkeeping failed.
    #[error(transparent)]
    State(#[from] StateError),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io { action, path: path.to_path_buf(), source }
}

/// `entry.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Manifest {
    key: String,
    label: String,
    paths: Vec<String>,
    files: u64,
    bytes: u64,
    /// Per path, the modes that are not the usual 0644/0755 (absent in
    /// entries of older monods, whose files kept their own modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    modes: Option<Vec<ModeMap>>,
    /// A seed's volumes, as archives in `volumes/<i>.tar`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<VolumeArchive>,
}

/// One volume of a seed, as the Engine's archive of its content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VolumeArchive {
    /// The volume's key in the compose file.
    pub name: String,
    /// The archive's length.
    pub bytes: u64,
    /// Its hex SHA-256, checked as it is restored.
    pub sha256: String,
}

/// How a restore went.
#[derive(Debug)]
pub enum Restored {
    /// Every path was restored.
    Hit(Copied),
    /// Nothing saved under this key.
    Miss,
    /// The entry was damaged (removed now); a miss.
    Damaged(String),
    /// A path already exists in the workspace and was left alone; a miss.
    Occupied(String),
    /// A path, or one of its parents, is not a real directory of the
    /// workspace (a symbolic link); the rule is skipped.
    Refused(String),
}

/// How a save went.
#[derive(Debug)]
pub enum Saved {
    /// Published.
    Saved {
        /// What was copied.
        copied: Copied,
        /// Bytes on disk.
        size: u64,
        /// Entries evicted to stay under the size cap.
        evicted: Vec<String>,
    },
    /// Someone else saved it first, or is saving it.
    AlreadyThere,
    /// A cached path is not in the workspace after the init script.
    Missing(String),
    /// The workspace changed while it was being copied; not saved.
    Changed,
    /// A path, or one of its parents, is a symbolic link; not saved.
    Refused(String),
}

/// What `clean` removes.
#[derive(Debug, Clone, Copy)]
pub enum Clean {
    /// Every entry.
    All,
    /// Entries not used for this long.
    OlderThan(Duration),
}

impl Clean {
    /// Entries last used before this time (Unix ms) are removed.
    pub fn cutoff(self) -> i64 {
        match self {
            Clean::All => i64::MAX,
            Clean::OlderThan(age) => now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// The cache of one home.
#[derive(Clone)]
pub struct Cache {
    home: Home,
    root: PathBuf,
    store: Store,
    max_size: u64,
}

impl Cache {
    /// The cache of `home` (`$MONO_HOME/cache`), evicting least recently
    /// used entries beyond `max_size` bytes.
    pub fn new(home: Home, store: Store, max_size: u64) -> Cache {
        Cache { root: home.cache_root(), home, store, max_size }
    }

    /// Opens (creating, 0700) a directory of the cache, never through a link.
    fn private_dir(&self, dir: &str) -> Result<OwnedFd, CacheError> {
        self.home.private_dir(&[mono_proto::paths::CACHE_DIR, dir]).map_err(|source| CacheError::Io {
            action: "create",
            path: self.root.join(dir),
            source,
        })
    }

    /// Where entries live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The size cap.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join("files").join(key)
    }

    fn lock_file(&self, key: &str) -> Result<File, CacheError> {
        let dir = self.private_dir("locks")?;
        let name = format!("{key}.lock");
        let path = self.root.join("locks").join(&name);
        let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CREATE;
        nofollow::open_file_at(&dir, &name, flags, nofollow::PRIVATE_FILE).map_err(io_err("open", &path))
    }

    /// Removes what saves interrupted by a stop or crash left; at start.
    pub fn clear_staging(&self) {
        let tmp = self.root.join("tmp");
        if tmp.exists()
            && let Err(e) =
                nofollow::open_dir(&self.root).and_then(|c| tree::remove_tree_at(&c, Path::new("tmp")))
        {
            tracing::warn!(path = %tmp.display(), error = %e, "cannot clear the cache's staging folder");
        }
    }

    /// Whether an entry is published under `key`.
    pub fn has(&self, key: &Key) -> bool {
        self.entry_dir(&key.hash).join("entry.json").is_file()
    }

    /// Restores `rule`'s paths saved under `key` into the workspace `ws`,
    /// and counts the hit or miss.
    pub async fn restore(&self, key: &Key, rule: &CacheRule, ws: &Path) -> Result<Restored, CacheError> {
        let restored = match self.lookup(key, &rule.paths, ws).await? {
            Lookup::Found(entry) => self.restore_paths(entry, ws).await?.1,
            Lookup::Not(not) => not,
        };
        self.count(key, matches!(restored, Restored::Hit(_))).await?;
        Ok(restored)
    }

    /// Counts a hit or a miss of `key`.
    pub async fn count(&self, key: &Key, hit: bool) -> Result<(), CacheError> {
        Ok(self.store.cache_lookup(&key.hash, key.kind.as_str(), &key.label, hit).await?)
    }

    /// Finds the entry of `key` for restoring `paths` into `ws`: checks
    /// that every path is free there (and below no link), then opens the
    /// entry and holds it (a shared lock: it is not removed meanwhile). A
    /// damaged entry is removed.
    pub async fn lookup(&self, key: &Key, paths: &[String], ws: &Path) -> Result<Lookup, CacheError> {
        let (this, key, paths, ws) = (self.clone(), key.clone(), paths.to_vec(), ws.to_path_buf());
        self.blocking("restore", move || this.lookup_blocking(&key, &paths, &ws)).await
    }

    /// Runs `f` on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        action: &'static str,
        f: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
    ) -> Result<T, CacheError> {
        tokio::task::spawn_blocking(f).await.map_err(|e| CacheError::Io {
            action,
            path: self.root.clone(),
            source: io::Error::other(e),
        })?
    }

    fn lookup_blocking(&self, key: &Key, paths: &[String], ws: &Path) -> Result<Lookup, CacheError> {
        // Where each path goes: its parent, open, and its name there.
        let ws_dir = nofollow::open_dir(ws).map_err(io_err("open", ws))?;
        let mut targets = Vec::new();
        for rel in paths {
            match restore_target(&ws_dir, rel) {
                Ok(Target::Free(parent, name)) => targets.push((parent, name)),
                Ok(Target::Taken) => return Ok(Lookup::Not(Restored::Occupied(rel.clone()))),
                Err(e) => match nofollow::link_found(&e) {
                    Some(link) => return Ok(Lookup::Not(Restored::Refused(refusal(rel, link)))),
                    None => return Err(CacheError::Io { action: "open", path: ws.join(rel), source: e }),
                },
            }
        }
        let dir = self.entry_dir(&key.hash);
        if !dir.exists() {
            return Ok(Lookup::Not(Restored::Miss));
        }
        let lock = self.lock_file(&key.hash)?;
        lock.lock_shared().map_err(io_err("lock", &dir))?;
        let manifest: Manifest =
            match std::fs::read(dir.join("entry.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
                Some(m) => m,
                None if !dir.exists() => return Ok(Lookup::Not(Restored::Miss)),
                None => {
                    drop(lock);
                    self.remove_entry(&key.hash)?;
                    return Ok(Lookup::Not(Restored::Damaged("entry.json is missing or unreadable".into())));
                }
            };
        let modes_match = manifest.modes.as_ref().is_none_or(|m| m.len() == paths.len());
        if manifest.paths != paths || manifest.key != key.hash || !modes_match {
            drop(lock);
            self.remove_entry(&key.hash)?;
            return Ok(Lookup::Not(Restored::Damaged("entry.json does not match its key".into())));
        }
        for (i, v) in manifest.volumes.iter().enumerate() {
            let file = dir.join("volumes").join(format!("{i}.tar"));
            let len = std::fs::symlink_metadata(&file).ok().filter(|m| m.is_file()).map(|m| m.len());
            if len != Some(v.bytes) {
                drop(lock);
                self.remove_entry(&key.hash)?;
                let found = len.map_or_else(|| "is missing".to_string(), |l| format!("holds {l} bytes"));
                return Ok(Lookup::Not(Restored::Damaged(format!(
                    "the archive of volume {} {found} where entry.json says {} bytes",
                    v.name, v.bytes
                ))));
            }
        }
        Ok(Lookup::Found(Box::new(Entry { key: key.clone(), dir, manifest, targets, _lock: lock })))
    }

    /// Restores an entry's paths into the workspace `ws` it was looked up
    /// for; gives the entry back for its volumes. A damaged entry is
    /// removed (nothing of it is left in the workspace).
    pub async fn restore_paths(
        &self,
        entry: Box<Entry>,
        ws: &Path,
    ) -> Result<(Option<Box<Entry>>, Restored), CacheError> {
        let (this, ws) = (self.clone(), ws.to_path_buf());
        self.blocking("restore", move || {
            let restored = this.restore_paths_blocking(&entry, &ws)?;
            if let Restored::Damaged(_) = restored {
                this.discard(entry)?;
                return Ok((None, restored));
            }
            Ok((Some(entry), restored))
        })
        .await
    }

    /// Removes a damaged entry found by [`Cache::lookup`].
    pub fn discard(&self, entry: Box<Entry>) -> Result<(), CacheError> {
        let key = entry.key.hash.clone();
        drop(entry);
        self.remove_entry(&key)
    }

    fn restore_paths_blocking(&self, entry: &Entry, ws: &Path) -> Result<Restored, CacheError> {
        let Entry { key, dir, manifest, targets, .. } = entry;
        let paths = &manifest.paths;
        let ws_dir = nofollow::open_dir(ws).map_err(io_err("open", ws))?;
        let mut total = Copied::default();
        let mut parents = Vec::new();
        let mut staged: Vec<(usize, PathBuf)> = Vec::new();
        let outcome = (|| -> Result<Option<String>, CacheError> {
            for ((parent, _), rel) in targets.iter().zip(paths) {
                // Created now (as the user's directories), never through a link.
                let fd =
                    nofollow::walk_dirs(&ws_dir, parent, Some(0o777)).map_err(
                        |e| match nofollow::link_found(&e) {
                            Some(_) => CacheError::Io { action: "restore", path: ws.join(rel), source: e },
                            None => CacheError::Io { action: "create", path: ws.join(parent), source: e },
                        },
                    )?;
                parents.push(fd);
            }
            for (i, (parent, rel)) in parents.iter().zip(paths).enumerate() {
                let from = dir.join("data").join(i.to_string());
                let source = match nofollow::open_dir(&from) {
                    Ok(fd) => fd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Ok(Some(format!("{rel} is missing")));
                    }
                    Err(e) => return Err(CacheError::Io { action: "restore", path: from, source: e }),
                };
                let temp = PathBuf::from(format!(".mono-restore-{}-{i}", key.short()));
                tree::remove_tree_at(parent, &temp).map_err(io_err("remove", &ws.join(&temp)))?;
                staged.push((i, temp.clone()));
                let modes = match &manifest.modes {
                    Some(all) => Modes::Recorded(&all[i]),
                    None => Modes::Source,
                };
                let (c, _) = tree::copy_tree(&source, parent, &temp, modes, &|| false)
                    .map_err(|e| CacheError::Io { action: "restore", path: ws.join(rel), source: e })?;
                total.files += c.files;
                total.bytes += c.bytes;
                total.cloned += c.cloned;
            }
            if (total.files, total.bytes) != (manifest.files, manifest.bytes) {
                return Ok(Some(format!(
                    "holds {} files, {} bytes where entry.json says {} files, {} bytes",
                    total.files, total.bytes, manifest.files, manifest.bytes
                )));
            }
            for ((((_, name), parent), (_, temp)), rel) in
                targets.iter().zip(&parents).zip(&staged).zip(paths)
            {
                // Never over something that appeared meanwhile.
                rustix::fs::renameat_with(parent, temp, parent, name, rustix::fs::RenameFlags::NOREPLACE)
                    .map_err(|e| io_err("restore", &ws.join(rel))(e.into()))?;
            }
            staged.clear();
            Ok(None)
        })();
        for (i, temp) in &staged {
            let _ = tree::remove_tree_at(&parents[*i], temp);
        }
        match outcome {
            Ok(None) => Ok(Restored::Hit(total)),
            Ok(Some(damage)) => Ok(Restored::Damaged(damage)),
            Err(e) => Err(e),
        }
    }

    /// Saves `rule`'s paths of the workspace `ws` under `key`, unless it is
    /// there already or being saved; then evicts beyond the size cap.
    /// `cancelled` is polled between files.
    pub async fn save(
        &self,
        key: &Key,
        rule: &CacheRule,
        ws: &Path,
        cancelled: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Result<Saved, CacheError> {
        let Some(staging) = self.begin(key).await? else { return Ok(Saved::AlreadyThere) };
        match self.copy_paths(staging, &rule.paths, ws, cancelled).await? {
            (staging, Ok(())) => self.publish(staging).await,
            (_, Err(not)) => Ok(not),
        }
    }

    /// Starts saving an entry under `key`: `None` when it is there already
    /// or being saved. Nothing is seen until [`Cache::publish`]; dropped
    /// unpublished, nothing is left.
    pub async fn begin(&self, key: &Key) -> Result<Option<Staging>, CacheError> {
        let (this, key) = (self.clone(), key.clone());
        self.blocking("save", move || this.begin_blocking(&key)).await
    }

    fn begin_blocking(&self, key: &Key) -> Result<Option<Staging>, CacheError> {
        if self.entry_dir(&key.hash).exists() {
            return Ok(None);
        }
        let lock = self.lock_file(&key.hash)?;
        if lock.try_lock().is_err() {
            return Ok(None);
        }
        let tmp = self.private_dir("tmp")?;
        let name = format!("{}-{}-{}", key.hash, std::process::id(), now_ms());
        let path = self.root.join("tmp").join(&name);
        let (dir, _) =
            nofollow::create_dir_at(&tmp, &name, nofollow::PRIVATE_DIR).map_err(io_err("create", &path))?;
        Ok(Some(Staging {
            manifest: Manifest {
                key: key.hash.clone(),
                label: key.label.clone(),
                paths: Vec::new(),
                files: 0,
                bytes: 0,
                modes: Some(Vec::new()),
                volumes: Vec::new(),
            },
            key: key.clone(),
            copied: Copied::default(),
            tmp,
            name,
            path,
            dir,
            volume_dir: None,
            _lock: lock,
        }))
    }

    /// Copies `paths` of the workspace `ws` into a staged entry; gives it
    /// back, with why not when a path is missing, below a link, or changed
    /// while it was copied.
    pub async fn copy_paths(
        &self,
        mut staging: Staging,
        paths: &[String],
        ws: &Path,
        cancelled: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Result<(Staging, Result<(), Saved>), CacheError> {
        let (paths, ws) = (paths.to_vec(), ws.to_path_buf());
        self.blocking("save", move || {
            let result = copy_paths_blocking(&mut staging, &paths, &ws, &cancelled)?;
            Ok((staging, result))
        })
        .await
    }

    /// Publishes a staged entry (one `rename`), records it and evicts
    /// beyond the size cap.
    pub async fn publish(&self, staging: Staging) -> Result<Saved, CacheError> {
        let this = self.clone();
        let key = staging.key.clone();
        let saved = self.blocking("save", move || this.publish_blocking(staging)).await?;
        if let Saved::Saved { copied, size, .. } = &saved {
            self.store.cache_saved(&key.hash, key.kind.as_str(), &key.label, *size, copied.files).await?;
            let evicted = self.evict(&key.hash).await?;
            if let Saved::Saved { copied, size, .. } = saved {
                return Ok(Saved::Saved { copied, size, evicted });
            }
        }
        Ok(saved)
    }

    fn publish_blocking(&self, mut staging: Staging) -> Result<Saved, CacheError> {
        staging.manifest.files = staging.copied.files;
        staging.manifest.bytes = staging.copied.bytes;
        let json = serde_json::to_vec_pretty(&staging.manifest).expect("manifest serialises");
        let path = staging.path.join("entry.json");
        use std::io::Write;
        nofollow::create_file_at(&staging.dir, "entry.json", nofollow::PRIVATE_FILE)
            .and_then(|mut f| f.write_all(&json).and_then(|()| f.sync_all()))
            .map_err(io_err("write", &path))?;
        let files = self.private_dir("files")?;
        let dir = self.entry_dir(&staging.key.hash);
        match rustix::fs::renameat_with(
            &staging.tmp,
            &staging.name,
            &files,
            &staging.key.hash,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(_) if dir.exists() => return Ok(Saved::AlreadyThere),
            Err(e) => {
                return Err(CacheError::Io { action: "publish", path: dir.clone(), source: e.into() });
            }
        }
        let (_, size) = tree::disk_usage(&dir).map_err(io_err("measure", &dir))?;
        Ok(Saved::Saved { copied: staging.copied, size, evicted: Vec::new() })
    }

    /// Removes least recently used entries (never `keep`, and none in use)
    /// until the saved entries fit under the size cap.
    async fn evict(&self, keep: &str) -> Result<Vec<String>, CacheError> {
        let records = self.store.cache_records().await?;
        let mut total: u64 =
            records.iter().filter(|r| on_disk(r) && r.saved_at.is_some()).map(|r| r.size).sum();
        let mut evicted = Vec::new();
        for r in records.iter().rev().filter(|r| on_disk(r) && r.saved_at.is_some() && r.key != keep) {
            if total <= self.max_size {
                break;
            }
            if self.try_remove(&r.key)? {
                self.store.cache_unsaved(&r.key).await?;
                total = total.saturating_sub(r.size);
                evicted.push(r.key.clone());
            }
        }
        Ok(evicted)
    }

    /// Removes an entry unless it is being restored or saved; forgets it.
    fn try_remove(&self, key: &str) -> Result<bool, CacheError> {
        let lock = self.lock_file(key)?;
        if lock.try_lock().is_err() {
            return Ok(false);
        }
        self.remove_entry(key)?;
        drop(lock);
        Ok(true)
    }

    /// Removes an entry's files (moved aside first, so it disappears at once).
    fn remove_entry(&self, key: &str) -> Result<(), CacheError> {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Ok(());
        }
        let tmp = self.private_dir("tmp")?;
        let aside = self.root.join("tmp").join(format!("removed-{key}-{}", now_ms()));
        std::fs::rename(&dir, &aside).map_err(io_err("remove", &dir))?;
        tree::remove_tree_at(&tmp, Path::new(aside.file_name().expect("named")))
            .map_err(io_err("remove", &aside))
    }

    /// Removes one entry (`seed refresh`): `false` when it is in use.
    pub async fn remove(&self, key: &str) -> Result<bool, CacheError> {
        let (this, k) = (self.clone(), key.to_string());
        let removed = self.blocking("remove", move || this.try_remove(&k)).await?;
        if removed {
            self.store.cache_unsaved(key).await?;
        }
        Ok(removed)
    }

    /// Removes file and seed entries as `what` says; returns the keys removed and
    /// those skipped because in use.
    pub async fn clean(&self, what: Clean) -> Result<(Vec<Record>, Vec<String>), CacheError> {
        let records = self.records().await?;
        let cutoff = what.cutoff();
        let (mut removed, mut busy) = (Vec::new(), Vec::new());
        for r in records.into_iter().filter(|r| on_disk(r) && r.last_used < cutoff) {
            if r.saved_at.is_none() {
                // Only bookkeeping (looked up, never saved, or evicted).
                self.store.cache_forget(&r.key).await?;
                continue;
            }
            let this = self.clone();
            let key = r.key.clone();
            let done = tokio::task::spawn_blocking(move || this.try_remove(&key)).await.map_err(|e| {
                CacheError::Io { action: "clean", path: self.root.clone(), source: io::Error::other(e) }
            })??;
            if done {
                self.store.cache_forget(&r.key).await?;
                removed.push(r);
            } else {
                busy.push(r.key);
            }
        }
        if matches!(what, Clean::All) {
            // Entries no row knows (bookkeeping lost) go too.
            let files = self.root.join("files");
            if let Ok(dirs) = std::fs::read_dir(&files) {
                for d in dirs.flatten() {
                    let key = d.file_name().to_string_lossy().into_owned();
                    if !busy.contains(&key) {
                        let _ = self.try_remove(&key);
                    }
                }
            }
        }
        Ok((removed, busy))
    }

    /// The file records, with `saved` corrected by what is on disk.
    pub async fn records(&self) -> Result<Vec<Record>, CacheError> {
        let mut records = self.store.cache_records().await?;
        for r in records.iter_mut().filter(|r| on_disk(r)) {
            if r.saved_at.is_some() && !self.entry_dir(&r.key).join("entry.json").is_file() {
                r.saved_at = None;
                r.size = 0;
            }
        }
        Ok(records)
    }

    /// The SHA-256 of every volume archive of the seed entries there are
    /// (what engines' seed bases may hold; see `docker::seed_base`).
    pub async fn seed_archives(&self) -> Result<std::collections::HashSet<String>, CacheError> {
        let records = self.records().await?;
        let this = self.clone();
        self.blocking("list", move || {
            let mut shas = std::collections::HashSet::new();
            for r in records.iter().filter(|r| r.kind == key::Kind::Seed.as_str()) {
                let file = this.entry_dir(&r.key).join("entry.json");
                if let Some(m) =
                    std::fs::read(&file).ok().and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
                {
                    shas.extend(m.volumes.into_iter().map(|v| v.sha256));
                }
            }
            Ok(shas)
        })
        .await
    }

    /// The volume archives of the seed entry `key`: each file, with its
    /// hex SHA-256, in the entry's order.
    pub async fn seed_entry_archives(&self, key: &str) -> Result<Vec<(PathBuf, String)>, CacheError> {
        let dir = self.entry_dir(key);
        self.blocking("read", move || {
            let manifest: Manifest = std::fs::read(dir.join("entry.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| CacheError::Io {
                    action: "read",
                    path: dir.join("entry.json"),
                    source: io::Error::other("missing or unreadable"),
                })?;
            Ok(manifest
                .volumes
                .into_iter()
                .enumerate()
                .map(|(i, v)| (dir.join("volumes").join(format!("{i}.tar")), v.sha256))
                .collect())
        })
        .await
    }

    /// The bookkeeping (for image entries, kept by docker mode).
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Whether a record's entry lives under `cache/files` (dependencies and
/// seeds; images live in the Engine).
fn on_disk(r: &Record) -> bool {
    r.kind == key::Kind::Files.as_str() || r.kind == key::Kind::Seed.as_str()
}

/// What [`Cache::lookup`] found.
pub enum Lookup {
    /// A sound entry, held until dropped.
    Found(Box<Entry>),
    /// No usable entry (or the workspace is not free for it): why.
    Not(Restored),
}

/// A published entry, held (shared) for restoring.
pub struct Entry {
    key: Key,
    dir: PathBuf,
    manifest: Manifest,
    targets: Vec<(PathBuf, PathBuf)>,
    _lock: File,
}

impl Entry {
    /// The entry's volume archives, in order, with their files.
    pub fn volumes(&self) -> impl Iterator<Item = (&VolumeArchive, PathBuf)> {
        self.manifest
            .volumes
            .iter()
            .enumerate()
            .map(|(i, v)| (v, self.dir.join("volumes").join(format!("{i}.tar"))))
    }
}

/// An entry being saved, in the cache's staging folder; removed when
/// dropped unpublished. Holds the key's lock.
pub struct Staging {
    key: Key,
    manifest: Manifest,
    copied: Copied,
    tmp: OwnedFd,
    name: String,
    path: PathBuf,
    dir: OwnedFd,
    volume_dir: Option<OwnedFd>,
    _lock: File,
}

impl Staging {
    /// Creates the file the next volume's archive is written to.
    pub fn volume_file(&mut self) -> Result<File, CacheError> {
        if self.volume_dir.is_none() {
            let (dir, _) = nofollow::create_dir_at(&self.dir, "volumes", nofollow::PRIVATE_DIR)
                .map_err(io_err("create", &self.path.join("volumes")))?;
            self.volume_dir = Some(dir);
        }
        let name = format!("{}.tar", self.manifest.volumes.len());
        let dir = self.volume_dir.as_ref().expect("made above");
        nofollow::create_file_at(dir, &name, nofollow::PRIVATE_FILE)
            .map_err(io_err("create", &self.path.join("volumes").join(&name)))
    }

    /// Records the archive just written to [`Staging::volume_file`].
    /// The manifest's `files`/`bytes` count paths only (a restore checks
    /// them); an archive's own size is checked by [`Cache::lookup`].
    pub fn add_volume(&mut self, archive: VolumeArchive) {
        self.manifest.volumes.push(archive);
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = tree::remove_tree_at(&self.tmp, Path::new(&self.name));
    }
}

/// Copies `paths` of `ws` into `staging`'s `data/<i>`.
fn copy_paths_blocking(
    staging: &mut Staging,
    paths: &[String],
    ws: &Path,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Result<(), Saved>, CacheError> {
    let ws_dir = nofollow::open_dir(ws).map_err(io_err("open", ws))?;
    let mut sources = Vec::new();
    for rel in paths {
        match nofollow::walk_dirs(&ws_dir, Path::new(rel), None) {
            Ok(fd) => sources.push(fd),
            Err(e) => match nofollow::link_found(&e) {
                Some(link) => return Ok(Err(Saved::Refused(refusal(rel, link)))),
                None if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                    return Ok(Err(Saved::Missing(rel.clone())));
                }
                None => return Err(CacheError::Io { action: "open", path: ws.join(rel), source: e }),
            },
        }
    }
    let (data, _) = nofollow::create_dir_at(&staging.dir, "data", nofollow::PRIVATE_DIR)
        .map_err(io_err("create", &staging.path))?;
    let mut modes = Vec::new();
    for (i, (from, rel)) in sources.iter().zip(paths).enumerate() {
        let path = ws.join(rel);
        let before = tree::snapshot(from).map_err(io_err("read", &path))?;
        let (copied, recorded) =
            tree::copy_tree(from, &data, Path::new(&i.to_string()), Modes::Private, cancelled)
                .map_err(io_err("save", &path))?;
        if tree::snapshot(from).ok().as_ref() != Some(&before) {
            return Ok(Err(Saved::Changed));
        }
        staging.copied.files += copied.files;
        staging.copied.bytes += copied.bytes;
        staging.copied.cloned += copied.cloned;
        modes.push(recorded);
    }
    staging.manifest.paths = paths.to_vec();
    staging.manifest.modes = Some(modes);
    Ok(Ok(()))
}

/// Where a restored path goes.
enum Target {
    /// Nothing there yet; its parent and name, relative to the workspace.
    Free(PathBuf, PathBuf),
    /// Something is there already.
    Taken,
}

/// Checks, creating nothing, that the cached path `rel` is free in the
/// workspace and that each of its existing parents is a real directory.
fn restore_target(ws: &OwnedFd, rel: &str) -> io::Result<Target> {
    let rel = Path::new(rel);
    let (parent, name) = match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => (parent.to_path_buf(), PathBuf::from(name)),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} has no name", rel.display()),
            ));
        }
    };
    let mut at = PathBuf::new();
    for c in parent.components() {
        at.push(c);
        match nofollow::walk_dirs(ws, &at, None) {
            Ok(_) => {}
            // Missing from here on: the restore creates it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Free(parent, name)),
            Err(e) => return Err(e),
        }
    }
    let dir = nofollow::walk_dirs(ws, &parent, None)?;
    if nofollow::entry_at(&dir, &name)? != nofollow::Entry::Missing {
        return Ok(Target::Taken);
    }
    Ok(Target::Free(parent, name))
}

/// The note for a rule whose path is, or lies below, a link.
fn refusal(rel: &str, link: &nofollow::LinkFound) -> String {
    let at = link.at.as_ref().map_or_else(|| rel.to_string(), |p| p.display().to_string());
    format!(
        "{rel}: {at} is a symbolic link (to {}), and mono caches only real directories of the workspace",
        link.target
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> CacheRule {
        CacheRule { key: vec!["lock".into()], paths: vec!["deps".into()], version: None }
    }

    fn workspace(dir: &Path) -> PathBuf {
        let ws = dir.join("ws");
        std::fs::create_dir_all(ws.join("deps/sub")).unwrap();
        std::fs::write(ws.join("lock"), "1").unwrap();
        for i in 0..20 {
            std::fs::write(ws.join(format!("deps/sub/f{i}")), format!("{i}")).unwrap();
        }
        ws
    }

    /// A temporary home with an unlimited cache and a workspace of 20 files.
    fn setup() -> (tempfile::TempDir, crate::state::StoreThread, Cache, PathBuf, Key) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(&dir.path().join("home")).unwrap();
        let (store, thread) = Store::open(&home.state_db()).unwrap();
        let cache = Cache::new(home, store, u64::MAX);
        let ws = workspace(dir.path());
        let key = key::compute(&rule(), &ws).unwrap().unwrap();
        (dir, thread, cache, ws, key)
    }

    #[tokio::test]
    async fn a_workspace_changing_during_the_save_is_not_published() {
        let (dir, _t, cache, ws, key) = setup();
        let touched = ws.join("deps/sub/f3");
        let changed = std::sync::atomic::AtomicBool::new(false);
        let hook = move || {
            if !changed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::fs::write(&touched, "changed while saving").unwrap();
            }
            false
        };
        assert!(matches!(cache.save(&key, &rule(), &ws, hook).await.unwrap(), Saved::Changed));
        assert!(!cache.has(&key));
        assert_eq!(
            std::fs::read_dir(dir.path().join("home/cache/tmp")).unwrap().count(),
            0,
            "staging left behind"
        );
        // Unchanged, it is saved; saving again finds it there.
        assert!(matches!(cache.save(&key, &rule(), &ws, || false).await.unwrap(), Saved::Saved { .. }));
        assert!(cache.has(&key));
        assert!(matches!(cache.save(&key, &rule(), &ws, || false).await.unwrap(), Saved::AlreadyThere));
    }

    #[tokio::test]
    async fn a_save_in_progress_is_not_seen_and_not_duplicated() {
        let (dir, _t, cache, ws, key) = setup();
        // Someone holds the key's lock (saving): another save steps aside,
        // and a restore finds nothing published.
        let lock = cache.lock_file(&key.hash).unwrap();
        lock.lock().unwrap();
        assert!(matches!(cache.save(&key, &rule(), &ws, || false).await.unwrap(), Saved::AlreadyThere));
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        assert!(matches!(cache.restore(&key, &rule(), &other).await.unwrap(), Restored::Miss));
        drop(lock);
        assert!(matches!(cache.save(&key, &rule(), &ws, || false).await.unwrap(), Saved::Saved { .. }));
        assert!(
            matches!(cache.restore(&key, &rule(), &other).await.unwrap(), Restored::Hit(c) if c.files == 20)
        );
    }
}
