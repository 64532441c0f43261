//! Docker contexts, read as the docker CLI stores them: a context named N
//! lives in `$DOCKER_CONFIG/contexts/meta/<sha256 hex of N>/meta.json`
//! (`Endpoints.docker.Host`, `SkipTLSVerify`) with its TLS material, if
//! any, in `contexts/tls/<same hash>/docker/` (`ca.pem`, `cert.pem`,
//! `key.pem`). Docker Desktop, OrbStack, Colima, Rancher Desktop and
//! Podman set their users up this way; bollard does not read contexts.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Largest `meta.json` read.
const MAX_META_BYTES: u64 = 1 << 20;

/// A context's Docker endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEndpoint {
    /// `unix://...`, `tcp://...`, `ssh://...`.
    pub host: String,
    /// The context asks not to verify the server's certificate.
    pub skip_tls_verify: bool,
    /// The folder of its TLS files, when it has one.
    pub tls_dir: Option<PathBuf>,
}

/// Why a context cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// No such context in this configuration folder.
    #[error("there is no context of that name in {dir}")]
    Missing {
        /// The `contexts/meta` folder looked in.
        dir: String,
    },
    /// Its metadata cannot be read or has no Docker endpoint.
    #[error("{path}: {reason}")]
    Bad {
        /// The `meta.json`.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: Endpoints,
}

#[derive(Deserialize, Default)]
struct Endpoints {
    docker: Option<DockerMeta>,
}

#[derive(Deserialize)]
struct DockerMeta {
    #[serde(rename = "Host", default)]
    host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The folder name of context `name`: hex SHA-256 of the name.
pub fn digest(name: &str) -> String {
    Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads context `name` from the configuration folder `config_dir`.
pub fn resolve(config_dir: &Path, name: &str) -> Result<ContextEndpoint, ContextError> {
    use std::io::Read;
    let hash = digest(name);
    let meta_dir = config_dir.join("contexts").join("meta");
    let path = meta_dir.join(&hash).join("meta.json");
    let bad = |reason: String| ContextError::Bad { path: path.display().to_string(), reason };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContextError::Missing { dir: meta_dir.display().to_string() });
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    let mut text = String::new();
    file.take(MAX_META_BYTES + 1).read_to_string(&mut text).map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_META_BYTES {
        return Err(bad(format!("larger than {MAX_META_BYTES} bytes")));
    }
    let meta: Meta = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let docker = meta.endpoints.docker.ok_or_else(|| bad("it has no Endpoints.docker".into()))?;
    if docker.host.is_empty() {
        return Err(bad("its Endpoints.docker.Host is empty".into()));
    }
    let tls_dir = config_dir.join("contexts").join("tls").join(&hash).join("docker");
    Ok(ContextEndpoint {
        host: docker.host,
        skip_tls_verify: docker.skip_tls_verify,
        tls_dir: tls_dir.is_dir().then_some(tls_dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a context as `docker context create` does.
    fn write_context(config_dir: &Path, name: &str, host: &str) -> PathBuf {
        let dir = config_dir.join("contexts/meta").join(digest(name));
        std::fs::create_dir_all(&dir).unwrap();
        let meta = serde_json::json!({
            "Name": name, "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
        });
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
        config_dir.join("contexts/tls").join(digest(name)).join("docker")
    }

    #[test]
    fn the_folder_is_the_sha256_of_the_name() {
        // `docker context create colima` writes to this folder.
        assert_eq!(digest("default"), "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f");
    }

    #[test]
    fn a_context_gives_its_host_and_tls_folder() {
        let dir = tempfile::tempdir().unwrap();
        let tls = write_context(dir.path(), "remote", "tcp://10.0.0.1:2376");
        let c = resolve(dir.path(), "remote").unwrap();
        assert_eq!(c.host, "tcp://10.0.0.1:2376");
        assert_eq!(c.tls_dir, None);
        std::fs::create_dir_all(&tls).unwrap();
        assert_eq!(resolve(dir.path(), "remote").unwrap().tls_dir, Some(tls));
        assert!(matches!(resolve(dir.path(), "other"), Err(ContextError::Missing { .. })));
        let meta = dir.path().join("contexts/meta").join(digest("remote")).join("meta.json");
        std::fs::write(&meta, r#"{"Endpoints":{}}"#).unwrap();
        let e = resolve(dir.path(), "remote").unwrap_err().to_string();
        assert!(e.contains("no Endpoints.docker"), "{e}");
    }
}
