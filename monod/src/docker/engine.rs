//! Reaching the Docker Engine: where it is, which API version it speaks, and
//! errors that say which object failed and what to do.

use bollard::Docker;

/// Seconds a single Engine request may take (pulls and builds stream, so
/// this bounds silence, not their length).
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// What went wrong talking to the Engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nothing answers where Docker was looked for.
    #[error(
        "Docker is not reachable at {endpoint}: {reason}; start Docker (or set DOCKER_HOST) and try again"
    )]
    Unreachable {
        /// Where mono looked.
        endpoint: String,
        /// Why it failed.
        reason: String,
    },
    /// An Engine call failed.
    #[error("docker: cannot {action}: {source}")]
    Api {
        /// What mono was doing, naming the object ("create network mono-x_default").
        action: String,
        /// The Engine's error.
        source: bollard::errors::Error,
    },
    /// A pull or build reported an error.
    #[error("{service}: {what} failed: {message}")]
    Image {
        /// The service.
        service: String,
        /// `pull of IMAGE` or `build`.
        what: String,
        /// The Engine's message.
        message: String,
    },
    /// A service did not reach the state the plan requires.
    #[error("service {service} {state}{detail}; fix it and run `mono init` again")]
    Service {
        /// The service.
        service: String,
        /// What happened (`exited with code 1`, `is unhealthy`, ...).
        state: String,
        /// Last health-check output or log lines, prefixed with `: `.
        detail: String,
    },
    /// Something the plan needs is missing or cannot be used.
    #[error("{what}; fix it, then try again")]
    Conflict {
        /// The object and what is wrong.
        what: String,
    },
    /// A name the plan needs is taken by an object that is not this
    /// environment's (see [`super::ownership`]); mono neither used nor
    /// removed it.
    #[error(
        "{kind} {name} already exists and is not this environment's: {owner}; mono neither uses nor removes it: {fix}"
    )]
    NotOurs {
        /// `container`, `network` or `volume`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Whose it is, from its labels.
        owner: String,
        /// How to get it out of the way.
        fix: String,
    },
    /// The operation was cancelled (daemon shutdown).
    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    /// An `Api` error for `action`.
    pub fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> EngineError {
        let action = action.into();
        move |source| EngineError::Api { action, source }
    }
}

/// True for an Engine 404 (the object does not exist).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// True for an Engine 409 (the object exists or is in use).
pub fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 409, .. })
}

/// A connected Engine client.
#[derive(Clone)]
pub struct Engine {
    /// The bollard client, at the API version the Engine speaks.
    pub docker: Docker,
    /// Where it was found, for messages.
    pub endpoint: String,
}

impl Engine {
    /// The Engine's socket: `DOCKER_HOST` (`unix://...`) else the default.
    pub fn endpoint() -> String {
        match std::env::var("DOCKER_HOST") {
            Ok(h) if !h.is_empty() => h,
            _ => "unix:///var/run/docker.sock".to_string(),
        }
    }

    /// Connects, agrees on an API version and checks the Engine answers.
    pub async fn connect() -> Result<Engine, EngineError> {
        let endpoint = Self::endpoint();
        let unreachable = |reason: String| EngineError::Unreachable { endpoint: endpoint.clone(), reason };
        let Some(path) = endpoint.strip_prefix("unix://") else {
            return Err(unreachable("only unix:// endpoints are supported".into()));
        };
        let docker = Docker::connect_with_socket(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|e| unreachable(e.to_string()))?
            .negotiate_version()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        docker.ping().await.map_err(|e| unreachable(e.to_string()))?;
        Ok(Engine { docker, endpoint })
    }

    /// Whether network create refuses a taken name by itself: from API
    /// 1.44 on. Older engines need `CheckDuplicate`, which bollard cannot
    /// send, so mono looks after creating (see `apply`).
    pub fn refuses_duplicate_networks(&self) -> bool {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version) >= (1, 44)
    }
}
