//! An entry's key: what must be equal for a saved copy to be reused.
//!
//! A dependency entry's key is SHA-256 over the platform (a `node_modules`
//! built on Linux is not one for macOS), the rule's `version`, the cached
//! paths, and each key file's name and bytes. A seed's key is SHA-256 over
//! its `version`, each volume with the images (ids, not tags) and mount
//! points of the services that mount it, its paths, and the content of its
//! key files and directories: walked in sorted order, names and bytes, a
//! link by its target text (never followed). Any change to any of them is
//! another entry.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::{CacheRule, SeedSettings};
use crate::nofollow::{self, Entry};

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Directories made by the init script (`cache:`).
    Files,
    /// Data made by the setup script (`seed:`): volumes and directories.
    Seed,
}

impl Kind {
    /// As the bookkeeping and `mono cache stats` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Files => "files",
            Kind::Seed => "seed",
        }
    }
}

/// A computed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Hex SHA-256.
    pub hash: String,
    /// What the entry holds, for people: `node_modules (package-lock.json)`.
    pub label: String,
    /// Dependencies or seed.
    pub kind: Kind,
}

/// What shapes one seeded volume's content besides the key files: the
/// services that mount it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeShape {
    /// The volume's key in the compose file (`pgdata`).
    pub name: String,
    /// Its driver and options, as `driver=local,type=tmpfs`.
    pub driver: String,
    /// Per mounting service: its name, image id and mount point.
    pub services: Vec<(String, String, String)>,
}

impl Key {
    /// The first 12 hex digits, as `mono cache stats` shows.
    pub fn short(&self) -> &str {
        &self.hash[..12]
    }
}

/// The key of `rule` in the workspace `ws`: `Ok(None)` when a key file is
/// missing (the rule does not apply to this workspace).
pub fn compute(rule: &CacheRule, ws: &Path) -> std::io::Result<Option<Key>> {
    let mut h = Sha256::new();
    let field = |h: &mut Sha256, bytes: &[u8]| field(h, bytes);
    field(&mut h, b"mono-cache-1");
    field(&mut h, std::env::consts::OS.as_bytes());
    field(&mut h, std::env::consts::ARCH.as_bytes());
    field(&mut h, rule.version.as_deref().unwrap_or("").as_bytes());
    for p in &rule.paths {
        field(&mut h, p.as_bytes());
    }
    for k in &rule.key {
        let bytes = match std::fs::read(ws.join(k)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        field(&mut h, k.as_bytes());
        field(&mut h, &bytes);
    }
    let version = rule.version.as_ref().map(|v| format!(", version {v}")).unwrap_or_default();
    let label = format!("{} ({}{version})", rule.paths.join(", "), rule.key.join(", "));
    Ok(Some(Key { hash: hex(h), label, kind: Kind::Files }))
}

/// The key of `seed` in the workspace `ws`, its volumes shaped as `volumes`
/// says (in `seed.volumes`' order): `Ok(None)` when a key path is missing
/// (the seed does not apply to this workspace). Key paths are read without
/// following a link anywhere on the way.
pub fn seed(seed: &SeedSettings, volumes: &[VolumeShape], ws: &Path) -> std::io::Result<Option<Key>> {
    let mut h = Sha256::new();
    field(&mut h, b"mono-seed-1");
    field(&mut h, seed.version.as_deref().unwrap_or("").as_bytes());
    for v in volumes {
        field(&mut h, b"volume");
        field(&mut h, v.name.as_bytes());
        field(&mut h, v.driver.as_bytes());
        for (service, image, target) in &v.services {
            field(&mut h, service.as_bytes());
            field(&mut h, image.as_bytes());
            field(&mut h, target.as_bytes());
        }
    }
    for p in &seed.paths {
        field(&mut h, b"path");
        field(&mut h, p.as_bytes());
    }
    let root = nofollow::open_dir(ws)?;
    for k in &seed.key {
        let rel = Path::new(k);
        let (parent, name) = (rel.parent().unwrap_or(Path::new("")), rel.file_name().unwrap_or_default());
        let dir = match nofollow::walk_dirs(&root, parent, None) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        field(&mut h, b"key");
        field(&mut h, k.as_bytes());
        if !hash_entry(&mut h, &dir, name.as_ref())? {
            return Ok(None);
        }
    }
    let mut held: Vec<String> = seed.volumes.clone();
    held.extend(seed.paths.iter().cloned());
    let version = seed.version.as_ref().map(|v| format!(", version {v}")).unwrap_or_default();
    let label = format!("seed {} ({}{version})", held.join(", "), seed.key.join(", "));
    Ok(Some(Key { hash: hex(h), label, kind: Kind::Seed }))
}

/// Hashes `name` in `dir`: a file's bytes, a directory's entries in sorted
/// order (recursively), a link's target. `false` when it does not exist.
fn hash_entry(h: &mut Sha256, dir: &OwnedFd, name: &Path) -> std::io::Result<bool> {
    match nofollow::entry_at(dir, name)? {
        Entry::Missing => Ok(false),
        Entry::Link(target) => {
            field(h, b"link");
            field(h, target.as_bytes());
            Ok(true)
        }
        Entry::Dir => {
            field(h, b"dir");
            let sub = nofollow::open_dir_at(dir, name)?;
            let mut names = super::tree::names(&sub)?;
            names.sort();
            for n in &names {
                field(h, n.as_bytes());
                hash_entry(h, &sub, Path::new(n))?;
            }
            field(h, b"end");
            Ok(true)
        }
        Entry::Other => {
            let mut file = nofollow::open_file_at(dir, name, rustix::fs::OFlags::RDONLY, 0)?;
            let len = file.metadata()?.len();
            field(h, b"file");
            h.update(len.to_le_bytes());
            let mut buf = vec![0u8; 64 * 1024];
            let mut read = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                read += n as u64;
                h.update(&buf[..n]);
            }
            if read != len {
                return Err(std::io::Error::other(format!("{} changed while it was read", name.display())));
            }
            Ok(true)
        }
    }
}

/// A length-prefixed field, so no two different inputs hash alike.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(version: Option<&str>) -> CacheRule {
        CacheRule {
            key: vec!["lock.json".into()],
            paths: vec!["deps".into()],
            version: version.map(str::to_string),
        }
    }

    #[test]
    fn key_follows_content_version_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        assert_eq!(compute(&rule(None), ws).unwrap(), None, "missing key file");
        std::fs::write(ws.join("lock.json"), "a").unwrap();
        let a = compute(&rule(None), ws).unwrap().unwrap();
        assert_eq!(a.hash.len(), 64);
        assert_eq!(a.label, "deps (lock.json)");
        assert_eq!(compute(&rule(None), ws).unwrap().unwrap(), a, "stable");
        std::fs::write(ws.join("lock.json"), "b").unwrap();
        let b = compute(&rule(None), ws).unwrap().unwrap();
        assert_ne!(a.hash, b.hash);
        let v = compute(&rule(Some("2")), ws).unwrap().unwrap();
        assert_ne!(v.hash, b.hash);
        let mut other_paths = rule(None);
        other_paths.paths = vec!["vendor".into()];
        assert_ne!(compute(&other_paths, ws).unwrap().unwrap().hash, b.hash);
    }

    fn seed_settings() -> SeedSettings {
        SeedSettings {
            key: vec!["db/migrations".into(), "db/seed.sql".into()],
            volumes: vec!["pgdata".into()],
            paths: vec![],
            version: None,
        }
    }

    fn shape(image: &str) -> Vec<VolumeShape> {
        vec![VolumeShape {
            name: "pgdata".into(),
            driver: "local".into(),
            services: vec![("db".into(), image.into(), "/var/lib/postgresql/data".into())],
        }]
    }

    #[test]
    fn seed_key_follows_every_file_of_a_key_directory_the_images_and_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let key = |s: &SeedSettings, img: &str| seed(s, &shape(img), ws).unwrap().map(|k| k.hash);
        assert_eq!(key(&seed_settings(), "sha256:a"), None, "missing key paths");
        std::fs::create_dir_all(ws.join("db/migrations/sub")).unwrap();
        std::fs::write(ws.join("db/migrations/001.sql"), "create table a();").unwrap();
        std::fs::write(ws.join("db/seed.sql"), "insert").unwrap();
        let a = key(&seed_settings(), "sha256:a").unwrap();
        assert_eq!(key(&seed_settings(), "sha256:a").unwrap(), a, "stable");
        let k = seed(&seed_settings(), &shape("sha256:a"), ws).unwrap().unwrap();
        assert_eq!((k.kind, k.label.as_str()), (Kind::Seed, "seed pgdata (db/migrations, db/seed.sql)"));
        assert_ne!(key(&seed_settings(), "sha256:b").unwrap(), a, "another image id");
        let mut v = seed_settings();
        v.version = Some("2".into());
        assert_ne!(key(&v, "sha256:a").unwrap(), a, "another version");
        // A new file deep in a key directory, then a renamed one.
        std::fs::write(ws.join("db/migrations/sub/002.sql"), "x").unwrap();
        let b = key(&seed_settings(), "sha256:a").unwrap();
        assert_ne!(b, a);
        std::fs::rename(ws.join("db/migrations/sub/002.sql"), ws.join("db/migrations/sub/003.sql")).unwrap();
        assert_ne!(key(&seed_settings(), "sha256:a").unwrap(), b, "names count");
        // A link inside is hashed by its target, not followed.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "1").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), ws.join("db/migrations/link")).unwrap();
        let c = key(&seed_settings(), "sha256:a").unwrap();
        std::fs::write(outside.path().join("secret"), "2").unwrap();
        assert_eq!(key(&seed_settings(), "sha256:a").unwrap(), c, "the link's target is not read");
    }

    #[test]
    fn a_seed_key_below_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("migrations")).unwrap();
        std::fs::write(outside.join("seed.sql"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("db")).unwrap();
        let e = seed(&seed_settings(), &shape("i"), &ws).unwrap_err();
        assert!(nofollow::is_link(&e), "{e}");
    }
}
