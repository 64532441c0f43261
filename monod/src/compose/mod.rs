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
//! Loading follows compose: YAML with anchors and merge keys, `${VAR}`
//! interpolation of values ([`crate::interpolate`]), `extends` within the
//! file, then a strict typed model ([`model`]) in which unknown keys are
//! errors. Containers, networks and volumes carry compose's labels, so
//! `docker compose -p mono-<env> ps/down` still sees them.
//!
//! Not supported: `include`, `extends.file`, several files, `configs`;
//! each is refused or reported by name.

mod document;
mod dotenv;
mod error;
mod hash;
mod hazards;
mod keypath;
pub mod model;
pub mod plan;
mod planner;
mod syntax;
#[cfg(test)]
mod tests;
mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::input;

pub use dotenv::{read_dotenv, read_dotenv_with};
pub use error::{ComposeError, Position};
pub use model::ComposeFile;
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

/// The compose file of the workspace at `dir`: the first of
/// [`COMPOSE_FILES`] that exists.
pub fn find(dir: &Path) -> Option<PathBuf> {
    COMPOSE_FILES.iter().map(|name| dir.join(name)).find(|path| path.is_file())
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

/// Loads the compose file at `path`: parses it (anchors and merge keys
/// included), interpolates every string value with `vars`, resolves
/// `extends` and checks it. Unset variables become
/// [`ComposeFile::warnings`].
pub fn load(path: &Path, vars: &dyn Fn(&str) -> Option<String>) -> Result<ComposeFile, ComposeError> {
    let text = read(path)?;
    let mut root = document::parse(path, &text)?;
    let fail = |extended: &[String], problem: Problem| error_at(path, &text, extended, problem);
    let warnings = document::interpolate_document(path, &mut root, vars).map_err(|p| fail(&[], p))?;
    let extended = document::resolve_extends(&mut root).map_err(|p| fail(&[], p))?;
    let defs = model::convert(&root).map_err(|p| fail(&extended, p))?;
    model::check_references(&defs).map_err(|p| fail(&extended, p))?;
    Ok(ComposeFile {
        path: path.to_path_buf(),
        name: defs.name,
        services: defs.services,
        networks: defs.networks,
        volumes: defs.volumes,
        secrets: defs.secrets,
        notes: defs.notes,
        warnings,
        text,
        extended,
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
        error_at(&self.path, &self.text, &self.extended, problem)
    }
}

/// Attaches the file and, where the key path exists in the text, its line
/// and column. For services built with `extends`, only the service's own
/// position is trusted: the rest of the path may come from its base.
fn error_at(path: &Path, text: &str, extended: &[String], problem: Problem) -> ComposeError {
    let segments = problem.path.segments();
    let service = problem.path.service().map(str::to_string);
    let searched = match &service {
        Some(name) if extended.contains(name) => &segments[..2],
        _ => segments,
    };
    let position = document::locate(text, searched);
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
