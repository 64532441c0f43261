//! Reaching the Docker Engine at an [`Endpoint`] (a Unix socket, TCP with
//! verified TLS, plain TCP, or SSH), agreeing on the API version it speaks,
//! and errors that say which object failed, where, and what to do.

use bollard::Docker;

use super::endpoint::{Endpoint, EndpointError};

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
        /// Where mono looked, and why there.
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
    /// A registry refused a pull for want of a (valid) login.
    #[error(transparent)]
    Login(Box<LoginRefused>),
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
    /// Where the Engine is cannot be decided.
    #[error(transparent)]
    Endpoint(Box<EndpointError>),
    /// The operation was cancelled (daemon shutdown).
    #[error("cancelled")]
    Cancelled,
}

/// A pull a registry refused for want of a (valid) login.
#[derive(Debug, thiserror::Error)]
#[error("{service}: pull of {image} was refused by registry {registry} ({message}); {fix}")]
pub struct LoginRefused {
    /// The service.
    pub service: String,
    /// The image.
    pub image: String,
    /// The registry host.
    pub registry: String,
    /// The Engine's message.
    pub message: String,
    /// What to do.
    pub fix: String,
}

impl From<EndpointError> for EngineError {
    fn from(e: EndpointError) -> EngineError {
        EngineError::Endpoint(Box::new(e))
    }
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

/// An error with its causes (`client error (Connect): tls: ...`): the
/// outermost alone rarely says what to fix.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// A connected Engine client.
#[derive(Clone)]
pub struct Engine {
    /// The bollard client, at the API version the Engine speaks.
    pub docker: Docker,
    /// Where it was found and why there, for messages.
    pub endpoint: String,
    /// The endpoint itself.
    pub at: Endpoint,
    /// Registry logins for pulls (the caller's `docker login` state).
    pub logins: Option<super::credentials::Logins>,
}

impl Engine {
    /// Connects to the endpoint monod's own variables give (for the
    /// daemon's own checks: status, doctor, the cache).
    pub async fn connect_own() -> Result<Engine, EngineError> {
        Engine::connect(&Endpoint::resolve(&super::cli_config::DockerVars::own())?).await
    }

    /// Connects to `at`, agrees on an API version and checks the Engine answers.
    pub async fn connect(at: &Endpoint) -> Result<Engine, EngineError> {
        let endpoint = at.to_string();
        let unreachable = |reason: String| EngineError::Unreachable { endpoint: endpoint.clone(), reason };
        // A remote engine's shared client: its connections are warm.
        let shared = crate::ssh::SshTarget::parse(&at.host).ok().zip(crate::ssh::masters());
        if let Some((target, masters)) = &shared
            && let Some(docker) = masters.client(target)
        {
            if docker.ping().await.is_ok() {
                return Ok(Engine { docker, endpoint, at: at.clone(), logins: None });
            }
            masters.keep_client(target, None);
        }
        let version = bollard::API_DEFAULT_VERSION;
        let docker = match (at.host.split_once("://").map_or("", |(s, _)| s), &at.tls) {
            ("unix", _) => Docker::connect_with_socket(&at.host, REQUEST_TIMEOUT_SECS, version),
            ("tcp", Some(tls)) => Docker::connect_with_ssl(
                &at.host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                REQUEST_TIMEOUT_SECS,
                version,
            ),
            ("tcp", None) => Docker::connect_with_http(&at.host, REQUEST_TIMEOUT_SECS, version),
            ("ssh", _) => {
                let target =
                    crate::ssh::SshTarget::parse(&at.host).map_err(|e| unreachable(e.to_string()))?;
                let control = crate::ssh::masters().map(|m| m.of(&target).control());
                crate::ssh::dial::docker(crate::ssh::dial::Dial::new(target, control), REQUEST_TIMEOUT_SECS)
            }
            _ => return Err(unreachable("use unix://, tcp:// or ssh://".into())),
        }
        .map_err(|e| unreachable(causes(&e)))?;
        let answered = match docker.negotiate_version().await {
            Ok(docker) => docker.ping().await.map(|_| docker),
            Err(e) => Err(e),
        };
        let docker = match (answered, &shared) {
            (Ok(docker), _) => docker,
            // Over SSH the HTTP error says only that the pipe closed.
            (Err(_), Some((target, _))) => return Err(unreachable(crate::ssh::dial::diagnose(target).await)),
            (Err(e), None) => return Err(unreachable(causes(&e))),
        };
        if let Some((target, masters)) = &shared {
            masters.keep_client(target, Some(docker.clone()));
        }
        Ok(Engine { docker, endpoint, at: at.clone(), logins: None })
    }

    /// This client, pulling with `logins`.
    pub fn with_logins(self, logins: super::credentials::Logins) -> Engine {
        Engine { logins: Some(logins), ..self }
    }

    /// Whether network create refuses a taken name by itself: from API
    /// 1.44 on. Older engines need `CheckDuplicate`, which bollard cannot
    /// send, so mono looks after creating (see `apply`).
    pub fn refuses_duplicate_networks(&self) -> bool {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version) >= (1, 44)
    }
}
