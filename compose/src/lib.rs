//! Docker compose files, loaded and turned into one environment's isolated
//! [`Plan`].
//!
//! mono runs a workspace's compose file once per environment, side by side
//! on one engine. Compose itself would make two copies collide: on
//! `container_name`, on fixed host ports, on custom network and volume
//! names, on fixed subnets. So mono reads the file itself and plans it for
//! one environment: every host-level name is scoped to the project
//! (`mono-<env>`), every published port moves into the environment's block
//! of 100 ports (`19000 + slot*100 + offset`) on one host address, and
//! whatever cannot be isolated is changed or dropped with a warning that
//! names the file, service and key, never silently. Settings that reach
//! out of the container (a read-write bind of `/` or above the workspace,
//! the Docker socket, `privileged`) are kept, with a warning (module `hazards`).
//!
//! Loading follows compose: each file of the project (several files merge
//! in order, as `-f a -f b`) is YAML with anchors, merge keys and the
//! `!reset`/`!override` tags, `${VAR}` interpolation of values
//! ([`crate::interpolate`]), its `include:` imported and its `extends`
//! (within the file or from another one) resolved ([`project`]); the files
//! merge with compose's rules ([`merge`]), then a strict typed model
//! ([`model`]) in which unknown keys are errors. A problem names the file
//! and line its value came from. Relative paths resolve against the
//! project directory, the first file's folder (those of included and
//! extended files against their own). Containers, networks and volumes
//! carry compose's labels, so `docker compose -p mono-<env> ps/down` still
//! sees them.
//!
//! Not supported: remote `include` and `extends` files (refused: they are
//! not files). `configs` are mounted or written into the container as
//! compose does ([`configs`]).

mod configs;
mod convert;
mod document;
mod dotenv;
mod error;
#[cfg(test)]
mod fidelity_tests;
mod hash;
mod hazards;
pub mod input;
pub mod interpolate;
mod keypath;
mod merge;
pub mod model;
mod paths;
pub mod plan;
mod planner;
mod project;
mod references;
#[cfg(test)]
mod scale_tests;
mod syntax;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use dotenv::{read_dotenv, read_dotenv_with};
pub use error::{ComposeError, Position};
pub use model::ComposeFile;
pub use model::Source;
pub use plan::*;
pub use syntax::PortRange;

use keypath::{Problem, ProblemKind};

/// Compose file names, in the order compose looks for them.
pub const COMPOSE_FILES: [&str; 4] =
    ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/// The docker compose release whose label schema mono follows
/// (`com.docker.compose.*`, written into `com.docker.compose.version`).
pub const COMPOSE_VERSION: &str = "2.29.0";

/// The label holding a service's config hash.
pub const CONFIG_HASH_LABEL: &str = "com.docker.compose.config-hash";

/// mono's own label on everything it creates: the project name.
pub const MONO_ENV_LABEL: &str = "dev.mono.env";

/// The `MONO_HOME` of the daemon that created an object, so that `mono gc`
/// of one home never touches another home's projects.
pub const MONO_HOME_LABEL: &str = "dev.mono.home";

/// Override file names, in the order compose looks for them beside the
/// compose file it found.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The compose file of the workspace at `dir`: the first of
/// [`COMPOSE_FILES`] that exists.
pub fn find(dir: &Path) -> Option<PathBuf> {
    COMPOSE_FILES.iter().map(|name| dir.join(name)).find(|path| path.is_file())
}

/// The override file compose merges into the file it found by itself: the
/// first of [`OVERRIDE_FILES`] beside it.
pub fn find_override(file: &Path) -> Option<PathBuf> {
    let dir = file.parent()?;
    OVERRIDE_FILES.iter().map(|name| dir.join(name)).find(|path| path.is_file())
}

/// How to plan a file for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// The compose project name: `mono-<env name>`.
    pub project: String,
    /// The owning daemon's home (label [`MONO_HOME_LABEL`]).
    pub home: String,
    /// The environment's slot: its ports are `19000 + slot*100 + offset`.
    pub slot: u32,
    /// The host address published ports bind to (usually 127.0.0.1).
    pub host_ip: String,
    /// Profiles to enable besides services without `profiles:` (`*`
    /// enables all).
    pub profiles: Vec<String>,
    /// The workspace: relative paths (binds, build contexts, env files,
    /// secrets) resolve against it.
    pub workspace: PathBuf,
    /// The caller's variables: values of `environment: [KEY]` and
    /// `build.args: [KEY]` entries, of env files' variables, and `HOME` for
    /// `~` paths.
    pub vars: BTreeMap<String, String>,
}

/// Loads the compose file at `path` as a project of its own (see
/// [`load_files`]).
pub fn load(path: &Path, vars: &dyn Fn(&str) -> Option<String>) -> Result<ComposeFile, ComposeError> {
    load_files(std::slice::from_ref(&path.to_path_buf()), vars)
}

/// Loads a project made of `files`, merged in order as compose's
/// `-f a -f b`: parses each (anchors, merge keys, `!reset`/`!override`),
/// interpolates every string value with `vars`, imports `include:`,
/// resolves `extends`, merges them and checks the result. The project
/// directory is the first file's folder. Unset variables become
/// [`ComposeFile::warnings`].
pub fn load_files(
    files: &[PathBuf],
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<ComposeFile, ComposeError> {
    let Some(first) = files.first() else {
        return Err(ComposeError::Read {
            path: PathBuf::new(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no compose file given"),
        });
    };
    let project_dir = first.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    let loaded = project::load(files, &project_dir, vars)?;
    let fail = |problem: Problem| error_at(&loaded.sources, &loaded.extended, problem);
    let defs = convert::convert(&loaded.root).map_err(fail)?;
    references::check_references(&defs).map_err(fail)?;
    Ok(ComposeFile {
        path: first.clone(),
        name: defs.name,
        services: defs.services,
        networks: defs.networks,
        volumes: defs.volumes,
        secrets: defs.secrets,
        configs: defs.configs,
        notes: defs.notes,
        warnings: loaded.warnings,
        files: files.to_vec(),
        project_dir,
        sources: loaded.sources,
        extended: loaded.extended,
    })
}

/// Reads a compose or env file, refusing one larger than
/// [`input::MAX_FILE_BYTES`] before reading it.
pub(crate) fn read(path: &Path) -> Result<String, ComposeError> {
    input::read_text(path, input::MAX_FILE_BYTES).map_err(|e| match e {
        input::ReadError::Io(source) => ComposeError::Read { path: path.to_path_buf(), source },
        reason => ComposeError::TooLarge { path: path.to_path_buf(), reason },
    })
}

/// Plans a loaded file for one environment. Only services whose profiles
/// are active are planned, and only the networks and volumes they use.
/// Published ports get offsets in the file's order of active services and
/// their ports.
pub fn plan(file: &ComposeFile, settings: &PlanSettings) -> Result<Plan, ComposeError> {
    planner::plan(file, settings)
}

/// The `MONO_<SERVICE>_PORT*` variables of a plan: `MONO_<SERVICE>_PORT` is
/// the host port of the service's first published port,
/// `MONO_<SERVICE>_PORT_<CONTAINER_PORT>` that of each published TCP port and
/// `MONO_<SERVICE>_PORT_<CONTAINER_PORT>_UDP` that of each UDP one. SERVICE
/// is upper-cased with every other character than a letter or digit turned
/// into `_`. When two names collide, the first keeps the variable (the plan
/// warns about it).
pub fn port_vars(plan: &Plan) -> Vec<(String, String)> {
    planner::port_vars(plan)
}

/// `MONO_<SERVICE>_PORT` for a service name.
pub fn port_var_stem(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("MONO_{name}_PORT")
}

impl ComposeFile {
    /// A problem found while planning, with the file and its line.
    pub(crate) fn error(&self, problem: Problem) -> ComposeError {
        error_at(&self.sources, &self.extended, problem)
    }

    /// The file a key path's value came from (see [`error_at`]).
    pub(crate) fn origin(&self, path: &keypath::KeyPath) -> &Path {
        locate(&self.sources, &self.extended, path).map_or(self.path.as_path(), |(file, _)| file)
    }
}

/// The file of highest precedence that has the whole key path, else the one
/// with the deepest part of it, and the position there.
fn locate<'s>(
    sources: &'s [Source],
    extended: &[String],
    path: &keypath::KeyPath,
) -> Option<(&'s Path, Position)> {
    let segments = path.segments();
    let searched = match path.service() {
        Some(name) if extended.iter().any(|e| e == name) => &segments[..2],
        _ => segments,
    };
    (1..=searched.len()).rev().find_map(|n| {
        sources
            .iter()
            .rev()
            .find_map(|s| document::seek(&s.text, &searched[..n]).map(|p| (s.path.as_path(), p)))
    })
}

/// Attaches the file the key path's value came from and its line and
/// column: the file of highest precedence that has the whole path, else
/// the one with the deepest part of it (a merged list's items may sit at
/// other indices in their file). For services built with `extends`, only
/// the service's own position is trusted: the rest of the path may come
/// from its base.
pub(crate) fn error_at(sources: &[Source], extended: &[String], problem: Problem) -> ComposeError {
    let service = problem.path.service().map(str::to_string);
    let (path, position) = match locate(sources, extended, &problem.path) {
        Some((file, position)) => (file, Some(position)),
        None => (sources.last().map_or(Path::new(""), |s| s.path.as_path()), None),
    };
    let key = problem.path.to_string();
    match problem.kind {
        ProblemKind::Message(message) => {
            ComposeError::Invalid { path: path.to_path_buf(), position, key, service, message }
        }
        ProblemKind::Interpolation(source) => {
            ComposeError::Interpolation { path: path.to_path_buf(), position, key, source }
        }
    }
}
