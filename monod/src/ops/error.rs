//! Errors of operations, each saying what failed, where, and what to do.

use mono_proto::{Code, ErrorCode, ProtocolCode};

use crate::config::ConfigError;
use crate::script::Outcome;
use crate::state::StateError;
use crate::tmux::TmuxError;
use mono_compose::interpolate::InterpolateError;

/// Why an operation failed. Every variant maps to one [`Code`]: mostly
/// mono's own [`ErrorCode`]s; a bad parameter is the spec's invalid params.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The path cannot be used as a workspace.
    #[error("{path}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// `mono init` of a registered path.
    #[error(
        "{path} is already registered as environment {name}; run `mono destroy {path}` first to recreate it"
    )]
    AlreadyRegistered {
        /// The workspace.
        path: String,
        /// Its environment.
        name: String,
    },
    /// No environment for the path.
    #[error("no environment is registered for {path}; `mono list` shows the registered ones")]
    NotRegistered {
        /// The workspace.
        path: String,
    },
    /// Another operation holds the environment.
    #[error(
        "{path}: `mono {running}` is already in progress for this workspace; wait for it to finish and try again"
    )]
    Busy {
        /// The workspace.
        path: String,
        /// The operation in progress.
        running: &'static str,
    },
    /// `mono.yml` is malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A variable in `mono.yml`'s `env:` cannot be expanded.
    #[error("{file}: env.{key}: {source}")]
    Interpolate {
        /// The config file.
        file: String,
        /// The variable being defined.
        key: String,
        /// What is wrong.
        source: InterpolateError,
    },
    /// The session's protected variables cannot fit one tmux command.
    #[error("{file}: {source}")]
    EnvTooLarge {
        /// The config file.
        file: String,
        /// What takes the room.
        source: crate::tmux::EnvTooLarge,
    },
    /// Every slot is taken (or its port block is).
    #[error(
        "cannot create {path}: no environment slot is free ({max} in all, {blocked} free one(s) passed over because other programs listen on their ports); destroy an environment, or stop those programs (`mono doctor` names them)"
    )]
    Capacity {
        /// The workspace.
        path: String,
        /// The number of slots.
        max: u32,
        /// Free slots passed over because their ports are taken.
        blocked: u32,
    },
    /// A user script failed.
    #[error("{env}: {script} script failed ({outcome}); fix it in {file} and run `mono init` again")]
    ScriptFailed {
        /// The environment.
        env: String,
        /// Which script (`init`, `setup`, ...).
        script: &'static str,
        /// How it ended.
        outcome: Outcome,
        /// The config file that defines it.
        file: String,
    },
    /// A script could not be started at all.
    #[error("{env}: cannot start the {script} script: {source}")]
    ScriptSpawn {
        /// The environment.
        env: String,
        /// Which script.
        script: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// tmux failed.
    #[error("{env}: {source}")]
    Tmux {
        /// The environment.
        env: String,
        /// The tmux error.
        source: TmuxError,
    },
    /// The environment's log could not be watched.
    #[error("{env}: {detail}")]
    Monitor {
        /// The environment.
        env: String,
        /// What failed.
        detail: String,
    },
    /// The environment lacks what the request needs.
    #[error("{env}: {reason}")]
    Unavailable {
        /// The environment.
        env: String,
        /// What is missing and what to do.
        reason: String,
    },
    /// A file operation of mono's own failed (a link found on the way is
    /// [`OpError::Link`], see [`OpError::io`]).
    #[error("{env}: cannot {action} {path}: {source}")]
    Io {
        /// The environment.
        env: String,
        /// What mono was doing ("create", "remove").
        action: &'static str,
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A symbolic link sits where mono keeps an environment's directory.
    #[error(
        "{env}: {path} is a symbolic link (to {target}), which mono does not follow; \
         `mono gc --yes` removes it (not its target), then run the command again"
    )]
    Link {
        /// The environment.
        env: String,
        /// The link.
        path: String,
        /// Where it points.
        target: String,
    },
    /// The compose file cannot be used.
    #[error(transparent)]
    Compose(#[from] mono_compose::ComposeError),
    /// The Docker Engine failed or a service did not come up.
    #[error("{env}: {source}")]
    Docker {
        /// The environment.
        env: String,
        /// The engine error.
        source: crate::docker::EngineError,
    },
    /// A remote engine's port cannot be brought home.
    #[error("{env}: {source}")]
    Forward {
        /// The environment.
        env: String,
        /// What ssh said.
        source: crate::ssh::master::ForwardError,
    },
    /// A service bind-mounts a path of this machine, on an engine of another.
    #[error(
        "service {service} bind-mounts {source_} (at {target}), which is on this machine, but the engine {engine} is on another; use a named volume, or a local engine for this workspace (mono.yml compose.context)"
    )]
    RemoteBind {
        /// The service.
        service: String,
        /// The host path.
        source_: String,
        /// Where it is mounted.
        target: String,
        /// The engine.
        engine: String,
    },
    /// A `tcp://` engine on another machine: its ports cannot come home.
    #[error(
        "the Docker engine {engine} is on another machine, and mono brings its ports home over SSH only; reach it with an ssh:// context (`docker context create NAME --docker host=ssh://USER@HOST`)"
    )]
    RemoteTcp {
        /// The engine.
        engine: String,
    },
    /// The state database failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The dependency cache failed.
    #[error("{env}: {source}")]
    Cache {
        /// The environment (or `cache`).
        env: String,
        /// What failed.
        source: crate::cache::CacheError,
    },
    /// A parameter is invalid (JSON-RPC invalid params).
    #[error("{what}")]
    Invalid {
        /// Which parameter, what is wrong with it and what to give instead.
        what: String,
    },
    /// The daemon is shutting down.
    #[error("monod is shutting down and takes no new operations; run the command again")]
    ShuttingDown,
    /// Shutdown interrupted the operation, which was rolled back.
    #[error("{env}: {op} was interrupted because monod is shutting down; run `mono {op}` again")]
    Cancelled {
        /// The environment.
        env: String,
        /// The operation.
        op: &'static str,
    },
    /// An init failed and was rolled back; `left` says what the rollback
    /// could not remove (`None`: nothing is left, as checked).
    #[error("{cause}; {}", rollback_note(.left.as_ref(), .path))]
    RolledBack {
        /// Why init failed.
        cause: Box<OpError>,
        /// The workspace, for the fix.
        path: String,
        /// What is left and why, when the rollback could not finish.
        left: Option<Leftover>,
    },
    /// A teardown (destroy, start-up recovery, gc) could not finish; the
    /// environment is kept, `failed`, with what is left.
    #[error(
        "{cause}; {env} is kept as failed (left: {left}): run `mono destroy {path}` again once that is fixed"
    )]
    Unfinished {
        /// Why the teardown stopped.
        cause: Box<OpError>,
        /// The environment.
        env: String,
        /// The workspace (shell-quoted), for the fix.
        path: String,
        /// What is left.
        left: String,
    },
    /// The operation's task panicked (a bug).
    #[error("internal error in mono {op}: {detail}; please report it with ~/.mono/monod.log")]
    Internal {
        /// The operation.
        op: &'static str,
        /// What happened.
        detail: String,
    },
}

impl OpError {
    /// A failed file operation on an environment's `path`: [`OpError::Link`]
    /// when a symbolic link was found there, else [`OpError::Io`].
    pub fn io(env: &str, action: &'static str, path: &std::path::Path, source: std::io::Error) -> OpError {
        match crate::nofollow::link_found(&source) {
            Some(link) => OpError::Link {
                env: env.to_string(),
                path: path.display().to_string(),
                target: link.target.clone(),
            },
            None => OpError::Io { env: env.to_string(), action, path: path.display().to_string(), source },
        }
    }

    /// The wire code of this error: mono's own, but for a bad parameter,
    /// which is the spec's invalid params.
    pub fn code(&self) -> Code {
        let code = match self {
            OpError::Invalid { .. } => return ProtocolCode::InvalidParams.into(),
            OpError::RolledBack { cause, .. } | OpError::Unfinished { cause, .. } => return cause.code(),
            OpError::InvalidPath { .. } => ErrorCode::InvalidPath,
            OpError::AlreadyRegistered { .. } => ErrorCode::AlreadyExists,
            OpError::NotRegistered { .. } => ErrorCode::NotFound,
            OpError::Busy { .. } => ErrorCode::Busy,
            OpError::Config(_)
            | OpError::Interpolate { .. }
            | OpError::Compose(_)
            | OpError::EnvTooLarge { .. } => ErrorCode::Config,
            OpError::Docker { .. } | OpError::Forward { .. } => ErrorCode::Docker,
            OpError::RemoteBind { .. } | OpError::RemoteTcp { .. } => ErrorCode::Config,
            OpError::Capacity { .. } => ErrorCode::Capacity,
            OpError::ScriptFailed { .. } | OpError::ScriptSpawn { .. } => ErrorCode::ScriptFailed,
            OpError::Tmux { .. } => ErrorCode::Tmux,
            OpError::Unavailable { .. } => ErrorCode::Unavailable,
            OpError::State(StateError::PathTaken { .. }) => ErrorCode::AlreadyExists,
            OpError::State(StateError::NoFreeSlot { .. }) => ErrorCode::Capacity,
            OpError::Io { .. }
            | OpError::Link { .. }
            | OpError::State(_)
            | OpError::Internal { .. }
            | OpError::Monitor { .. }
            | OpError::Cache { .. } => ErrorCode::Internal,
            OpError::ShuttingDown => ErrorCode::ShuttingDown,
            OpError::Cancelled { .. } => ErrorCode::Cancelled,
        };
        Code::Mono(code)
    }
}

/// The end of a failed init's message: what its rollback did.
/// What a rollback could not remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// What is left, and why.
    pub what: String,
    /// Whether the environment is kept, `failed`, to own it (else the row
    /// is gone and what is left belongs to no environment).
    pub kept: bool,
}

fn rollback_note(left: Option<&Leftover>, path: &str) -> String {
    match left {
        None => "rolled back: nothing was left behind".to_string(),
        Some(Leftover { what, kept: false }) => {
            format!("rolled back, but {what} could not be removed; `mono gc` lists what no environment owns")
        }
        Some(Leftover { what: left, kept: true }) => format!(
            "and the rollback could not remove everything (left: {left}), so the environment is kept as \
             failed: once that is fixed, `mono destroy {path}` or `mono gc --yes` removes it, then `mono init` \
             works again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_parameter_is_invalid_params_and_a_rollback_keeps_its_causes_code() {
        let invalid = OpError::Invalid { what: "give either all or older_than, not both".into() };
        assert_eq!(invalid.code(), Code::Protocol(ProtocolCode::InvalidParams));
        let busy = OpError::Busy { path: "/w".into(), running: "init" };
        assert_eq!(busy.code(), Code::Mono(ErrorCode::Busy));
        let rolled = OpError::RolledBack { cause: Box::new(busy), path: "/w".into(), left: None };
        assert_eq!(rolled.code(), Code::Mono(ErrorCode::Busy));
    }
}
