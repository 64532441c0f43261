//! Which Docker Engine to talk to, decided as the docker CLI decides:
//! `DOCKER_HOST`, then `DOCKER_CONTEXT`, then `currentContext` in
//! `$DOCKER_CONFIG/config.json`, then the platform's default socket (on
//! macOS, when `/var/run/docker.sock` is absent, the sockets Docker
//! Desktop, OrbStack, Colima, Rancher Desktop and Podman create).
//!
//! An [`Endpoint`] says where and why (`DOCKER_HOST`, which context, the
//! default), so messages and `mono doctor` can tell the user. It is
//! recorded with each docker-mode environment (JSON in its row), so the
//! teardown, the container watcher and status reach the engine the
//! environment was created on whatever the environment of a later caller.
//! It holds file paths only, never key material.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cli_config::{CliConfig, ConfigError, DockerVars};
use super::context::{self, ContextError};

/// The Engine's socket when nothing says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The TLS files of a `tcp://` endpoint: the CA that signed the server's
/// certificate, and the client's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsFiles {
    /// `ca.pem`.
    pub ca: PathBuf,
    /// `cert.pem`.
    pub cert: PathBuf,
    /// `key.pem`.
    pub key: PathBuf,
}

/// Where the Engine is and why mono looks there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `unix:///path`, `tcp://host:port` or `ssh://[user@]host`.
    pub host: String,
    /// Verified TLS, for `tcp://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Why this one: `DOCKER_HOST`, `context colima (DOCKER_CONTEXT)`, `default`, ...
    pub source: String,
}

/// Why no endpoint could be decided.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// A context is named but cannot be used.
    #[error(
        "Docker context {name:?} (from {from}) cannot be used: {reason}; create it (`docker context ls`), choose another, or set DOCKER_HOST"
    )]
    Context {
        /// The context's name.
        name: String,
        /// Where its name came from.
        from: String,
        /// What is wrong.
        reason: ContextError,
    },
    /// An endpoint mono cannot use.
    #[error("Docker endpoint {host} ({source_}): {reason}")]
    Unsupported {
        /// The host as given.
        host: String,
        /// Where it came from.
        source_: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// `config.json` cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A recorded endpoint cannot be read back.
    #[error("the Docker endpoint recorded for this environment is unreadable ({0}); `mono destroy` it")]
    Recorded(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.host, self.source)
    }
}

impl Endpoint {
    /// The endpoint the variables `vars` lead to.
    pub fn resolve(vars: &DockerVars) -> Result<Endpoint, EndpointError> {
        if let Some(host) = vars.get("DOCKER_HOST") {
            let tls = tls_from_vars(vars, host, "DOCKER_HOST")?;
            return Endpoint::checked(host, tls, "DOCKER_HOST".into());
        }
        let config_dir = vars.config_dir();
        let (name, from) = match vars.get("DOCKER_CONTEXT") {
            Some(name) => (Some(name.to_string()), "DOCKER_CONTEXT".to_string()),
            None => match &config_dir {
                Some(dir) => {
                    let from = format!("currentContext in {}", dir.join("config.json").display());
                    (CliConfig::load(dir)?.current_context.filter(|c| !c.is_empty()), from)
                }
                None => (None, String::new()),
            },
        };
        match (name, config_dir) {
            // `default` is the CLI's name for "no context": the variables and the default socket.
            (Some(name), _) if name == "default" => Ok(default_endpoint(vars)),
            (Some(name), Some(dir)) => from_context(&dir, &name, &from),
            (Some(name), None) => Err(EndpointError::Context {
                name,
                from,
                reason: ContextError::Missing { dir: "(neither DOCKER_CONFIG nor HOME is set)".into() },
            }),
            (None, _) => Ok(default_endpoint(vars)),
        }
    }

    /// The endpoint of context `name`, named by `mono.yml`
    /// (`compose.context`): it wins over the caller's variables, as
    /// `docker --context` does.
    pub fn pinned(vars: &DockerVars, name: &str) -> Result<Endpoint, EndpointError> {
        let from = "compose.context in mono.yml".to_string();
        if name == "default" {
            let mut at = default_endpoint(vars);
            at.source = format!("context default, from {from}");
            return Ok(at);
        }
        match vars.config_dir() {
            Some(dir) => from_context(&dir, name, &from),
            None => Err(EndpointError::Context {
                name: name.to_string(),
                from,
                reason: ContextError::Missing { dir: "(neither DOCKER_CONFIG nor HOME is set)".into() },
            }),
        }
    }

    /// Whether the engine is on another machine: `ssh://`, or `tcp://` to
    /// an address that is not this machine's loopback.
    pub fn is_remote(&self) -> bool {
        match self.host.split_once("://") {
            Some(("ssh", _)) => true,
            Some(("tcp", rest)) => {
                let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                !(host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
            }
            _ => false,
        }
    }

    /// The endpoint recorded with an environment, or (for environments made
    /// before endpoints were recorded) the one monod's own variables give.
    pub fn recorded(json: Option<&str>) -> Result<Endpoint, EndpointError> {
        match json {
            Some(text) => serde_json::from_str(text).map_err(|e| EndpointError::Recorded(e.to_string())),
            None => Endpoint::resolve(&DockerVars::own()),
        }
    }

    /// As JSON, for the environment's row.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks the scheme, and that verified TLS has its files.
    fn checked(host: &str, tls: Option<TlsFiles>, source: String) -> Result<Endpoint, EndpointError> {
        let unsupported = |reason: String| EndpointError::Unsupported {
            host: host.to_string(),
            source_: source.clone(),
            reason,
        };
        let scheme = host.split_once("://").map_or("", |(s, _)| s);
        match scheme {
            "unix" | "ssh" => {}
            "tcp" => {
                if let Some(files) = &tls {
                    for file in [&files.ca, &files.cert, &files.key] {
                        if !file.is_file() {
                            return Err(unsupported(format!(
                                "TLS needs {}, which does not exist; put ca.pem, cert.pem and key.pem there",
                                file.display()
                            )));
                        }
                    }
                }
            }
            "npipe" => return Err(unsupported("named pipes exist on Windows only".into())),
            _ => return Err(unsupported("use unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST".into())),
        }
        Ok(Endpoint { host: host.to_string(), tls, source })
    }
}

/// TLS for `DOCKER_HOST=tcp://...`: `DOCKER_TLS_VERIFY` (any non-empty
/// value, as for the CLI) with the files in `DOCKER_CERT_PATH`, else in
/// the configuration folder. TLS without verification is refused: mono
/// does not talk to an engine it cannot authenticate.
fn tls_from_vars(vars: &DockerVars, host: &str, source: &str) -> Result<Option<TlsFiles>, EndpointError> {
    if !host.starts_with("tcp://") {
        return Ok(None);
    }
    if vars.get("DOCKER_TLS_VERIFY").is_none() {
        if vars.get("DOCKER_TLS").is_some() {
            return Err(EndpointError::Unsupported {
                host: host.into(),
                source_: source.into(),
                reason: "TLS without verification (DOCKER_TLS without DOCKER_TLS_VERIFY) is not supported; \
                         set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"
                    .into(),
            });
        }
        return Ok(None);
    }
    let dir = vars.get("DOCKER_CERT_PATH").map(PathBuf::from).or_else(|| vars.config_dir()).ok_or_else(|| {
        EndpointError::Unsupported {
            host: host.into(),
            source_: source.into(),
            reason: "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME says where the certificates are"
                .into(),
        }
    })?;
    Ok(Some(tls_in(&dir)))
}

fn tls_in(dir: &Path) -> TlsFiles {
    TlsFiles { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }
}

fn from_context(config_dir: &Path, name: &str, from: &str) -> Result<Endpoint, EndpointError> {
    let ctx = context::resolve(config_dir, name).map_err(|reason| EndpointError::Context {
        name: name.to_string(),
        from: from.to_string(),
        reason,
    })?;
    let source = format!("context {name}, from {from}");
    let tls = match (&ctx.tls_dir, ctx.host.starts_with("tcp://")) {
        (Some(dir), true) if ctx.skip_tls_verify => {
            return Err(EndpointError::Unsupported {
                host: ctx.host.clone(),
                source_: source,
                reason: format!(
                    "the context skips TLS verification, which mono does not do; give it a CA ({})",
                    dir.join("ca.pem").display()
                ),
            });
        }
        (Some(dir), true) => Some(tls_in(dir)),
        _ => None,
    };
    Endpoint::checked(&ctx.host, tls, source)
}

/// The platform's default socket. On macOS many users have none at
/// `/var/run/docker.sock` (it is optional in Docker Desktop, absent with
/// OrbStack off, Colima, Rancher Desktop and Podman): the first of their
/// well-known sockets that exists is used, and the source says so.
fn default_endpoint(vars: &DockerVars) -> Endpoint {
    let default = Endpoint { host: DEFAULT_HOST.to_string(), tls: None, source: "default".into() };
    if !cfg!(target_os = "macos") || Path::new("/var/run/docker.sock").exists() {
        return default;
    }
    let Some(home) = vars.get("HOME").map(PathBuf::from) else { return default };
    well_known(&home).into_iter().find(|(_, path)| path.exists()).map_or(default, |(who, path)| Endpoint {
        host: format!("unix://{}", path.display()),
        tls: None,
        source: format!("{who}'s socket; /var/run/docker.sock is absent"),
    })
}

/// The sockets of the Docker engines macOS users run, in order.
fn well_known(home: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("Docker Desktop", home.join(".docker/run/docker.sock")),
        ("OrbStack", home.join(".orbstack/run/docker.sock")),
        ("Colima", home.join(".colima/default/docker.sock")),
        ("Rancher Desktop", home.join(".rd/docker.sock")),
        ("Podman", home.join(".local/share/containers/podman/machine/podman.sock")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> DockerVars {
        DockerVars::from_pairs(pairs.iter().copied(), "test")
    }

    fn write_context(dir: &Path, name: &str, host: &str) -> PathBuf {
        let meta = dir.join("contexts/meta").join(context::digest(name));
        std::fs::create_dir_all(&meta).unwrap();
        let json = serde_json::json!({"Name": name, "Endpoints": {"docker": {"Host": host}}});
        std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
        dir.join("contexts/tls").join(context::digest(name)).join("docker")
    }

    #[test]
    fn precedence_is_the_clis() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().to_str().unwrap();
        write_context(dir.path(), "a", "unix:///a.sock");
        write_context(dir.path(), "b", "unix:///b.sock");
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":"b"}"#).unwrap();

        let e =
            Endpoint::resolve(&vars(&[("DOCKER_HOST", "unix:///h.sock"), ("DOCKER_CONTEXT", "a")])).unwrap();
        assert_eq!((e.host.as_str(), e.source.as_str()), ("unix:///h.sock", "DOCKER_HOST"));
        let e = Endpoint::resolve(&vars(&[("DOCKER_CONTEXT", "a"), ("DOCKER_CONFIG", cfg)])).unwrap();
        assert_eq!(
            (e.host.as_str(), e.source.as_str()),
            ("unix:///a.sock", "context a, from DOCKER_CONTEXT")
        );
        let e = Endpoint::resolve(&vars(&[("DOCKER_CONFIG", cfg)])).unwrap();
        assert_eq!(e.host, "unix:///b.sock");
        assert!(e.source.starts_with("context b, from currentContext in "), "{}", e.source);
        let e = Endpoint::resolve(&vars(&[("DOCKER_CONTEXT", "default"), ("DOCKER_CONFIG", cfg)])).unwrap();
        assert_eq!(e.host, DEFAULT_HOST);
        let e = Endpoint::resolve(&vars(&[])).unwrap();
        assert_eq!((e.host.as_str(), e.source.as_str()), (DEFAULT_HOST, "default"));
    }

    #[test]
    fn a_missing_context_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Endpoint::resolve(&vars(&[
            ("DOCKER_CONTEXT", "gone"),
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"gone\"") && e.contains("DOCKER_CONTEXT") && e.contains("docker context ls"),
            "{e}"
        );
    }

    #[test]
    fn tls_comes_from_the_variables_or_the_context_and_needs_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let certs_s = certs.to_str().unwrap();
        let tcp = [
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", certs_s),
        ];
        let e = Endpoint::resolve(&vars(&tcp)).unwrap_err().to_string();
        assert!(e.contains("ca.pem") && e.contains("does not exist"), "{e}");
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(certs.join(f), "x").unwrap();
        }
        let e = Endpoint::resolve(&vars(&tcp)).unwrap();
        assert_eq!(e.tls.unwrap().key, certs.join("key.pem"));
        // Plain tcp without DOCKER_TLS_VERIFY, as the CLI.
        assert!(Endpoint::resolve(&vars(&tcp[..1])).unwrap().tls.is_none());
        let e = Endpoint::resolve(&vars(&[tcp[0], ("DOCKER_TLS", "1")])).unwrap_err().to_string();
        assert!(e.contains("DOCKER_TLS_VERIFY=1"), "{e}");

        let tls = write_context(dir.path(), "remote", "tcp://10.1.1.1:2376");
        std::fs::create_dir_all(&tls).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(tls.join(f), "x").unwrap();
        }
        let e = Endpoint::resolve(&vars(&[
            ("DOCKER_CONTEXT", "remote"),
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(e.tls.unwrap().ca, tls.join("ca.pem"));
    }

    #[test]
    fn unsupported_schemes_and_records_round_trip() {
        let e = Endpoint::resolve(&vars(&[("DOCKER_HOST", "npipe:////./pipe/docker_engine")])).unwrap_err();
        assert!(e.to_string().contains("Windows"), "{e}");
        let e = Endpoint::resolve(&vars(&[("DOCKER_HOST", "/var/run/docker.sock")])).unwrap_err();
        assert!(e.to_string().contains("unix://PATH"), "{e}");
        let e = Endpoint::resolve(&vars(&[("DOCKER_HOST", "ssh://me@box")])).unwrap();
        assert_eq!(Endpoint::recorded(Some(&e.to_json())).unwrap(), e);
        assert_eq!(e.to_string(), "ssh://me@box (DOCKER_HOST)");
    }
}
