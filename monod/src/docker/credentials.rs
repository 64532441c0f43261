//! Registry logins for pulls, as `docker login` left them in the caller's
//! `$DOCKER_CONFIG/config.json`: a credential helper for the registry
//! (`credHelpers`), else the store for all (`credsStore`), both run as
//! `docker-credential-<name> get` with the registry on stdin, else the
//! file's own `auths` entry.
//!
//! Written here rather than taken from the `docker_credential` crate: that
//! crate reads `DOCKER_CONFIG` from the process's environment and runs
//! helpers synchronously, while monod is a resident daemon serving callers
//! with their own `DOCKER_CONFIG` and `PATH`, on async threads.
//! Credentials go to the Engine in the request's auth header only; they
//! are never logged, put on a command line, or stored by mono.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cli_config::{AuthEntry, CliConfig, ConfigError, DockerVars};

/// The registry of references without one, and its key in `config.json`.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take (one may show a keychain prompt).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest helper answer read.
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;

/// Why credentials could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `config.json` is unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// The registry asked for.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// An `auths` entry is malformed.
    #[error(
        "the login for {registry} in {file} is malformed ({reason}); run `docker login {registry}` again"
    )]
    Entry {
        /// The registry.
        registry: String,
        /// The config file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where one caller's logins are: the configuration folder and the `PATH`
/// its credential helpers are found on.
#[derive(Debug, Clone, Default)]
pub struct Logins {
    config_dir: Option<PathBuf>,
    path: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl Logins {
    /// The logins the variables `vars` point at.
    pub fn of(vars: &DockerVars) -> Logins {
        Logins { config_dir: vars.config_dir(), path: vars.get("PATH").map(str::to_string) }
    }

    /// The credentials for the registry of `image`, if the user logged in to it.
    pub async fn for_image(&self, image: &str) -> Result<Option<DockerCredentials>, CredentialsError> {
        let Some(dir) = &self.config_dir else { return Ok(None) };
        let registry = registry_of(image);
        let config = {
            let owned = dir.clone();
            tokio::task::spawn_blocking(move || CliConfig::load(&owned)).await.unwrap_or_else(|e| {
                Err(ConfigError { path: dir.display().to_string(), reason: e.to_string() })
            })?
        };
        let key = if registry == DOCKER_HUB { DOCKER_HUB_KEY } else { registry };
        let helper =
            config.cred_helpers.get(registry).or(config.creds_store.as_ref()).filter(|h| !h.is_empty());
        if let Some(helper) = helper
            && let Some(found) = self.ask_helper(helper, registry, key).await?
        {
            return Ok(Some(found));
        }
        let entry = config.auths.iter().find(|(k, _)| normalise(k) == normalise(key)).map(|(_, e)| e);
        match entry {
            Some(entry) => from_entry(entry, key).map_err(|reason| CredentialsError::Entry {
                registry: registry.to_string(),
                file: dir.join("config.json").display().to_string(),
                reason,
            }),
            None => Ok(None),
        }
    }

    /// Runs `docker-credential-<helper> get`; `None` when it has no login
    /// for the registry.
    async fn ask_helper(
        &self,
        helper: &str,
        registry: &str,
        key: &str,
    ) -> Result<Option<DockerCredentials>, CredentialsError> {
        let fail = |reason: String| CredentialsError::Helper {
            helper: helper.to_string(),
            registry: registry.to_string(),
            reason,
        };
        if !helper.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(fail("not a helper name".into()));
        }
        let program = format!("docker-credential-{helper}");
        let Some(exe) = find_on_path(&program, self.path.as_deref()) else {
            return Err(fail(format!(
                "{program} is not on the caller's PATH; install it, or fix config.json"
            )));
        };
        let mut child = tokio::process::Command::new(&exe)
            .arg("get")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", exe.display())))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let talk = async {
            // A helper that exits without reading its input is fine.
            let _ = stdin.write_all(key.as_bytes()).await;
            drop(stdin);
            let mut out = Vec::new();
            (&mut stdout).take(MAX_HELPER_OUTPUT).read_to_end(&mut out).await?;
            Ok::<_, std::io::Error>((child.wait().await?, out))
        };
        let (status, out) = tokio::time::timeout(HELPER_TIMEOUT, talk)
            .await
            .map_err(|_| fail(format!("no answer within {}s", HELPER_TIMEOUT.as_secs())))?
            .map_err(|e| fail(e.to_string()))?;
        if !status.success() {
            // The protocol's "credentials not found": no login, not a failure.
            return Ok(None);
        }
        let answer: HelperAnswer =
            serde_json::from_slice(&out).map_err(|e| fail(format!("unreadable answer ({e})")))?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        let mut creds = DockerCredentials { serveraddress: Some(key.to_string()), ..Default::default() };
        if answer.username == "<token>" {
            creds.identitytoken = Some(answer.secret);
        } else {
            creds.username = Some(answer.username);
            creds.password = Some(answer.secret);
        }
        Ok(Some(creds))
    }
}

/// The registry host of an image reference, as the docker CLI finds it:
/// the first path component when it has a `.` or a `:` or is `localhost`,
/// else Docker Hub.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => DOCKER_HUB,
    }
}

/// What `docker login` takes for the registry.
pub fn login_command(registry: &str) -> String {
    if registry == DOCKER_HUB { "docker login".to_string() } else { format!("docker login {registry}") }
}

/// `https://r.io/v1/` and `r.io` are the same `auths` key.
fn normalise(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn from_entry(entry: &AuthEntry, key: &str) -> Result<Option<DockerCredentials>, String> {
    let mut creds = DockerCredentials { serveraddress: Some(key.to_string()), ..Default::default() };
    if let Some(token) = entry.identity_token.as_ref().filter(|t| !t.is_empty()) {
        creds.identitytoken = Some(token.clone());
        return Ok(Some(creds));
    }
    let (user, password) = match entry.auth.as_ref().filter(|a| !a.is_empty()) {
        Some(auth) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| "its auth is not base64".to_string())?;
            let text = String::from_utf8(bytes).map_err(|_| "its auth is not UTF-8".to_string())?;
            let (u, p) = text.split_once(':').ok_or("its auth is not user:password")?;
            (u.to_string(), p.to_string())
        }
        None => match (&entry.username, &entry.password) {
            (Some(u), Some(p)) => (u.clone(), p.clone()),
            _ => return Ok(None),
        },
    };
    creds.username = Some(user);
    creds.password = Some(password);
    Ok(Some(creds))
}

/// The executable `program` in the directories of `path`.
fn find_on_path(program: &str, path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.map(str::to_string).or_else(|| std::env::var("PATH").ok())?;
    let executable =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_found_as_the_cli_finds_them() {
        assert_eq!(registry_of("nginx"), DOCKER_HUB);
        assert_eq!(registry_of("library/nginx:1"), DOCKER_HUB);
        assert_eq!(registry_of("127.0.0.1:5000/app:v2"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io/o/app"), "ghcr.io");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(login_command(DOCKER_HUB), "docker login");
        assert_eq!(normalise("https://index.docker.io/v1/"), "index.docker.io");
    }

    fn logins(dir: &Path, path: Option<&str>) -> Logins {
        Logins { config_dir: Some(dir.to_path_buf()), path: path.map(str::to_string) }
    }

    #[tokio::test]
    async fn auths_entries_and_helpers_give_credentials() {
        let dir = tempfile::tempdir().unwrap();
        // "u:p w" in base64.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://r.test:5000":{"auth":"dTpwIHc="}}}"#,
        )
        .unwrap();
        let l = logins(dir.path(), None);
        let c = l.for_image("r.test:5000/app").await.unwrap().unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (Some("u"), Some("p w")));
        assert!(l.for_image("other.test/app").await.unwrap().is_none());

        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let helper = bin.join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread r\n[ \"$r\" = h.test ] || exit 1\necho '{\"Username\":\"<token>\",\"Secret\":\"tok\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"credHelpers":{"h.test":"fake"}}"#).unwrap();
        let l = logins(dir.path(), bin.to_str());
        let c = l.for_image("h.test/app").await.unwrap().unwrap();
        assert_eq!(c.identitytoken.as_deref(), Some("tok"));
        std::fs::write(dir.path().join("config.json"), r#"{"credsStore":"fake"}"#).unwrap();
        // The helper knows no login for this one: none, not an error.
        assert!(l.for_image("x.test/app").await.unwrap().is_none());
        std::fs::write(dir.path().join("config.json"), r#"{"credsStore":"missing"}"#).unwrap();
        let e = l.for_image("x.test/app").await.unwrap_err().to_string();
        assert!(e.contains("docker-credential-missing is not on the caller's PATH"), "{e}");
    }
}
