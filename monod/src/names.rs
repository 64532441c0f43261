//! Environment names derived from workspace paths: `<project>-<workspace>`.
//!
//! The rules, first match wins for each part:
//! - `CONDUCTOR_ROOT_PATH` (project) and `CONDUCTOR_WORKSPACE_NAME`
//!   (workspace) from the caller's environment;
//! - `.../<repo>/.conductor/workspaces/<ws>` gives `(repo, ws)`;
//! - a git worktree takes its main repository's folder name as project;
//! - else `(parent folder, folder)`.
//!
//! Both parts are lower-cased to `[a-z0-9-]`. Uniqueness against existing
//! environments is the state store's job, not this module's.

use std::path::{Path, PathBuf};

use mono_proto::CallerEnv;

/// Longest a name part may be, so names stay readable and fit every limit
/// of tmux and docker object names.
const MAX_PART: usize = 40;

/// The two parts of an environment name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedName {
    /// The repository (project) part.
    pub project: String,
    /// The workspace part.
    pub workspace: String,
}

impl DerivedName {
    /// `<project>-<workspace>`.
    pub fn joined(&self) -> String {
        format!("{}-{}", self.project, self.workspace)
    }
}

/// Derives the name parts of the workspace at `path` (absolute, canonical).
pub fn derive(path: &Path, env: &CallerEnv) -> DerivedName {
    let folder = file_name(path);
    let (mut project, mut workspace) = match conductor_layout(path) {
        Some(repo) => (repo, folder.clone()),
        None => match worktree_main_repo(path) {
            Some(repo) => (repo, folder.clone()),
            None => (path.parent().map(file_name).unwrap_or_default(), folder),
        },
    };
    if let Some(root) = env.get("CONDUCTOR_ROOT_PATH").filter(|v| !v.is_empty()) {
        project = file_name(Path::new(root));
    }
    if let Some(ws) = env.get("CONDUCTOR_WORKSPACE_NAME").filter(|v| !v.is_empty()) {
        workspace = ws.clone();
    }
    DerivedName { project: sanitize(&project, "root"), workspace: sanitize(&workspace, "ws") }
}

/// Lower-cases to `[a-z0-9-]`: other characters become `-`, runs of `-`
/// collapse, and leading or trailing `-` go. An empty result is `fallback`.
pub fn sanitize(raw: &str, fallback: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(MAX_PART);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() { fallback.to_string() } else { trimmed.to_string() }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `<repo>/.conductor/workspaces/<ws>` → `repo`.
fn conductor_layout(path: &Path) -> Option<String> {
    let workspaces = path.parent()?;
    let conductor = workspaces.parent()?;
    if workspaces.file_name()? == "workspaces" && conductor.file_name()? == ".conductor" {
        conductor.parent().map(file_name)
    } else {
        None
    }
}

/// For a linked git worktree (`.git` is a file naming the real git dir), the
/// folder name of the main repository.
fn worktree_main_repo(path: &Path) -> Option<String> {
    let dotgit = std::fs::read_to_string(path.join(".git")).ok()?;
    let gitdir = dotgit.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let gitdir = resolve(path, Path::new(gitdir));
    let common = match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(c) => resolve(&gitdir, Path::new(c.trim())),
        // Without `commondir`, `<common>/worktrees/<name>` is the layout.
        Err(_) => gitdir.parent()?.parent()?.to_path_buf(),
    };
    let common = common.canonicalize().unwrap_or(common);
    let name = file_name(&common);
    if name == ".git" {
        common.parent().map(file_name)
    } else {
        // A bare repository: `repo.git` → `repo`.
        Some(name.strip_suffix(".git").unwrap_or(&name).to_string())
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> CallerEnv {
        CallerEnv::new()
    }

    #[test]
    fn sanitizes_to_lowercase_dashes() {
        assert_eq!(sanitize("Feature_Auth", "x"), "feature-auth");
        assert_eq!(sanitize("--a  b--", "x"), "a-b");
        assert_eq!(sanitize("$(rm -rf ~); echo", "x"), "rm-rf-echo");
        assert_eq!(sanitize("café", "x"), "caf");
        assert_eq!(sanitize("日本", "x"), "x");
        assert_eq!(sanitize(&"a".repeat(100), "x").len(), MAX_PART);
    }

    #[test]
    fn conductor_layout_gives_repo_and_workspace() {
        let d = derive(Path::new("/home/x/shop/.conductor/workspaces/feature-auth"), &none());
        assert_eq!(d.joined(), "shop-feature-auth");
    }

    #[test]
    fn plain_folder_uses_parent() {
        let d = derive(Path::new("/home/x/conductor/workspaces/Shop/Oslo"), &none());
        assert_eq!((d.project.as_str(), d.workspace.as_str()), ("shop", "oslo"));
    }

    #[test]
    fn conductor_variables_win() {
        let mut env = none();
        env.insert("CONDUCTOR_ROOT_PATH".into(), "/src/Web-App".into());
        env.insert("CONDUCTOR_WORKSPACE_NAME".into(), "lisbon".into());
        let d = derive(Path::new("/tmp/anything/here"), &env);
        assert_eq!(d.joined(), "web-app-lisbon");
    }

    #[test]
    fn git_worktree_takes_main_repo_name() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("MyRepo");
        let wt_git = main.join(".git/worktrees/feat");
        std::fs::create_dir_all(&wt_git).unwrap();
        std::fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        let wt = tmp.path().join("elsewhere/feat");
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(wt.join(".git"), format!("gitdir: {}\n", wt_git.display())).unwrap();
        assert_eq!(derive(&wt, &none()).joined(), "myrepo-feat");
    }
}
