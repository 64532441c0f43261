//! The docker CLI's settings as the caller has them: the variables that
//! decide where the Engine is and whose registry logins count
//! (`DOCKER_HOST`, `DOCKER_CONTEXT`, `DOCKER_CONFIG`, ...), and the parts of
//! `$DOCKER_CONFIG/config.json` mono reads (`currentContext`, `auths`,
//! `credsStore`, `credHelpers`).
//!
//! monod is resident, so its own environment is usually not the user's
//! shell's: the variables come from the caller's environment when the
//! caller forwarded one (as `mono` does with every init and destroy), and
//! only otherwise from monod's own, never a mix of both, so what mono
//! reaches is what `docker` would reach in the caller's shell.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mono_proto::CallerEnv;
use serde::Deserialize;

/// Largest `config.json` read (a real one is a few KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The variables mono reads, as the docker CLI would see them.
const NAMES: [&str; 9] = mono_proto::DOCKER_VARIABLES;

/// The docker-related variables of one caller (or of monod).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerVars {
    vars: BTreeMap<String, String>,
    /// Whose they are, for messages: `the caller's environment` or `monod's environment`.
    pub whose: &'static str,
}

impl DockerVars {
    /// The caller's variables when it forwarded an environment, else monod's.
    pub fn of_caller(caller: &CallerEnv) -> DockerVars {
        if caller.is_empty() {
            return DockerVars::own();
        }
        DockerVars::from_pairs(
            caller.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            "the caller's environment",
        )
    }

    /// monod's own variables.
    pub fn own() -> DockerVars {
        let own: Vec<(String, String)> =
            NAMES.iter().filter_map(|n| Some((n.to_string(), std::env::var(n).ok()?))).collect();
        DockerVars::from_pairs(own.iter().map(|(k, v)| (k.as_str(), v.as_str())), "monod's environment")
    }

    /// From `(name, value)` pairs (for tests).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        whose: &'static str,
    ) -> DockerVars {
        let vars = pairs
            .into_iter()
            .filter(|(k, v)| NAMES.contains(k) && !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DockerVars { vars, whose }
    }

    /// A variable's non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The docker CLI's configuration folder: `DOCKER_CONFIG`, else
    /// `~/.docker`; `None` without either.
    pub fn config_dir(&self) -> Option<PathBuf> {
        match self.get("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => self.get("HOME").map(|h| Path::new(h).join(".docker")),
        }
    }
}

/// An error reading `config.json`.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the docker configuration {path}: {reason}; fix it (or point DOCKER_CONFIG elsewhere)")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// One `auths` entry: `auth` is base64 of `user:password`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthEntry {
    /// base64 `user:password`.
    #[serde(default)]
    pub auth: Option<String>,
    /// Given separately by some tools.
    #[serde(default)]
    pub username: Option<String>,
    /// Given separately by some tools.
    #[serde(default)]
    pub password: Option<String>,
    /// An OAuth refresh token (`docker login` to some registries).
    #[serde(default, rename = "identitytoken")]
    pub identity_token: Option<String>,
}

/// The parts of `config.json` mono reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CliConfig {
    /// The context `docker context use` chose.
    #[serde(default, rename = "currentContext")]
    pub current_context: Option<String>,
    /// Logins stored in the file, by registry.
    #[serde(default)]
    pub auths: HashMap<String, AuthEntry>,
    /// The credential helper for every registry (`desktop`, `osxkeychain`, ...).
    #[serde(default, rename = "credsStore")]
    pub creds_store: Option<String>,
    /// Credential helpers per registry.
    #[serde(default, rename = "credHelpers")]
    pub cred_helpers: HashMap<String, String>,
}

impl CliConfig {
    /// Reads `dir/config.json`; a missing file is an empty configuration,
    /// as for the docker CLI.
    pub fn load(dir: &Path) -> Result<CliConfig, ConfigError> {
        use std::io::Read;
        let path = dir.join("config.json");
        let err = |reason: String| ConfigError { path: path.display().to_string(), reason };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CliConfig::default()),
            Err(e) => return Err(err(e.to_string())),
        };
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text).map_err(|e| err(e.to_string()))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(err(format!("larger than {MAX_CONFIG_BYTES} bytes")));
        }
        if text.trim().is_empty() {
            return Ok(CliConfig::default());
        }
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_variables_win_whole_and_empty_values_do_not_count() {
        let caller: CallerEnv = [("DOCKER_HOST", ""), ("HOME", "/home/u"), ("OTHER", "x")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let vars = DockerVars::of_caller(&caller);
        assert_eq!(vars.get("DOCKER_HOST"), None);
        assert_eq!(vars.get("OTHER"), None);
        assert_eq!(vars.config_dir(), Some(PathBuf::from("/home/u/.docker")));
        let vars = DockerVars::from_pairs([("DOCKER_CONFIG", "/c"), ("HOME", "/h")], "test");
        assert_eq!(vars.config_dir(), Some(PathBuf::from("/c")));
    }

    #[test]
    fn config_json_is_read_missing_is_empty_and_bad_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(CliConfig::load(dir.path()).unwrap().current_context.is_none());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"colima","auths":{"r:5000":{"auth":"dTpw"}},"credHelpers":{"x.io":"ecr"}}"#,
        )
        .unwrap();
        let c = CliConfig::load(dir.path()).unwrap();
        assert_eq!(c.current_context.as_deref(), Some("colima"));
        assert_eq!(c.auths["r:5000"].auth.as_deref(), Some("dTpw"));
        assert_eq!(c.cred_helpers["x.io"], "ecr");
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        let e = CliConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("DOCKER_CONFIG"), "{e}");
    }
}
