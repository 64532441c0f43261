//! What a build sends the engine: the context folder less what its ignore
//! file leaves out, plus an inline Dockerfile, as one tar; and the cache key
//! of exactly that content.
//!
//! The ignore file is `<Dockerfile>.dockerignore` beside the Dockerfile when
//! it exists (BuildKit's rule, which compose v2 builds with), else the
//! context's `.dockerignore`. As `docker build` does, the Dockerfile and the
//! `.dockerignore` are always sent, and an excluded folder is not even read
//! unless an exception may bring something inside it back.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::dockerignore::{self, Patterns};
use mono_compose::{BuildPlan, INLINE_DOCKERFILE};

/// Why a context cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A file of the context cannot be read.
    #[error("cannot read the build context {}: {source}", .path.display())]
    Io {
        /// The context folder.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The ignore file cannot be used.
    #[error("{}: {source}; fix the line or remove it", .path.display())]
    Ignore {
        /// The ignore file.
        path: PathBuf,
        /// The failure.
        source: dockerignore::ReadError,
    },
}

/// The content of one build: the context's paths that are sent (relative,
/// sorted, folders before what they hold) and the inline Dockerfile.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    paths: Vec<PathBuf>,
    inline: Option<String>,
}

impl Context {
    /// Lists what `plan` sends from its context folder.
    pub fn collect(plan: &BuildPlan) -> Result<Context, ContextError> {
        let root = plan.context.clone();
        let io = |source| ContextError::Io { path: root.clone(), source };
        let patterns = ignore_patterns(plan)?;
        let mut paths = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for entry in std::fs::read_dir(root.join(&rel)).map_err(io)? {
                let entry = entry.map_err(io)?;
                let path = rel.join(entry.file_name());
                let text = path.to_string_lossy();
                let excluded = patterns.as_ref().is_some_and(|p| p.excludes(&text));
                if entry.file_type().map_err(io)?.is_dir()
                    && (!excluded || patterns.as_ref().is_some_and(|p| p.may_keep_inside(&text)))
                {
                    stack.push(path.clone());
                }
                if !excluded {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        Ok(Context { root, paths, inline: plan.dockerfile_inline.clone() })
    }

    /// The relative paths sent, in order.
    #[cfg(test)]
    fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The tar sent to the engine (symlinks kept as links; the parents of a
    /// path brought back by an exception are implied, as in Docker's).
    pub fn tar(&self) -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        for rel in &self.paths {
            builder.append_path_with_name(self.root.join(rel), rel)?;
        }
        if let Some(text) = &self.inline {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, INLINE_DOCKERFILE, text.as_bytes())?;
        }
        builder.into_inner()
    }

    /// The cache key of a build: the content sent (paths, types, permission
    /// bits, bytes, link targets; not times or owners, so a copy of the
    /// context is the same context) and the build's options.
    pub fn key(&self, plan: &BuildPlan) -> std::io::Result<String> {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(b"mono-image-3");
        for rel in &self.paths {
            let full = self.root.join(rel);
            let meta = std::fs::symlink_metadata(&full)?;
            field(rel.as_os_str().as_encoded_bytes());
            field(&(meta.permissions().mode() & 0o777).to_le_bytes());
            if meta.file_type().is_symlink() {
                field(b"link");
                field(std::fs::read_link(&full)?.as_os_str().as_encoded_bytes());
            } else if meta.is_file() {
                field(b"file");
                field(&std::fs::read(&full)?);
            } else {
                field(b"dir");
            }
        }
        field(self.inline.as_deref().unwrap_or("").as_bytes());
        field(plan.dockerfile.as_bytes());
        field(plan.target.as_deref().unwrap_or("").as_bytes());
        for (k, v) in &plan.args {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The ignore patterns of a build, with the Dockerfile and the ignore file
/// kept; `None` without an ignore file.
fn ignore_patterns(plan: &BuildPlan) -> Result<Option<Patterns>, ContextError> {
    let beside = plan.context.join(format!("{}.dockerignore", plan.dockerfile));
    let root = plan.context.join(".dockerignore");
    let candidates: &[&Path] = if plan.dockerfile_inline.is_some() {
        &[root.as_path()]
    } else {
        &[beside.as_path(), root.as_path()]
    };
    for path in candidates {
        let read = Patterns::read(path)
            .map_err(|source| ContextError::Ignore { path: path.to_path_buf(), source })?;
        if let Some(mut patterns) = read {
            patterns.keep(".dockerignore");
            patterns.keep(&plan.dockerfile);
            return Ok(Some(patterns));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn plan(context: &Path, dockerfile: &str) -> BuildPlan {
        BuildPlan {
            context: context.to_path_buf(),
            dockerfile: dockerfile.to_string(),
            dockerfile_inline: None,
            target: None,
            args: BTreeMap::new(),
            tag: "t".to_string(),
        }
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn sent(plan: &BuildPlan) -> Vec<String> {
        Context::collect(plan).unwrap().paths().iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn the_ignore_file_decides_what_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in ["Dockerfile", "src/main.rs", "node_modules/x/index.js", "docs/a.md", "docs/keep.md"] {
            write(root, rel, rel);
        }
        write(root, ".dockerignore", "node_modules\n*.md\ndocs\n!docs/keep.md\nDockerfile\n.dockerignore\n");
        assert_eq!(
            sent(&plan(root, "Dockerfile")),
            [".dockerignore", "Dockerfile", "docs/keep.md", "src", "src/main.rs"]
        );
        // The Dockerfile's own ignore file wins over the context's.
        write(root, "Dockerfile.dockerignore", "src\n");
        assert_eq!(
            sent(&plan(root, "Dockerfile")),
            [
                ".dockerignore",
                "Dockerfile",
                "Dockerfile.dockerignore",
                "docs",
                "docs/a.md",
                "docs/keep.md",
                "node_modules",
                "node_modules/x",
                "node_modules/x/index.js"
            ]
        );
        // The key follows what is sent: an ignored file changes nothing.
        let p = plan(root, "Dockerfile");
        let before = Context::collect(&p).unwrap().key(&p).unwrap();
        write(root, "src/other.rs", "x");
        assert_eq!(Context::collect(&p).unwrap().key(&p).unwrap(), before);
        write(root, "docs/a.md", "changed");
        assert_ne!(Context::collect(&p).unwrap().key(&p).unwrap(), before);
    }

    #[test]
    fn an_inline_dockerfile_is_added_to_the_tar() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.txt", "a");
        let mut p = plan(dir.path(), INLINE_DOCKERFILE);
        p.dockerfile_inline = Some("FROM scratch\n".to_string());
        let tar = Context::collect(&p).unwrap().tar().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.txt", INLINE_DOCKERFILE]);
    }

    #[test]
    fn a_bad_ignore_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".dockerignore", "ok\n[oops\n");
        let e = Context::collect(&plan(dir.path(), "Dockerfile")).unwrap_err().to_string();
        assert!(e.contains(".dockerignore: line 2") && e.contains("never closed"), "{e}");
    }
}
