//! JSON-RPC error codes: the one mapping from daemon failures to the wire.
//!
//! The daemon turns each of its error types into exactly one of these codes;
//! the client turns the code back into an exit status and a message. The
//! message itself always says what failed, where, and what to do.

use serde::{Deserialize, Serialize};

/// Application error codes, in the JSON-RPC "server error" range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No environment is registered for the path or name.
    NotFound,
    /// The path is already registered.
    AlreadyExists,
    /// Another operation on the same environment is in progress.
    Busy,
    /// The path is missing, relative, not a directory, or otherwise unusable.
    InvalidPath,
    /// `mono.yml` (or another workspace file) is malformed.
    Config,
    /// A user script failed.
    ScriptFailed,
    /// tmux failed or is missing.
    Tmux,
    /// No free environment slot is left.
    Capacity,
    /// The request needs something the environment does not have (no run
    /// script, no session, ...).
    Unavailable,
    /// The daemon's state (SQLite, file system) failed.
    Internal,
    /// The caller is not allowed to talk to this daemon.
    PermissionDenied,
    /// The daemon is shutting down and takes no new operations.
    ShuttingDown,
    /// The operation was cancelled before it finished (and rolled back).
    Cancelled,
    /// The Docker Engine is unreachable or a service failed to come up.
    Docker,
    /// A limit of the socket was reached: too many connections, or a
    /// request too large or not sent in time.
    Limit,
}

impl ErrorCode {
    /// Every code, for tables and round-trip tests.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::Busy,
        ErrorCode::InvalidPath,
        ErrorCode::Config,
        ErrorCode::ScriptFailed,
        ErrorCode::Tmux,
        ErrorCode::Capacity,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::PermissionDenied,
        ErrorCode::ShuttingDown,
        ErrorCode::Cancelled,
        ErrorCode::Docker,
        ErrorCode::Limit,
    ];

    /// The numeric JSON-RPC code.
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::NotFound => -32001,
            ErrorCode::AlreadyExists => -32002,
            ErrorCode::Busy => -32003,
            ErrorCode::InvalidPath => -32004,
            ErrorCode::Config => -32005,
            ErrorCode::ScriptFailed => -32006,
            ErrorCode::Tmux => -32007,
            ErrorCode::Capacity => -32008,
            ErrorCode::Unavailable => -32009,
            ErrorCode::Internal => -32010,
            ErrorCode::PermissionDenied => -32011,
            ErrorCode::ShuttingDown => -32012,
            ErrorCode::Cancelled => -32013,
            ErrorCode::Docker => -32014,
            ErrorCode::Limit => -32015,
        }
    }

    /// The name of the code on the wire and in documents (`not_found`, ...),
    /// as serde writes it.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::Busy => "busy",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::Config => "config",
            ErrorCode::ScriptFailed => "script_failed",
            ErrorCode::Tmux => "tmux",
            ErrorCode::Capacity => "capacity",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Docker => "docker",
            ErrorCode::Limit => "limit",
        }
    }

    /// What the code means, in one sentence (the error's own message says
    /// what exactly failed). Used by the OpenRPC document.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "No environment is registered for the path or name.",
            ErrorCode::AlreadyExists => "The path is already registered.",
            ErrorCode::Busy => "Another operation on the same environment is in progress.",
            ErrorCode::InvalidPath => {
                "The path is missing, relative, not a directory, or otherwise unusable."
            }
            ErrorCode::Config => "mono.yml, the compose file or another workspace file is malformed.",
            ErrorCode::ScriptFailed => "A user script failed or could not be started.",
            ErrorCode::Tmux => "tmux failed or is missing.",
            ErrorCode::Capacity => "No free environment slot is left.",
            ErrorCode::Unavailable => {
                "The request needs something the environment does not have (no run script, no session, ...)."
            }
            ErrorCode::Internal => "The daemon's state (SQLite, file system) failed.",
            ErrorCode::PermissionDenied => "The caller is not allowed to talk to this daemon (another user).",
            ErrorCode::ShuttingDown => "The daemon is shutting down and takes no new operations.",
            ErrorCode::Cancelled => "The operation was cancelled before it finished, and rolled back.",
            ErrorCode::Docker => "The Docker Engine is unreachable or a service failed to come up.",
            ErrorCode::Limit => {
                "A limit of the socket was reached: too many connections, or a request too large or not sent in time."
            }
        }
    }

    /// The code for a numeric JSON-RPC code, if it is one of ours.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!((-32099..=-32000).contains(&c.code()));
        }
        assert_eq!(ErrorCode::from_code(-32700), None);
    }

    #[test]
    fn names_are_what_serde_writes() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.name()));
            assert!(!c.description().is_empty());
        }
    }
}
