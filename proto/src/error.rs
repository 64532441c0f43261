//! JSON-RPC error codes: every code that can reach the wire, in one table.
//!
//! Two families share the wire, and a client must be able to tell them
//! apart from the number alone:
//!
//! - [`ErrorCode`]: mono's own, one per kind of daemon failure (`busy`,
//!   `script_failed`, ...). The daemon turns each of its error types into
//!   exactly one of them; the message says what failed, where, and what to
//!   do.
//! - [`ProtocolCode`]: the JSON-RPC 2.0 spec's (-32700..=-32603) and
//!   jsonrpsee's (-32000..=-32011), which the server library sends by
//!   itself (a message that is not JSON, too many subscriptions, a request
//!   too big) and monod uses where the spec has a code (invalid params).
//!
//! mono's codes are -33001..=-33015, outside -32768..=-32000, the range
//! JSON-RPC 2.0 reserves for the protocol and its implementations.
//! Libraries take codes inside it freely (jsonrpsee -32000..=-32011, LSP
//! -32899..=-32800), so any application code there may collide with one:
//! mono's did (-32006 was both `script_failed` and jsonrpsee's "too many
//! subscriptions", -32007 both `tmux` and "request too big"). The spec
//! leaves every code outside that range to the application; mono keeps
//! them negative, like all error codes, and -33000 - n reads as mono's n-th.
//!
//! [`Code`] is either family; [`Code::of`] classifies any number, which is
//! how the client knows a library's refusal from a daemon failure.

use serde::{Deserialize, Serialize};

/// The largest request monod reads, in bytes: the body of an HTTP POST, or
/// one WebSocket message. A larger one gets
/// [`ProtocolCode::OversizedRequest`]; a client can check before sending.
pub const MAX_REQUEST: u32 = 4 * 1024 * 1024;

/// mono's application error codes (-33001..=-33015).
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
    /// A limit of the socket was reached: too many connections, a request
    /// head too large, or a request not sent in time.
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
            ErrorCode::NotFound => -33001,
            ErrorCode::AlreadyExists => -33002,
            ErrorCode::Busy => -33003,
            ErrorCode::InvalidPath => -33004,
            ErrorCode::Config => -33005,
            ErrorCode::ScriptFailed => -33006,
            ErrorCode::Tmux => -33007,
            ErrorCode::Capacity => -33008,
            ErrorCode::Unavailable => -33009,
            ErrorCode::Internal => -33010,
            ErrorCode::PermissionDenied => -33011,
            ErrorCode::ShuttingDown => -33012,
            ErrorCode::Cancelled => -33013,
            ErrorCode::Docker => -33014,
            ErrorCode::Limit => -33015,
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
                "A limit of the socket was reached: too many connections, a request head larger than 64 KiB, \
                 or a request not sent in time."
            }
        }
    }

    /// The code for a numeric JSON-RPC code, if it is one of mono's.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// The codes of the JSON-RPC 2.0 spec and of jsonrpsee, monod's server
/// library, as they reach the wire. Their numbers are jsonrpsee's own
/// (`jsonrpsee::types::error`); a test holds them equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolCode {
    /// The message is not JSON (or not UTF-8).
    ParseError,
    /// The message is JSON, but not a JSON-RPC request.
    InvalidRequest,
    /// No method of that name.
    MethodNotFound,
    /// A parameter is missing, unknown, of the wrong type, or not allowed.
    InvalidParams,
    /// The server library could not run the call.
    InternalError,
    /// jsonrpsee's generic failure of a call.
    CallExecutionFailed,
    /// jsonrpsee's error of no known kind.
    UnknownError,
    /// The server takes no batches.
    BatchesNotSupported,
    /// A connection opened more subscriptions than allowed.
    TooManySubscriptions,
    /// A request larger than [`MAX_REQUEST`].
    OversizedRequest,
    /// A reply larger than the server sends.
    OversizedResponse,
    /// The server runs as many calls as it allows.
    ServerIsBusy,
    /// A batch of more requests than allowed.
    TooBigBatchRequest,
    /// A batch whose replies together are too large.
    TooBigBatchResponse,
}

impl ProtocolCode {
    /// Every code, for tables and tests.
    pub const ALL: [ProtocolCode; 14] = [
        ProtocolCode::ParseError,
        ProtocolCode::InvalidRequest,
        ProtocolCode::MethodNotFound,
        ProtocolCode::InvalidParams,
        ProtocolCode::InternalError,
        ProtocolCode::CallExecutionFailed,
        ProtocolCode::UnknownError,
        ProtocolCode::BatchesNotSupported,
        ProtocolCode::TooManySubscriptions,
        ProtocolCode::OversizedRequest,
        ProtocolCode::OversizedResponse,
        ProtocolCode::ServerIsBusy,
        ProtocolCode::TooBigBatchRequest,
        ProtocolCode::TooBigBatchResponse,
    ];

    /// The numeric JSON-RPC code.
    pub const fn code(self) -> i32 {
        match self {
            ProtocolCode::ParseError => -32700,
            ProtocolCode::InvalidRequest => -32600,
            ProtocolCode::MethodNotFound => -32601,
            ProtocolCode::InvalidParams => -32602,
            ProtocolCode::InternalError => -32603,
            ProtocolCode::CallExecutionFailed => -32000,
            ProtocolCode::UnknownError => -32001,
            ProtocolCode::BatchesNotSupported => -32005,
            ProtocolCode::TooManySubscriptions => -32006,
            ProtocolCode::OversizedRequest => -32007,
            ProtocolCode::OversizedResponse => -32008,
            ProtocolCode::ServerIsBusy => -32009,
            ProtocolCode::TooBigBatchRequest => -32010,
            ProtocolCode::TooBigBatchResponse => -32011,
        }
    }

    /// The name of the code in documents (`parse_error`, ...), as serde
    /// writes it.
    pub const fn name(self) -> &'static str {
        match self {
            ProtocolCode::ParseError => "parse_error",
            ProtocolCode::InvalidRequest => "invalid_request",
            ProtocolCode::MethodNotFound => "method_not_found",
            ProtocolCode::InvalidParams => "invalid_params",
            ProtocolCode::InternalError => "internal_error",
            ProtocolCode::CallExecutionFailed => "call_execution_failed",
            ProtocolCode::UnknownError => "unknown_error",
            ProtocolCode::BatchesNotSupported => "batches_not_supported",
            ProtocolCode::TooManySubscriptions => "too_many_subscriptions",
            ProtocolCode::OversizedRequest => "oversized_request",
            ProtocolCode::OversizedResponse => "oversized_response",
            ProtocolCode::ServerIsBusy => "server_is_busy",
            ProtocolCode::TooBigBatchRequest => "too_big_batch_request",
            ProtocolCode::TooBigBatchResponse => "too_big_batch_response",
        }
    }

    /// Whether monod can send the code at all: jsonrpsee defines a few for
    /// features monod does not use (a limit it does not set, batches it
    /// does not refuse).
    pub const fn sent(self) -> bool {
        !matches!(
            self,
            ProtocolCode::CallExecutionFailed
                | ProtocolCode::UnknownError
                | ProtocolCode::BatchesNotSupported
                | ProtocolCode::ServerIsBusy
                | ProtocolCode::TooBigBatchRequest
        )
    }

    /// What the code means and when monod sends it, in one or two sentences.
    pub const fn description(self) -> &'static str {
        match self {
            ProtocolCode::ParseError => "The message is not JSON, or not UTF-8 (the reply's id is null).",
            ProtocolCode::InvalidRequest => {
                "The message is JSON but not a JSON-RPC 2.0 request; also an HTTP request that is not a POST \
                 of JSON or a WebSocket upgrade, or that is not HTTP/1."
            }
            ProtocolCode::MethodNotFound => {
                "No method of that name (see rpc.discover; a client newer than its daemon?)."
            }
            ProtocolCode::InvalidParams => {
                "A parameter is missing, of the wrong type, or its value is not allowed; the message (or \
                 data) names it."
            }
            ProtocolCode::InternalError => {
                "The server library could not run the call (a subscription method over plain HTTP)."
            }
            ProtocolCode::CallExecutionFailed => {
                "jsonrpsee's generic failure of a call; not sent by monod, whose failures have their own codes."
            }
            ProtocolCode::UnknownError => "jsonrpsee's error of no known kind; not sent by monod.",
            ProtocolCode::BatchesNotSupported => "Batches are refused; not sent by monod, which takes them.",
            ProtocolCode::TooManySubscriptions => {
                "The WebSocket holds 1024 subscriptions, the most one connection may; end some first."
            }
            ProtocolCode::OversizedRequest => {
                "The request is larger than 4 MiB: an HTTP body (refused from its Content-Length) or a \
                 WebSocket message (the reply's id is null)."
            }
            ProtocolCode::OversizedResponse => "The reply would be larger than 64 MiB; ask for less.",
            ProtocolCode::ServerIsBusy => {
                "The server runs as many calls as it allows; not sent by monod, which sets no such limit."
            }
            ProtocolCode::TooBigBatchRequest => {
                "A batch of more requests than allowed; not sent by monod, which limits a batch by size only."
            }
            ProtocolCode::TooBigBatchResponse => {
                "The replies of a batch would be larger than 64 MiB together; send fewer requests at once."
            }
        }
    }

    /// The code for a numeric JSON-RPC code, if it is one of these.
    pub fn from_code(code: i32) -> Option<ProtocolCode> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// Any code monod can put on the wire: mono's own or the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// A daemon failure ([`ErrorCode`]).
    Mono(ErrorCode),
    /// The JSON-RPC spec's or jsonrpsee's ([`ProtocolCode`]).
    Protocol(ProtocolCode),
}

impl Code {
    /// Every code monod can send: mono's, then the protocol's it sends.
    pub fn all() -> impl Iterator<Item = Code> {
        let mono = ErrorCode::ALL.into_iter().map(Code::Mono);
        mono.chain(ProtocolCode::ALL.into_iter().filter(|c| c.sent()).map(Code::Protocol))
    }

    /// Which code `code` is, if any that monod defines or sends.
    pub fn of(code: i32) -> Option<Code> {
        ErrorCode::from_code(code)
            .map(Code::Mono)
            .or_else(|| ProtocolCode::from_code(code).map(Code::Protocol))
    }

    /// The numeric JSON-RPC code.
    pub const fn code(self) -> i32 {
        match self {
            Code::Mono(c) => c.code(),
            Code::Protocol(c) => c.code(),
        }
    }

    /// Its name in documents.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Mono(c) => c.name(),
            Code::Protocol(c) => c.name(),
        }
    }

    /// What it means.
    pub const fn description(self) -> &'static str {
        match self {
            Code::Mono(c) => c.description(),
            Code::Protocol(c) => c.description(),
        }
    }
}

impl From<ErrorCode> for Code {
    fn from(c: ErrorCode) -> Code {
        Code::Mono(c)
    }
}

impl From<ProtocolCode> for Code {
    fn from(c: ProtocolCode) -> Code {
        Code::Protocol(c)
    }
}

#[cfg(test)]
mod tests {
    use jsonrpsee::types::error as lib;

    use super::*;

    /// Every code jsonrpsee 0.26 defines, by its own constants.
    const JSONRPSEE: [(ProtocolCode, i32); 14] = [
        (ProtocolCode::ParseError, lib::PARSE_ERROR_CODE),
        (ProtocolCode::InvalidRequest, lib::INVALID_REQUEST_CODE),
        (ProtocolCode::MethodNotFound, lib::METHOD_NOT_FOUND_CODE),
        (ProtocolCode::InvalidParams, lib::INVALID_PARAMS_CODE),
        (ProtocolCode::InternalError, lib::INTERNAL_ERROR_CODE),
        (ProtocolCode::CallExecutionFailed, lib::CALL_EXECUTION_FAILED_CODE),
        (ProtocolCode::UnknownError, lib::UNKNOWN_ERROR_CODE),
        (ProtocolCode::BatchesNotSupported, lib::BATCHES_NOT_SUPPORTED_CODE),
        (ProtocolCode::TooManySubscriptions, lib::TOO_MANY_SUBSCRIPTIONS_CODE),
        (ProtocolCode::OversizedRequest, lib::OVERSIZED_REQUEST_CODE),
        (ProtocolCode::OversizedResponse, lib::OVERSIZED_RESPONSE_CODE),
        (ProtocolCode::ServerIsBusy, lib::SERVER_IS_BUSY_CODE),
        (ProtocolCode::TooBigBatchRequest, lib::TOO_BIG_BATCH_REQUEST_CODE),
        (ProtocolCode::TooBigBatchResponse, lib::TOO_BIG_BATCH_RESPONSE_CODE),
    ];

    #[test]
    fn the_protocol_table_is_jsonrpsees() {
        for (c, number) in JSONRPSEE {
            assert_eq!(c.code(), number, "{}", c.name());
        }
        assert_eq!(JSONRPSEE.map(|(c, _)| c), ProtocolCode::ALL);
        assert_eq!(lib::ErrorCode::OversizedRequest.code(), ProtocolCode::OversizedRequest.code());
    }

    #[test]
    fn mono_codes_are_distinct_from_every_library_code() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            // Outside what JSON-RPC reserves for implementations.
            assert!(!(-32768..=-32000).contains(&c.code()), "{} is in the reserved range", c.name());
            for (p, number) in JSONRPSEE {
                assert_ne!(c.code(), number, "{} collides with jsonrpsee's {}", c.name(), p.name());
            }
            assert_eq!(Code::of(c.code()), Some(Code::Mono(c)));
        }
        for p in ProtocolCode::ALL {
            assert_eq!(Code::of(p.code()), Some(Code::Protocol(p)));
        }
        assert_eq!(Code::of(-32099), None);
    }

    #[test]
    fn names_are_what_serde_writes_and_distinct() {
        let mut names = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.name()));
            assert!(!c.description().is_empty());
            assert!(names.insert(c.name()));
        }
        for c in ProtocolCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.name()));
            assert!(!c.description().is_empty());
            assert!(names.insert(c.name()), "{} twice", c.name());
        }
        let sent: Vec<i32> = Code::all().map(Code::code).collect();
        assert!(sent.contains(&-32007) && sent.contains(&-33001) && !sent.contains(&-32009));
    }
}
