//! Why a compose file cannot be loaded or planned.
//!
//! Every message names the file, and where it can the line and column, the
//! key path (`services.db.ports[1]`) and so the service; and it says what to
//! do about it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::interpolate::InterpolateError;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Position {
    pub(crate) fn of(location: serde_yaml::Location) -> Position {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Position { line: clamp(location.line()), column: clamp(location.column()) }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a compose file (or an env file it names) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The file could not be read.
    #[error("cannot read {}: {source}; check that the file exists and is readable", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than mono reads.
    #[error("{} is too large: {reason}; make it smaller", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size and the limit.
        reason: crate::input::ReadError,
    },
    /// The file is not valid YAML.
    #[error("{}: invalid YAML: {message}; fix the syntax and try again", place(path, *position))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where, when the parser knows.
        position: Option<Position>,
        /// The parser's message.
        message: String,
    },
    /// A key or value is wrong: unknown key, wrong type, bad port or volume,
    /// reference to something undeclared.
    #[error("{}: {key}: {message}", place(path, *position))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where the key is in the file, when it can be found there.
        position: Option<Position>,
        /// The key path, e.g. `services.db.ports[1]`.
        key: String,
        /// The service the key belongs to, if any.
        service: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
    /// `${VAR:?message}` with the variable unset, or a malformed expression.
    #[error(
        "{}: {key}: {source}; set the variable (in the environment or the workspace's .env) or fix the expression",
        place(path, *position)
    )]
    Interpolation {
        /// The file.
        path: PathBuf,
        /// Where the value is in the file, when it can be found there.
        position: Option<Position>,
        /// The key path of the value.
        key: String,
        /// The interpolation error, naming the variable.
        source: InterpolateError,
    },
    /// A problem between services: a dependency cycle, a dependency on an
    /// inactive service, an `extends` that cannot be resolved.
    #[error("{}: service {service}: {message}", path.display())]
    Service {
        /// The file.
        path: PathBuf,
        /// The service.
        service: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A malformed line in a `.env` or `env_file` file.
    #[error("{}:{line}: {message}", path.display())]
    Dotenv {
        /// The env file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// The environment's slot has no port block.
    #[error("slot {slot} has no port block (slots are 1 to {max}); this is a bug in mono", max = mono_proto::ports::MAX_SLOT)]
    Slot {
        /// The slot.
        slot: u32,
    },
}

// Errors travel inside `OpError`; keep them small enough not to bloat every
// `Result` on the way (clippy's `result_large_err` starts at 128 bytes).
const _: () = assert!(std::mem::size_of::<ComposeError>() <= 120);

fn place(path: &Path, position: Option<Position>) -> String {
    match position {
        Some(p) => format!("{}:{p}", path.display()),
        None => path.display().to_string(),
    }
}

impl ComposeError {
    /// A syntax error from the YAML parser.
    pub(crate) fn syntax(path: &Path, e: &serde_yaml::Error) -> ComposeError {
        let full = e.to_string();
        // The position is reported separately; drop the parser's own suffix.
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        ComposeError::Syntax { path: path.to_path_buf(), position: e.location().map(Position::of), message }
    }
}
