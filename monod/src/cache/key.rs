//! An entry's key: what must be equal for a saved copy to be reused.
//!
//! SHA-256 over the platform (a `node_modules` built on Linux is not one
//! for macOS), the rule's `version`, the cached paths, and each key file's
//! name and bytes. Any change to any of them is another entry.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::CacheRule;

/// A computed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Hex SHA-256.
    pub hash: String,
    /// What the entry holds, for people: `node_modules (package-lock.json)`.
    pub label: String,
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
    let field = |h: &mut Sha256, bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
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
    let hash = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let version = rule.version.as_ref().map(|v| format!(", version {v}")).unwrap_or_default();
    let label = format!("{} ({}{version})", rule.paths.join(", "), rule.key.join(", "));
    Ok(Some(Key { hash, label }))
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
}
