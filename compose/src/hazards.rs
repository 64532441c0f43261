//! Compose settings that reach out of the container: a read-write bind of
//! `/` or of a folder that holds the workspace, a bind of the Docker
//! socket, `privileged: true`.
//!
//! Some projects need them (a dev proxy that reads the Docker socket, a tool
//! that mounts the repository's parent), so they keep working as written;
//! the planner warns, naming the file, service and key, so nobody runs one
//! without knowing. Paths are compared after resolving symlinks as far as
//! the file system tells (`/var/run` is usually a link to `/run`), so a
//! link in the workspace that leads to the socket is caught too.

use std::path::{Path, PathBuf};

use mono_proto::paths::normalise;

/// Where the Docker Engine's socket lives on Linux and macOS hosts.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// How many symlinks [`resolve`] follows before it gives up.
const MAX_LINKS: usize = 16;

/// Why bind-mounting `source` (absolute, normalised) is dangerous, if it is;
/// `workspace` is the environment's folder.
pub(super) fn bind(source: &Path, read_only: bool, workspace: &Path) -> Option<String> {
    let resolved = resolve(source);
    let is_socket =
        DOCKER_SOCKETS.iter().map(Path::new).any(|socket| source == socket || resolved == resolve(socket));
    if is_socket {
        return Some(format!(
            "binds the Docker socket {}: the container can drive the Docker Engine, and through it the host \
             and every other environment (`:ro` does not limit a socket); kept as written",
            source.display()
        ));
    }
    if read_only {
        return None;
    }
    if resolved == Path::new("/") {
        return Some(
            "a read-write bind of / gives the container the host's whole file system; add `:ro` if it only \
             reads; kept as written"
                .to_string(),
        );
    }
    let workspace = resolve(workspace);
    if workspace != resolved && workspace.starts_with(&resolved) {
        return Some(format!(
            "a read-write bind of {}, which holds the workspace {}, lets the container change files outside \
             the workspace (other workspaces, the host's); add `:ro` if it only reads; kept as written",
            source.display(),
            workspace.display()
        ));
    }
    None
}

/// The warning for `privileged: true`.
pub(super) fn privileged() -> String {
    "privileged: true gives the container every capability and the host's devices, so it is not isolated \
     from the host; kept as written"
        .to_string()
}

/// `path` with its symlinks resolved: all of them when it exists; else a
/// dangling link is followed and the existing parent resolved.
fn resolve(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        if let Ok(real) = std::fs::canonicalize(&path) {
            return real;
        }
        match std::fs::read_link(&path) {
            Ok(target) => path = normalise(&path.parent().unwrap_or(Path::new("/")).join(target)),
            Err(_) => break,
        }
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent).map_or(path.clone(), |p| p.join(name)),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_root_and_ancestors_are_dangerous_and_the_rest_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("repo/ws");
        std::fs::create_dir_all(&ws).unwrap();
        let danger = |source: &Path, ro| bind(source, ro, &ws);
        for socket in DOCKER_SOCKETS {
            assert!(danger(Path::new(socket), true).is_some_and(|w| w.contains("Docker socket")), "{socket}");
        }
        assert!(danger(Path::new("/"), false).is_some_and(|w| w.contains("bind of /")));
        assert!(danger(Path::new("/"), true).is_none());
        assert!(danger(&dir.path().join("repo"), false).is_some_and(|w| w.contains("holds the workspace")));
        assert!(danger(&dir.path().join("repo"), true).is_none());
        assert!(danger(&ws, false).is_none(), "the workspace itself is its own");
        assert!(danger(&ws.join("data"), false).is_none());
        assert!(danger(&dir.path().join("repo/other"), false).is_none(), "a sibling is not above");
        // A dangling link (no socket on this machine) is still followed.
        let link = ws.join("sock");
        std::os::unix::fs::symlink("/nonexistent/../var/run/docker.sock", &link).unwrap();
        assert!(danger(&link, false).is_some_and(|w| w.contains("Docker socket")));
        // A link in the workspace to a folder above it.
        let up = ws.join("up");
        std::os::unix::fs::symlink("..", &up).unwrap();
        assert!(danger(&up, false).is_some_and(|w| w.contains("holds the workspace")));
    }
}
