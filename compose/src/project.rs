//! A compose project made of several files, read into one document as
//! compose-go's loader does: each file parsed (anchors, merge keys,
//! `!reset`/`!override`), interpolated, its `include:` imported and its
//! `extends` (within the file or from another one) resolved, then merged
//! onto the files before it ([`super::merge`]).
//!
//! Relative paths of the project's own files stay relative to the project
//! directory (the planner resolves them); those of included and extended
//! files are made absolute against their own folder first
//! ([`super::paths`]). Every file read is kept as a [`Source`] so that a
//! problem is reported in the file its value came from.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use mono_proto::paths::normalise;
use serde_yaml::{Mapping, Value};

use super::document::{self, Reset};
use super::keypath::{At, Problem, ProblemKind};
use super::model::{RESOLVED_VALUE, Source};
use super::value::{is_extension, key_text, kind, scalar_text, unknown_key};
use super::{ComposeError, convert, merge, paths};

/// Looks up a variable for interpolation.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The project's files as one document, before the typed model.
pub(crate) struct Loaded {
    /// The merged document.
    pub root: Value,
    /// Every file read, lowest precedence first.
    pub sources: Vec<Source>,
    /// Unset-variable warnings, each naming its file.
    pub warnings: Vec<String>,
    /// Services built with `extends`.
    pub extended: Vec<String>,
}

/// Reads `files` (merged in order) of the project in `project_dir`.
pub(crate) fn load(files: &[PathBuf], project_dir: &Path, vars: Lookup<'_>) -> Result<Loaded, ComposeError> {
    let mut loader = Loader::default();
    let root = loader.files(files, project_dir, vars, files.len() > 1)?;
    Ok(Loaded { root, sources: loader.sources, warnings: loader.warnings, extended: loader.extended })
}

/// One file, parsed and interpolated.
struct Doc {
    root: Value,
    resets: Vec<Reset>,
}

/// A file named by `extends.file`, read once.
struct Extended {
    services: Mapping,
    resets: Vec<Reset>,
}

#[derive(Default)]
struct Loader {
    sources: Vec<Source>,
    warnings: Vec<String>,
    extended: Vec<String>,
    /// The include chain, for cycles.
    including: Vec<PathBuf>,
    /// Files named by `extends.file`, by path.
    extended_files: HashMap<PathBuf, Rc<Extended>>,
    /// Resolved services, by file and name.
    resolved: HashMap<(PathBuf, String), Mapping>,
}

/// Where a file's `extends` and `include` paths are relative to, and what
/// its services' own `!reset`s are.
struct Context<'a> {
    file: &'a Path,
    dir: &'a Path,
    resets: &'a [Reset],
    vars: Lookup<'a>,
}

impl Loader {
    /// Reads and merges `files`; with `validate`, each file's values are
    /// checked on their own first, so a problem names the file it is in.
    fn files(
        &mut self,
        files: &[PathBuf],
        dir: &Path,
        vars: Lookup<'_>,
        validate: bool,
    ) -> Result<Value, ComposeError> {
        let mut merged = None;
        for file in files {
            let mut doc = self.read(file, vars)?;
            let include = match &mut doc.root {
                Value::Mapping(top) => top.remove("include"),
                _ => None,
            };
            if validate || include.is_some() {
                convert::check_part(&doc.root).map_err(|p| self.error(file, p))?;
            }
            if let Some(include) = include {
                self.include(&mut doc, include, file, dir, vars)?;
            }
            let context = Context { file, dir, resets: &doc.resets, vars };
            self.extends(&mut doc.root, &context)?;
            merged = Some(match merged {
                None => doc.root,
                Some(mut before) => {
                    document::apply_resets(&mut before, &doc.resets);
                    merge::merge(before, doc.root, &[]).map_err(|p| self.error(file, p))?
                }
            });
        }
        let mut merged = merged.unwrap_or_default();
        merge::enforce_unicity(&mut merged);
        Ok(merged)
    }

    /// Reads one file: parsed, tags taken, interpolated; kept as a source.
    fn read(&mut self, path: &Path, vars: Lookup<'_>) -> Result<Doc, ComposeError> {
        let text = super::read(path)?;
        let mut root = document::parse(path, &text)?;
        // Most files have no tags: skip the walk for them.
        let tagged = text.contains("!reset") || text.contains("!override");
        let resets = if tagged { document::take_tags(&mut root) } else { Vec::new() };
        let interpolated = document::interpolate_document(path, &mut root, vars);
        if !self.sources.iter().any(|s| s.path == path) {
            self.sources.push(Source { path: path.to_path_buf(), text });
        }
        let warnings = interpolated.map_err(|p| self.error(path, p))?;
        for w in warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        Ok(Doc { root, resets })
    }

    /// A problem in `file`, with its line when the key is in the file.
    fn error(&self, file: &Path, problem: Problem) -> ComposeError {
        let source = self.sources.iter().find(|s| s.path == file);
        match source {
            Some(source) => super::error_at(std::slice::from_ref(source), &[], problem),
            None => {
                super::error_at(&[Source { path: file.to_path_buf(), text: String::new() }], &[], problem)
            }
        }
    }

    /// Moves the sources read since `mark` before `file`'s, since what they
    /// define is overridden by it.
    fn rank_before(&mut self, file: &Path, mark: usize) {
        let Some(at) = self.sources[..mark.min(self.sources.len())].iter().position(|s| s.path == file)
        else {
            return;
        };
        let added: Vec<Source> = self.sources.drain(mark..).collect();
        self.sources.splice(at..at, added);
    }

    /// Imports the projects `include:` names into `doc`: their resources are
    /// added, and one `doc` defines too is merged with `doc`'s over it.
    fn include(
        &mut self,
        doc: &mut Doc,
        include: Value,
        file: &Path,
        dir: &Path,
        vars: Lookup<'_>,
    ) -> Result<(), ComposeError> {
        let root = At::ROOT;
        let at = root.key("include");
        let Value::Sequence(entries) = include else {
            return Err(
                self.error(file, at.problem(format!("expected a list of files, found {}", kind(&include))))
            );
        };
        for (index, entry) in entries.iter().enumerate() {
            let here = at.index(index);
            let spec = IncludeSpec::parse(entry, here).map_err(|p| self.error(file, p))?;
            let fail = |at: At<'_>, message: String| at.problem(message);
            let mut files = Vec::new();
            for (i, p) in spec.paths.iter().enumerate() {
                if let Some(remote) = remote(p) {
                    return Err(self.error(file, here.problem(remote)));
                }
                let path = normalise(&dir.join(p));
                if !path.is_file() {
                    let message = format!(
                        "{} is not a file; fix the path (relative to {})",
                        path.display(),
                        dir.display()
                    );
                    let at_path = here.key("path");
                    let problem = match (entry.is_string(), spec.paths.len() > 1) {
                        (true, _) => fail(here, message),
                        (false, true) => fail(at_path.index(i), message),
                        (false, false) => fail(at_path, message),
                    };
                    return Err(self.error(file, problem));
                }
                files.push(path);
            }
            let first = files[0].clone();
            if self.including.contains(&first) || first == file {
                let mut chain: Vec<String> = self.including.iter().map(|p| p.display().to_string()).collect();
                chain.push(file.display().to_string());
                chain.push(first.display().to_string());
                return Err(self.error(
                    file,
                    here.problem(format!(
                        "include cycle: {}; remove one of the includes",
                        chain.join(" includes ")
                    )),
                ));
            }
            let project_dir = match &spec.project_directory {
                Some(d) => normalise(&dir.join(d)),
                None => first.parent().map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
            };
            let env_files: Vec<PathBuf> = if spec.env_files.is_empty() {
                let default = project_dir.join(".env");
                if default.is_file() { vec![default] } else { Vec::new() }
            } else {
                let mut found = Vec::new();
                for e in &spec.env_files {
                    let path = normalise(&dir.join(e));
                    if !path.is_file() {
                        return Err(self.error(
                            file,
                            here.key("env_file")
                                .problem(format!("{} is not a file; fix the path", path.display())),
                        ));
                    }
                    found.push(path);
                }
                found
            };
            let mut env = BTreeMap::new();
            for env_file in &env_files {
                let lookup = |name: &str| vars(name).or_else(|| env.get(name).cloned());
                let read = super::read_dotenv_with(env_file, &lookup)?;
                env.extend(read);
            }
            // The including project's variables win over the include's
            // env files, as in compose.
            let lookup = |name: &str| vars(name).or_else(|| env.get(name).cloned());
            self.including.push(file.to_path_buf());
            let mark = self.sources.len();
            let loaded = self.files(&files, &project_dir, &lookup, true);
            self.including.pop();
            let mut imported = loaded?;
            self.rank_before(file, mark);
            paths::resolve(&mut imported, &project_dir);
            resolve_environment(&mut imported, &lookup);
            import(&mut doc.root, imported, &doc.resets).map_err(|p| self.error(file, p))?;
        }
        Ok(())
    }

    /// Resolves the `extends` of every service of `root`, in place.
    fn extends(&mut self, root: &mut Value, context: &Context<'_>) -> Result<(), ComposeError> {
        let Some(Value::Mapping(services)) = root.get_mut("services") else {
            return Ok(());
        };
        let extending: Vec<String> = services
            .iter()
            .filter(|(_, v)| v.get("extends").is_some())
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect();
        if extending.is_empty() {
            return Ok(());
        }
        let mark = self.sources.len();
        let mut done = Vec::new();
        for name in &extending {
            let merged = self.service(services, name, context, &mut Vec::new())?;
            done.push((name.clone(), merged));
        }
        for (name, merged) in done {
            services.insert(Value::String(name.clone()), Value::Mapping(merged));
            if !self.extended.contains(&name) {
                self.extended.push(name);
            }
        }
        self.rank_before(context.file, mark);
        Ok(())
    }

    /// The service `name` of `services` (a file's), with its `extends`
    /// resolved.
    fn service(
        &mut self,
        services: &Mapping,
        name: &str,
        context: &Context<'_>,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Mapping, ComposeError> {
        let key = (context.file.to_path_buf(), name.to_string());
        if let Some(done) = self.resolved.get(&key) {
            return Ok(done.clone());
        }
        let root = At::ROOT;
        let at_services = root.key("services");
        let at = at_services.key(name);
        let mut own = match services.get(name) {
            Some(Value::Mapping(m)) => m.clone(),
            // Reported with its key path when the service is converted.
            _ => return Ok(Mapping::new()),
        };
        let Some(extends) = own.remove("extends") else {
            return Ok(own);
        };
        let at = at.key("extends");
        let (base_name, base_file) = parse_extends(&extends, at).map_err(|p| self.error(context.file, p))?;
        chain.push(key.clone());
        let base = match base_file {
            None => {
                if !services.contains_key(base_name.as_str()) {
                    return Err(self.error(
                        context.file,
                        at.problem(format!(
                            "extends service {base_name}, which this file does not define; define it or fix the name"
                        )),
                    ));
                }
                self.check_cycle(chain, context.file, &base_name, at)?;
                self.service(services, &base_name, context, chain)?
            }
            Some(file) => {
                if let Some(remote) = remote(&file) {
                    return Err(self.error(context.file, at.key("file").problem(remote)));
                }
                let path = normalise(&context.dir.join(&file));
                let extended = self.extended_file(&path, context, at)?;
                if !extended.services.contains_key(base_name.as_str()) {
                    return Err(self.error(
                        context.file,
                        at.problem(format!(
                            "extends service {base_name} of {}, which that file does not define; fix the name or \
                             the file",
                            path.display()
                        )),
                    ));
                }
                self.check_cycle(chain, &path, &base_name, at)?;
                let dir = path.parent().map_or_else(|| context.dir.to_path_buf(), Path::to_path_buf);
                let inner = Context { file: &path, dir: &dir, resets: &extended.resets, vars: context.vars };
                self.service(&extended.services, &base_name, &inner, chain)?
            }
        };
        chain.pop();
        // The extending service's own `!reset`s apply to its base.
        let mut wrapped = Value::Mapping(Mapping::from_iter([(
            Value::from("services"),
            Value::Mapping(Mapping::from_iter([(Value::from(name), Value::Mapping(base))])),
        )]));
        document::apply_resets(&mut wrapped, context.resets);
        let base = match wrapped.get_mut("services").and_then(|s| s.get_mut(name)) {
            Some(Value::Mapping(m)) => std::mem::take(m),
            _ => Mapping::new(),
        };
        let merged =
            merge::merge_mappings(base, own, &["services", name]).map_err(|p| self.error(context.file, p))?;
        self.resolved.insert(key, merged.clone());
        Ok(merged)
    }

    fn check_cycle(
        &self,
        chain: &[(PathBuf, String)],
        file: &Path,
        base: &str,
        at: At<'_>,
    ) -> Result<(), ComposeError> {
        let Some(start) = chain.iter().position(|(f, s)| f == file && s == base) else {
            return Ok(());
        };
        let names: Vec<&str> = chain[start..].iter().map(|(_, s)| s.as_str()).chain([base]).collect();
        let first = chain.first().map_or(file, |(f, _)| f.as_path());
        Err(self.error(
            first,
            at.problem(format!(
                "services extend each other in a cycle ({}); one of them must stand on its own",
                names.join(" -> ")
            )),
        ))
    }

    /// The file an `extends.file` names, read once: interpolated with the
    /// same variables, its relative paths made absolute against its folder.
    fn extended_file(
        &mut self,
        path: &Path,
        context: &Context<'_>,
        at: At<'_>,
    ) -> Result<Rc<Extended>, ComposeError> {
        if let Some(done) = self.extended_files.get(path) {
            return Ok(done.clone());
        }
        if !path.is_file() {
            return Err(self.error(
                context.file,
                at.key("file").problem(format!("{} is not a file; fix the path", path.display())),
            ));
        }
        let mut doc = self.read(path, context.vars)?;
        if let Some(dir) = path.parent() {
            paths::resolve(&mut doc.root, dir);
        }
        let services = match doc.root.get("services") {
            Some(Value::Mapping(m)) => m.clone(),
            _ => Mapping::new(),
        };
        let extended = Rc::new(Extended { services, resets: doc.resets });
        self.extended_files.insert(path.to_path_buf(), extended.clone());
        Ok(extended)
    }
}

/// Why a remote resource (`oci://`, a git URL) is refused, if `path` is one.
fn remote(path: &str) -> Option<String> {
    (path.contains("://") || path.starts_with("git@")).then(|| {
        format!("{path:?} is a remote resource, which mono does not fetch; put the file into the workspace and name its path")
    })
}

/// `extends: NAME` or `extends: {service: NAME, file: FILE}`.
fn parse_extends(extends: &Value, at: At<'_>) -> Result<(String, Option<String>), Problem> {
    match extends {
        Value::String(base) => Ok((base.clone(), None)),
        Value::Mapping(m) => {
            let (mut service, mut file) = (None, None);
            for (k, v) in m {
                let key = key_text(k);
                match key.as_str() {
                    "service" => service = scalar_text(v),
                    "file" => {
                        file = Some(
                            scalar_text(v).ok_or_else(|| at.key("file").problem("expected a file path"))?,
                        )
                    }
                    k if is_extension(k) => {}
                    k => return Err(unknown_key(at, k, &["service", "file"])),
                }
            }
            let service =
                service.ok_or_else(|| at.problem("extends needs `service: NAME`, the service to extend"))?;
            Ok((service, file))
        }
        other => Err(at.problem(format!(
            "expected a service name or {{service: NAME, file: FILE}}, found {}; write `extends: BASE`",
            kind(other)
        ))),
    }
}

/// One `include:` entry.
struct IncludeSpec {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_files: Vec<String>,
}

impl IncludeSpec {
    fn parse(entry: &Value, at: At<'_>) -> Result<IncludeSpec, Problem> {
        let strings = |v: &Value, at: At<'_>| -> Result<Vec<String>, Problem> {
            match v {
                Value::Sequence(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| scalar_text(item).ok_or_else(|| at.index(i).problem("expected a path")))
                    .collect(),
                other => scalar_text(other)
                    .map(|s| vec![s])
                    .ok_or_else(|| at.problem("expected a path or a list of paths")),
            }
        };
        let spec = match entry {
            Value::String(path) => {
                IncludeSpec { paths: vec![path.clone()], project_directory: None, env_files: Vec::new() }
            }
            Value::Mapping(m) => {
                let mut spec =
                    IncludeSpec { paths: Vec::new(), project_directory: None, env_files: Vec::new() };
                for (k, v) in m {
                    let key = key_text(k);
                    let here = at.key(&key);
                    match key.as_str() {
                        "path" => spec.paths = strings(v, here)?,
                        "project_directory" => {
                            spec.project_directory =
                                Some(scalar_text(v).ok_or_else(|| here.problem("expected a folder"))?)
                        }
                        "env_file" => spec.env_files = strings(v, here)?,
                        k if is_extension(k) => {}
                        k => return Err(unknown_key(at, k, &["path", "project_directory", "env_file"])),
                    }
                }
                spec
            }
            other => {
                return Err(at.problem(format!(
                    "expected a file or {{path: FILE, project_directory: DIR, env_file: FILE}}, found {}",
                    kind(other)
                )));
            }
        };
        if spec.paths.is_empty() {
            return Err(at.problem("the include names no file; add path: FILE"));
        }
        Ok(spec)
    }
}

/// Resolves, with the include's own variables, what compose-go resolves
/// when it loads an included project: each secret's and config's
/// `environment:` source, and each bare `- NAME` of a service's
/// `environment` list. Variables it does not know are left for the project.
fn resolve_environment(doc: &mut Value, lookup: Lookup<'_>) {
    for (section, key) in [("secrets", RESOLVED_VALUE), ("configs", "content")] {
        let Some(Value::Mapping(defs)) = doc.get_mut(section) else { continue };
        for (_, def) in defs.iter_mut() {
            let Value::Mapping(def) = def else { continue };
            let Some(value) = def.get("environment").and_then(Value::as_str).and_then(lookup) else {
                continue;
            };
            if section == "configs" {
                def.remove("environment");
            }
            def.insert(Value::from(key), Value::from(value));
        }
    }
    let Some(Value::Mapping(services)) = doc.get_mut("services") else { return };
    for (_, service) in services.iter_mut() {
        let Some(Value::Sequence(list)) = service.get_mut("environment") else { continue };
        for entry in list.iter_mut() {
            if let Some(name) = entry.as_str().filter(|e| !e.contains('='))
                && let Some(value) = lookup(name)
            {
                *entry = Value::from(format!("{name}={value}"));
            }
        }
    }
}

/// Adds an included project's resources to `target`; a resource `target`
/// defines too is merged, `target`'s over the included one.
fn import(target: &mut Value, imported: Value, resets: &[Reset]) -> Result<(), Problem> {
    let Value::Mapping(mut imported) = imported else { return Ok(()) };
    let Value::Mapping(top) = target else { return Ok(()) };
    for section in ["services", "volumes", "networks", "secrets", "configs", "models"] {
        let Some(Value::Mapping(from)) = imported.remove(section) else { continue };
        let to = top.entry(Value::from(section)).or_insert_with(|| Value::Mapping(Mapping::new()));
        if to.is_null() {
            *to = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(to) = to else {
            let at = At::ROOT;
            return Err(Problem {
                path: at.key(section).path(),
                kind: ProblemKind::Message(format!("expected a mapping, found {}", kind(to))),
            });
        };
        for (name, resource) in from {
            let Some(local) = to.remove(&name) else {
                to.insert(name, resource);
                continue;
            };
            let key = key_text(&name);
            let mut wrapped = Value::Mapping(Mapping::from_iter([(
                Value::from(section),
                Value::Mapping(Mapping::from_iter([(name.clone(), resource)])),
            )]));
            document::apply_resets(&mut wrapped, resets);
            let resource = wrapped
                .get_mut(section)
                .and_then(|s| s.get_mut(&name))
                .map(std::mem::take)
                .unwrap_or_default();
            let merged = merge::merge(resource, local, &[section, &key])?;
            to.insert(name, merged);
        }
    }
    Ok(())
}
