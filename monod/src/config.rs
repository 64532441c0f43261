//! `mono.yml`: a workspace's optional settings.
//!
//! ```yaml
//! env:
//!   API_URL: "http://localhost:${MONO_ENV_ID}00"
//! scripts:
//!   init: npm install        # before services start
//!   setup: npm run migrate   # after services are ready
//!   run: npm run dev         # `mono run`
//!   destroy: npm run dump    # first step of `mono destroy`
//! compose:                   # docker mode (a compose file in the workspace)
//!   files: [compose.yaml, compose.dev.yaml]  # merged in order (or file: one)
//!   profiles: [debug]        # besides the default profile
//!   host_ip: 127.0.0.1       # where published ports bind
//!   destroy_grace: 1s        # destroy: stop signal, then kill after this long
//! logs:                      # the session's rolling log
//!   max_size: 10MiB          # per file
//!   keep: 3                  # rotated files kept besides the current one
//! activity:
//!   idle_after: 5s           # quiet time before the env counts as idle
//! run:
//!   stop_grace: 5s           # interrupt, then kill after this long
//! cache:                     # directories kept once per content of key files
//!   - {key: [package-lock.json], paths: [node_modules]}
//! seed:                      # data kept once per content of key files
//!   key: [db/migrations, db/seeds.sql]  # files or directories
//!   volumes: [pgdata]        # named volumes of the compose file
//!   paths: [var/data]        # workspace directories
//!   version: "1"             # part of the key
//! ```
//!
//! Unknown keys are errors, not ignored: a typo such as `scirpts` would
//! otherwise silently disable a script. Every error names the file, line and
//! column. The file's size and nesting are bounded ([`mono_compose::input`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use mono_compose::input;

/// File names mono reads its settings from, in order of preference.
pub const CONFIG_FILES: [&str; 2] = ["mono.yml", "mono.yaml"];

/// Variables mono sets itself; `env:` may not override them.
const RESERVED: [&str; 8] = [
    "MONO_ENV_NAME",
    "MONO_ENV_ID",
    "MONO_ENV_PATH",
    "MONO_DATA_DIR",
    "MONO_CACHE",
    "MONO_SEED",
    "MONO_PORT",
    "MONO_URL",
];

/// Why `mono.yml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Malformed YAML, an unknown key or a wrong type.
    #[error("{path}:{line}:{column}: {message}; fix the file and try again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, with the key path where known.
        message: String,
    },
    /// The file is larger than mono reads.
    #[error("{} is too large: {reason}; make it smaller", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size and the limit.
        reason: mono_compose::input::ReadError,
    },
    /// Both `mono.yml` and `mono.yaml` exist.
    #[error("{dir} has both mono.yml and mono.yaml; keep one")]
    Ambiguous {
        /// The workspace.
        dir: PathBuf,
    },
}

/// The four scripts of an environment's life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scripts {
    /// Runs before services start.
    #[serde(default, deserialize_with = "script")]
    pub init: Option<String>,
    /// Runs once services are ready.
    #[serde(default, deserialize_with = "script")]
    pub setup: Option<String>,
    /// Sent to the tmux session by `mono run`.
    #[serde(default, deserialize_with = "script")]
    pub run: Option<String>,
    /// Runs first in `mono destroy`.
    #[serde(default, deserialize_with = "script")]
    pub destroy: Option<String>,
}

/// How docker mode runs the workspace's compose file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeSettings {
    /// The compose file, relative to the workspace; default: the first of
    /// `compose.yaml`, `compose.yml`, `docker-compose.yml`,
    /// `docker-compose.yaml`.
    #[serde(default)]
    pub file: Option<String>,
    /// Several compose files, relative to the workspace, merged in order
    /// (compose's `-f a -f b`); not with `file`.
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// Profiles to enable besides the default one.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Host address published ports bind to.
    #[serde(default = "default_host_ip")]
    pub host_ip: String,
    /// The Docker context this workspace's environments use, whatever the
    /// caller's `DOCKER_HOST`/`DOCKER_CONTEXT` (as `docker --context`).
    #[serde(default)]
    pub context: Option<String>,
    /// How long destroy waits for a container to stop after its stop signal
    /// before killing it (a service's own `stop_grace_period` wins).
    #[serde(default = "default_destroy_grace", deserialize_with = "crate::units::duration")]
    pub destroy_grace: Duration,
}

fn default_destroy_grace() -> Duration {
    Duration::from_secs(1)
}

fn default_host_ip() -> String {
    "127.0.0.1".to_string()
}

impl Default for ComposeSettings {
    fn default() -> Self {
        ComposeSettings {
            file: None,
            files: None,
            profiles: Vec::new(),
            host_ip: default_host_ip(),
            context: None,
            destroy_grace: default_destroy_grace(),
        }
    }
}

/// Limits of the environment's rolling log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A file is rotated once it reaches this size.
    #[serde(default = "default_log_size", deserialize_with = "crate::units::size")]
    pub max_size: u64,
    /// Rotated files kept besides the current one.
    #[serde(default = "default_log_keep")]
    pub keep: u32,
}

fn default_log_size() -> u64 {
    10 * 1024 * 1024
}

fn default_log_keep() -> u32 {
    3
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { max_size: default_log_size(), keep: default_log_keep() }
    }
}

/// When the environment counts as idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySettings {
    /// Quiet time after the last output before the environment is idle.
    #[serde(default = "default_idle_after", deserialize_with = "crate::units::duration")]
    pub idle_after: Duration,
}

fn default_idle_after() -> Duration {
    Duration::from_secs(5)
}

impl Default for ActivitySettings {
    fn default() -> Self {
        ActivitySettings { idle_after: default_idle_after() }
    }
}

/// How `mono run` stops the run script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Time between the interrupt and the kill.
    #[serde(default = "default_stop_grace", deserialize_with = "crate::units::duration")]
    pub stop_grace: Duration,
}

fn default_stop_grace() -> Duration {
    Duration::from_secs(5)
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings { stop_grace: default_stop_grace() }
    }
}

/// One `cache:` entry: directories kept once per content of some files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRule {
    /// Files (relative to the workspace) whose content keys the entry,
    /// e.g. `package-lock.json`.
    #[serde(deserialize_with = "relative_paths")]
    pub key: Vec<String>,
    /// Directories (relative to the workspace) restored and saved, e.g.
    /// `node_modules`.
    #[serde(deserialize_with = "relative_paths")]
    pub paths: Vec<String>,
    /// Part of the key too: change it to start over.
    #[serde(default)]
    pub version: Option<String>,
}

/// `seed:`: data made once per content of some files (migrations, seeds)
/// and restored into every new workspace instead of made again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSettings {
    /// Files or directories (relative to the workspace) whose content keys
    /// the snapshot, e.g. `db/migrations`.
    #[serde(deserialize_with = "relative_paths")]
    pub key: Vec<String>,
    /// Named volumes of the compose file (their keys there), captured and
    /// restored through the Engine.
    #[serde(default, deserialize_with = "volume_names")]
    pub volumes: Vec<String>,
    /// Workspace directories captured and restored as the cache's paths are.
    #[serde(default, deserialize_with = "maybe_relative_paths")]
    pub paths: Vec<String>,
    /// Part of the key too: change it to seed again.
    #[serde(default)]
    pub version: Option<String>,
}

/// A non-empty list of relative paths inside the workspace.
fn relative_paths<'de, D: de::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list: Vec<String> = Vec::deserialize(d)?;
    if list.is_empty() {
        return Err(de::Error::custom("needs at least one path"));
    }
    check_relative(&list)?;
    Ok(list)
}

/// A list, possibly empty, of relative paths inside the workspace.
fn maybe_relative_paths<'de, D: de::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list: Vec<String> = Vec::deserialize(d)?;
    check_relative(&list)?;
    Ok(list)
}

/// Volume keys as compose allows them (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), each once.
fn volume_names<'de, D: de::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list: Vec<String> = Vec::deserialize(d)?;
    for (i, v) in list.iter().enumerate() {
        let mut chars = v.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Err(de::Error::custom(format!("{v:?} is not a volume name of a compose file")));
        }
        if list[..i].contains(v) {
            return Err(de::Error::custom(format!("{v:?} is listed twice")));
        }
    }
    Ok(list)
}

fn check_relative<E: de::Error>(list: &[String]) -> Result<(), E> {
    for p in list {
        let path = Path::new(p);
        let inside = !p.is_empty()
            && path.is_relative()
            && path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(de::Error::custom(format!(
                "{p:?} is not a path inside the workspace (relative, without `.` or `..`)"
            )));
        }
    }
    Ok(())
}

/// A workspace's settings; the default when there is no `mono.yml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonoConfig {
    /// The file the settings came from, if any.
    pub file: Option<PathBuf>,
    /// `env:` in file order, values not yet interpolated.
    pub env: Vec<(String, String)>,
    /// `scripts:`.
    pub scripts: Scripts,
    /// `compose:`.
    pub compose: ComposeSettings,
    /// `logs:`.
    pub logs: LogSettings,
    /// `activity:`.
    pub activity: ActivitySettings,
    /// `run:`.
    pub run: RunSettings,
    /// `cache:`.
    pub cache: Vec<CacheRule>,
    /// `seed:`.
    pub seed: Option<SeedSettings>,
    /// `router:`.
    pub router: RouterConfig,
}

/// `router:`: how the environment's named URLs lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Docker mode: the service `http://<env>.localhost:19000/` reaches
    /// (by default the only service with a published port).
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    env: OrderedEnv,
    #[serde(default)]
    scripts: Scripts,
    #[serde(default)]
    compose: ComposeSettings,
    #[serde(default)]
    logs: LogSettings,
    #[serde(default)]
    activity: ActivitySettings,
    #[serde(default)]
    run: RunSettings,
    #[serde(default)]
    cache: Vec<CacheRule>,
    #[serde(default)]
    seed: Option<SeedSettings>,
    #[serde(default)]
    router: RouterConfig,
}

impl MonoConfig {
    /// The settings file's path for messages (`mono.yml` when there is
    /// none: where one would go).
    pub fn file_for_messages(&self) -> String {
        self.file.as_ref().map_or_else(|| "mono.yml".to_string(), |f| f.display().to_string())
    }

    /// A setting that cannot work with this workspace (found after parsing,
    /// against the compose file or the Engine): an error naming the file.
    pub fn invalid(&self, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.clone().unwrap_or_else(|| "mono.yml".into()),
            line: 1,
            column: 1,
            message,
        }
    }

    /// Reads the settings of the workspace at `dir`.
    pub fn load(dir: &Path) -> Result<MonoConfig, ConfigError> {
        let found: Vec<PathBuf> = CONFIG_FILES.iter().map(|f| dir.join(f)).filter(|p| p.is_file()).collect();
        match found.as_slice() {
            [] => Ok(MonoConfig::default()),
            [path] => {
                let text = input::read_text(path, input::MAX_FILE_BYTES).map_err(|e| match e {
                    input::ReadError::Io(source) => ConfigError::Read { path: path.clone(), source },
                    reason => ConfigError::TooLarge { path: path.clone(), reason },
                })?;
                Self::parse(path, &text)
            }
            _ => Err(ConfigError::Ambiguous { dir: dir.to_path_buf() }),
        }
    }

    /// [`MonoConfig::load`] on a blocking thread: parsing is CPU work (up to
    /// the size limit), which must not hold up the daemon's async threads.
    pub async fn load_blocking(dir: &Path) -> Result<MonoConfig, ConfigError> {
        let owned = dir.to_path_buf();
        tokio::task::spawn_blocking(move || MonoConfig::load(&owned)).await.unwrap_or_else(|e| {
            Err(ConfigError::Read { path: dir.to_path_buf(), source: std::io::Error::other(e.to_string()) })
        })
    }

    /// Parses settings text; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<MonoConfig, ConfigError> {
        if let Some((line, column)) = input::too_deep(text, input::MAX_FLOW_DEPTH) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: format!(
                    "[...] or {{...}} nested more than {} deep; mono refuses such YAML before parsing it",
                    input::MAX_FLOW_DEPTH
                ),
            });
        }
        // An empty file (or one with only comments) is an empty config.
        let raw: Option<RawConfig> = serde_yaml::from_str(text).map_err(|e| invalid(path, &e))?;
        let raw = raw.unwrap_or_default();
        if let Some((key, _)) = raw.env.0.iter().find(|(k, _)| RESERVED.contains(&k.as_str())) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("env.{key} is set by mono and cannot be overridden"),
            });
        }
        if raw.compose.file.is_some() && raw.compose.files.is_some() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message:
                    "compose.file and compose.files are both set; keep one (files: [a.yaml, b.yaml] merges \
                          several in order)"
                        .to_string(),
            });
        }
        if raw.compose.files.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: "compose.files is empty; list at least one compose file, or remove it".to_string(),
            });
        }
        if raw.compose.host_ip.parse::<std::net::IpAddr>().is_err() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("compose.host_ip: {:?} is not an IP address", raw.compose.host_ip),
            });
        }
        if let Some(seed) = &raw.seed {
            check_seed(path, seed, &raw.cache)?;
        }
        Ok(MonoConfig {
            file: Some(path.to_path_buf()),
            env: raw.env.0,
            scripts: raw.scripts,
            compose: raw.compose,
            logs: raw.logs,
            activity: raw.activity,
            run: raw.run,
            cache: raw.cache,
            seed: raw.seed,
            router: raw.router,
        })
    }
}

/// A seed captures something, and nothing a cache rule or another seed
/// path holds too (restoring one over the other would fail).
fn check_seed(path: &Path, seed: &SeedSettings, cache: &[CacheRule]) -> Result<(), ConfigError> {
    let invalid =
        |message: String| ConfigError::Invalid { path: path.to_path_buf(), line: 1, column: 1, message };
    if seed.volumes.is_empty() && seed.paths.is_empty() {
        return Err(invalid(
            "seed: lists neither volumes nor paths; say what the seed makes (volumes: [pgdata], paths: [var/data])"
                .into(),
        ));
    }
    let nested = |a: &str, b: &str| Path::new(a).starts_with(b) || Path::new(b).starts_with(a);
    for (i, p) in seed.paths.iter().enumerate() {
        if let Some(q) = seed.paths[..i].iter().find(|q| nested(p, q)) {
            return Err(invalid(format!("seed.paths: {q:?} and {p:?} overlap; list each directory once")));
        }
        if let Some(q) = cache.iter().flat_map(|r| &r.paths).find(|q| nested(p, q)) {
            return Err(invalid(format!(
                "seed.paths: {p:?} overlaps the cache's path {q:?}; a directory is either cached or seeded"
            )));
        }
    }
    Ok(())
}

fn invalid(path: &Path, e: &serde_yaml::Error) -> ConfigError {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    ConfigError::Invalid { path: path.to_path_buf(), line, column, message }
}

fn script<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()))
}

/// `env:` as an ordered list, so later entries may use earlier ones.
#[derive(Default)]
struct OrderedEnv(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedEnv {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvVisitor;
        impl<'de> Visitor<'de> for EnvVisitor {
            type Value = OrderedEnv;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of variable names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<OrderedEnv, E> {
                Ok(OrderedEnv::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedEnv, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !is_var_name(&key) {
                        return Err(de::Error::custom(format!(
                            "env: {key:?} is not a valid variable name (letters, digits and _, not starting with a digit)"
                        )));
                    }
                    let Scalar(value) = map.next_value()?;
                    out.push((key, value));
                }
                Ok(OrderedEnv(out))
            }
        }
        d.deserialize_any(EnvVisitor)
    }
}

/// A string, number or boolean, as text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MonoConfig, ConfigError> {
        MonoConfig::parse(Path::new("/w/mono.yml"), text)
    }

    #[test]
    fn full_file() {
        let c = parse(
            "env:\n  B: \"${A}x\"\n  A: 3\n  FLAG: true\nscripts:\n  init: npm ci\n  run: \"npm run dev\"\n  setup: ''\n",
        )
        .unwrap();
        assert_eq!(
            c.env,
            vec![("B".into(), "${A}x".into()), ("A".into(), "3".into()), ("FLAG".into(), "true".into())]
        );
        assert_eq!(c.scripts.init.as_deref(), Some("npm ci"));
        assert_eq!(c.scripts.setup, None);
        assert_eq!(c.scripts.destroy, None);
    }

    #[test]
    fn limits_with_units() {
        let c = parse(
            "logs:\n  max_size: 1MiB\n  keep: 0\nactivity:\n  idle_after: 250ms\nrun:\n  stop_grace: 2s\n",
        )
        .unwrap();
        assert_eq!(c.logs, LogSettings { max_size: 1 << 20, keep: 0 });
        assert_eq!(c.activity.idle_after, Duration::from_millis(250));
        assert_eq!(c.run.stop_grace, Duration::from_secs(2));
        let e = parse("logs:\n  max_size: lots\n").unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:2:13: logs.max_size: \"lots\" is not a size"), "{e}");
        assert_eq!(parse("").unwrap().logs, LogSettings::default());
    }

    #[test]
    fn compose_files_are_listed_and_exclusive_with_file() {
        let c = parse("compose:\n  files: [a.yaml, deploy/b.yaml]\n").unwrap();
        assert_eq!(c.compose.files, Some(vec!["a.yaml".to_string(), "deploy/b.yaml".to_string()]));
        let e = parse("compose:\n  file: a.yaml\n  files: [b.yaml]\n").unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:1:1: compose.file and compose.files are both set"), "{e}");
        let e = parse("compose:\n  files: []\n").unwrap_err().to_string();
        assert!(e.contains("compose.files is empty"), "{e}");
    }

    #[test]
    fn destroy_grace_is_a_duration_of_one_second_by_default() {
        assert_eq!(parse("").unwrap().compose.destroy_grace, Duration::from_secs(1));
        let c = parse("compose:\n  destroy_grace: 500ms\n").unwrap();
        assert_eq!(c.compose.destroy_grace, Duration::from_millis(500));
        let e = parse("compose:\n  destroy_grace: soon\n").unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:2:18: compose.destroy_grace:"), "{e}");
    }

    #[test]
    fn empty_file_is_default() {
        let c = parse("# nothing\n").unwrap();
        assert!(c.env.is_empty() && c.scripts == Scripts::default());
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = parse("env: {}\nscirpts:\n  run: x\n").unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:2:1: unknown field `scirpts`"), "{e}");
        let e = parse("scripts:\n  runn: x\n").unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:2:3: scripts: unknown field `runn`"), "{e}");
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        // 100,000 nested `[` took the parser 37 s to reject.
        let deep = format!("env:\n  A: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        let e = parse(&deep).unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:2:70: [...] or {...} nested more than 64 deep"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // Nesting as real files do is fine.
        assert!(parse("cache:\n  - {key: [a, b], paths: [c]}\n").is_ok());
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.yml");
        std::fs::write(&path, "#".repeat(mono_compose::input::MAX_FILE_BYTES as usize + 1)).unwrap();
        let e = MonoConfig::load(dir.path()).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().starts_with(&format!("{} is too large: 4.0 MiB", path.display())), "{e}");
    }

    #[test]
    fn syntax_error_names_position() {
        let e = parse("env:\n  A: [unclosed\n").unwrap_err().to_string();
        assert!(e.starts_with("/w/mono.yml:"), "{e}");
        assert!(matches!(parse("env: [1, 2]\n"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(parse("env:\n  A:\n    nested: 1\n"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(parse("env:\n  BAD-NAME: 1\n"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(parse("env:\n  MONO_ENV_ID: 1\n"), Err(ConfigError::Invalid { .. })));
    }
}
