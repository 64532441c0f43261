//! Relative host paths of an included or extended file made absolute
//! against that file's own folder (or its include's `project_directory`),
//! as compose-go's `paths.ResolveRelativePaths` does, before the file's
//! content is merged into a project whose paths are relative to another
//! folder.

use std::path::Path;

use mono_proto::paths::normalise;
use serde_yaml::Value;

use super::syntax;

/// Rewrites the relative paths of `root` (a file's document) as absolute
/// ones under `base`: build contexts, `env_file`, bind sources, `extends.file`,
/// and the `file:` of secrets and configs. `~` paths and remote contexts are
/// left as they are.
pub(crate) fn resolve(root: &mut Value, base: &Path) {
    let Value::Mapping(top) = root else { return };
    for section in ["secrets", "configs"] {
        if let Some(Value::Mapping(defs)) = top.get_mut(section) {
            for def in defs.values_mut() {
                if let Some(file) = def.get_mut("file") {
                    absolute(file, base);
                }
            }
        }
    }
    let Some(Value::Mapping(services)) = top.get_mut("services") else { return };
    for service in services.values_mut() {
        let Value::Mapping(s) = service else { continue };
        if let Some(build) = s.get_mut("build") {
            match build {
                Value::String(_) => context(build, base),
                Value::Mapping(b) => {
                    if let Some(c) = b.get_mut("context") {
                        context(c, base);
                    }
                }
                _ => {}
            }
        }
        if let Some(env_file) = s.get_mut("env_file") {
            match env_file {
                Value::String(_) => absolute(env_file, base),
                Value::Sequence(items) => {
                    for item in items {
                        match item {
                            Value::Mapping(m) => {
                                if let Some(p) = m.get_mut("path") {
                                    absolute(p, base);
                                }
                            }
                            other => absolute(other, base),
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(Value::Mapping(extends)) = s.get_mut("extends")
            && let Some(file) = extends.get_mut("file")
        {
            absolute(file, base);
        }
        if let Some(Value::Sequence(volumes)) = s.get_mut("volumes") {
            for volume in volumes {
                bind_source(volume, base);
            }
        }
    }
}

/// True for a Windows absolute path (`C:\dir`, `C:/dir`, `\\server\share`),
/// which compose keeps as written on every OS rather than joining it to the
/// project directory.
pub(crate) fn is_windows_absolute(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with("\\\\")
        || (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/'))
}

/// A relative path as an absolute one under `base`.
fn absolute(v: &mut Value, base: &Path) {
    if let Value::String(p) = v
        && !p.is_empty()
        && !p.starts_with('/')
        && !p.starts_with('~')
        && !is_windows_absolute(p)
    {
        *p = normalise(&base.join(&*p)).display().to_string();
    }
}

/// A local build context as an absolute path; remote ones as they are.
fn context(v: &mut Value, base: &Path) {
    if let Value::String(c) = v
        && (c.contains("://") || c.starts_with("git@") || c.starts_with("github.com/"))
    {
        return;
    }
    absolute(v, base);
}

/// The source of a bind mount, in either syntax.
fn bind_source(v: &mut Value, base: &Path) {
    match v {
        Value::String(text) => {
            let Ok(short) = syntax::short_volume(text) else { return };
            let Some(source) = short.source.filter(|s| s.starts_with('.')) else { return };
            let absolute = normalise(&base.join(&source)).display().to_string();
            *text = format!("{absolute}{}", &text[source.len()..]);
        }
        Value::Mapping(m) => {
            if m.get("type").and_then(Value::as_str) == Some("bind")
                && let Some(source) = m.get_mut("source")
            {
                absolute(source, base);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_under_the_base() {
        let mut v: Value = serde_yaml::from_str(
            "services:\n  a:\n    build: ./app\n    env_file: [x.env, {path: ../y.env}]\n    volumes: ['./data:/data:ro', 'named:/n', '/abs:/abs', {type: bind, source: src, target: /s}]\n    extends: {file: base.yaml, service: b}\n  b:\n    build: {context: 'https://example.com/r.git'}\nsecrets:\n  s: {file: ./s.txt}\n",
        )
        .unwrap();
        resolve(&mut v, Path::new("/p/inc"));
        let a = &v["services"]["a"];
        assert_eq!(a["build"], Value::from("/p/inc/app"));
        assert_eq!(a["env_file"][0], Value::from("/p/inc/x.env"));
        assert_eq!(a["env_file"][1]["path"], Value::from("/p/y.env"));
        assert_eq!(a["volumes"][0], Value::from("/p/inc/data:/data:ro"));
        assert_eq!(a["volumes"][1], Value::from("named:/n"));
        assert_eq!(a["volumes"][2], Value::from("/abs:/abs"));
        assert_eq!(a["volumes"][3]["source"], Value::from("/p/inc/src"));
        assert_eq!(a["extends"]["file"], Value::from("/p/inc/base.yaml"));
        assert_eq!(v["services"]["b"]["build"]["context"], Value::from("https://example.com/r.git"));
        assert_eq!(v["secrets"]["s"]["file"], Value::from("/p/inc/s.txt"));
    }
}
