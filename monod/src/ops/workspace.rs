//! Checking the workspace paths clients send.
//!
//! The client makes paths absolute and canonical before sending them; the
//! daemon still checks, since any program may call the socket.

use std::path::{Path, PathBuf};

use super::OpError;

/// A path that must exist and be a directory (init). Returns it canonical.
pub fn existing_dir(raw: &str) -> Result<PathBuf, OpError> {
    let path = absolute(raw)?;
    let invalid = |reason: String| OpError::InvalidPath { path: raw.to_string(), reason };
    let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid("no such directory; check the path".into()),
        _ => invalid(format!("cannot read it: {e}")),
    })?;
    if !meta.is_dir() {
        return Err(invalid("not a directory; pass the workspace folder".into()));
    }
    let canonical = path.canonicalize().map_err(|e| invalid(format!("cannot resolve it: {e}")))?;
    if canonical.to_str().is_none() {
        return Err(invalid("the path is not valid UTF-8; rename the folder".into()));
    }
    Ok(canonical)
}

/// Refuses, for the canonical workspace `ws` (as the caller named it,
/// `raw`), what must never be a workspace: `/`, a home directory itself
/// (`homes`: the daemon's and the caller's `HOME`), and `MONO_HOME` or
/// anything inside it. An environment's data and teardown act on its
/// workspace; none of these is one project's folder.
pub fn check_allowed(raw: &str, ws: &Path, mono_home: &Path, homes: &[&str]) -> Result<(), OpError> {
    let invalid = |reason: String| OpError::InvalidPath { path: raw.to_string(), reason };
    let shown = if Path::new(raw) == ws { String::new() } else { format!("resolves to {}, ", ws.display()) };
    if ws.parent().is_none() {
        return Err(invalid(format!(
            "{shown}the root directory, which cannot be a workspace; pass the project's folder"
        )));
    }
    let is_home = homes
        .iter()
        .filter(|h| !h.is_empty() && Path::new(h).is_absolute())
        .any(|h| Path::new(h).canonicalize().is_ok_and(|h| h == ws));
    if is_home {
        return Err(invalid(format!(
            "{shown}your home directory, which cannot be a workspace; pass the project's folder"
        )));
    }
    if ws.starts_with(mono_home) {
        return Err(invalid(format!(
            "{shown}inside MONO_HOME {}, where mono keeps its own files; pass a workspace outside it",
            mono_home.display()
        )));
    }
    Ok(())
}

/// A path naming a registered workspace that may no longer exist (destroy,
/// status): canonical when it exists, else lexically normalised.
pub fn lookup_key(raw: &str) -> Result<PathBuf, OpError> {
    let path = absolute(raw)?;
    Ok(path.canonicalize().unwrap_or_else(|_| mono_proto::paths::normalise(&path)))
}

fn absolute(raw: &str) -> Result<PathBuf, OpError> {
    let invalid = |reason: &str| OpError::InvalidPath { path: raw.to_string(), reason: reason.to_string() };
    if raw.is_empty() {
        return Err(invalid("empty path; pass the workspace folder"));
    }
    if raw.contains('\0') {
        return Err(invalid("the path contains a NUL byte"));
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(invalid("relative path; pass an absolute path (the mono client does this for you)"));
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        for bad in ["", "relative/x", "/definitely/not/here", file.to_str().unwrap()] {
            assert!(matches!(existing_dir(bad), Err(OpError::InvalidPath { .. })), "{bad:?}");
        }
        assert_eq!(existing_dir(dir.path().to_str().unwrap()).unwrap(), dir.path().canonicalize().unwrap());
    }

    #[test]
    fn root_homes_and_mono_home_are_not_workspaces() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let (user, mono, ws) = (base.join("u"), base.join("m"), base.join("u/proj"));
        for d in [&ws, &mono.join("data")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let homes = [user.to_str().unwrap(), ""];
        let allowed = |p: &Path| check_allowed(p.to_str().unwrap(), p, &mono, &homes);
        for bad in [Path::new("/"), &user, &mono, &mono.join("data")] {
            assert!(matches!(allowed(bad), Err(OpError::InvalidPath { .. })), "{bad:?}");
        }
        allowed(&ws).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        let e = check_allowed(link.to_str().unwrap(), Path::new("/"), &mono, &homes).unwrap_err();
        assert!(e.to_string().contains("resolves to /, the root directory"), "{e}");
    }

    #[test]
    fn lookup_key_normalises_missing_paths() {
        assert_eq!(lookup_key("/a/b/../c/./d").unwrap(), PathBuf::from("/a/c/d"));
    }
}
