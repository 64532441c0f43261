//! Which workspace a command is about: the PATH argument, else
//! `$CONDUCTOR_WORKSPACE_PATH`, else the current directory, made absolute
//! and canonical before it is sent.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Whether the workspace must exist (init) or may be gone (destroy, status).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    /// The directory must exist.
    Required,
    /// The directory may have been deleted already.
    Optional,
}

/// Resolves the workspace path of a command.
pub fn resolve(arg: Option<&Path>, existence: Existence) -> anyhow::Result<String> {
    let raw: PathBuf = match arg {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("CONDUCTOR_WORKSPACE_PATH").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => std::env::current_dir().context("cannot read the current directory; pass PATH")?,
        },
    };
    let absolute = std::path::absolute(&raw).with_context(|| format!("invalid path {}", raw.display()))?;
    let resolved = match absolute.canonicalize() {
        Ok(p) => {
            if existence == Existence::Required && !p.is_dir() {
                bail!("{}: not a directory; pass the workspace folder", raw.display());
            }
            p
        }
        Err(e) if existence == Existence::Required => {
            bail!("{}: {}; pass an existing workspace folder", raw.display(), describe(&e));
        }
        Err(_) => mono_proto::paths::normalise(&absolute),
    };
    match resolved.to_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("{}: the path is not valid UTF-8; rename the folder", raw.display()),
    }
}

fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such directory".to_string(),
        _ => e.to_string(),
    }
}
