//! `configs:`: files given to services, read as Docker Compose v2 reads
//! them.
//!
//! Compose (2.40, `pkg/compose/create.go` and `secrets.go`) bind-mounts a
//! `file:` config read-only at its target, ignoring `uid`, `gid` and `mode`
//! with a warning; it writes a `content:` or `environment:` config into the
//! container before starting it, as a file of mode `mode` (default 0444)
//! owned by `uid`:`gid` (default root). The target is `/<source>` by
//! default, and a relative target is taken from `/`. An `external` config
//! is a swarm object, and so is refused; `driver` and `template_driver` are
//! refused as compose refuses them.

use serde_yaml::Value;

use super::keypath::{At, Problem};
use super::value::{entries, is_extension, mapping, opt_string, sequence, string, unknown_key};

/// A top-level config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The key.
    pub key: String,
    /// Where its content comes from.
    pub source: ConfigSource,
}

/// Where a config's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `file:`, as written: bind-mounted read-only.
    File(String),
    /// `content:` (interpolated): written into the container.
    Content(String),
    /// `environment:`, the variable's name: its value is written into the
    /// container.
    Environment(String),
    /// `external: true`: a swarm object, refused when a service uses it.
    External,
}

/// One `configs` entry of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRef {
    /// Position in the list, for messages.
    pub index: usize,
    /// The top-level config.
    pub source: String,
    /// `target`, as written.
    pub target: Option<String>,
    /// `uid`.
    pub uid: Option<u32>,
    /// `gid`.
    pub gid: Option<u32>,
    /// `mode` (a string is octal, a number as written, as in compose).
    pub mode: Option<u32>,
}

impl ConfigRef {
    /// The path in the container: `target` when absolute, else under `/`.
    pub fn target_path(&self) -> String {
        match self.target.as_deref() {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("/{t}"),
            None => format!("/{}", self.source),
        }
    }
}

const CONFIG_KEYS: [&str; 8] =
    ["file", "content", "environment", "external", "name", "labels", "driver", "template_driver"];

/// A top-level config definition.
pub(crate) fn config(key: &str, v: &Value, at: At<'_>) -> Result<Config, Problem> {
    let mut source = None;
    for (field, value) in entries(mapping(v, at)?, at)? {
        let here = at.key(&field);
        match field.as_str() {
            "file" => source = Some(ConfigSource::File(string(value, here)?)),
            "content" => source = Some(ConfigSource::Content(string(value, here)?)),
            "environment" => source = Some(ConfigSource::Environment(string(value, here)?)),
            "external" => {
                let external = match value {
                    Value::Mapping(_) => true,
                    other => super::value::boolean(other, here)?,
                };
                if external {
                    source = Some(ConfigSource::External);
                }
            }
            // The engine object's name and labels exist only in swarm; a
            // bind or a copied file has neither.
            "name" | "labels" => {}
            "driver" | "template_driver" => {
                return Err(here.problem(format!(
                    "Docker Compose does not support configs.*.{field} (it is for swarm); remove it"
                )));
            }
            k if is_extension(k) => {}
            k => return Err(unknown_key(at, k, &CONFIG_KEYS)),
        }
    }
    let source = source.ok_or_else(|| {
        at.problem(format!(
            "config {key} has no source; add `file: PATH`, `content: TEXT` or `environment: VAR`"
        ))
    })?;
    Ok(Config { key: key.to_string(), source })
}

/// A service's `configs:` list.
pub(crate) fn config_refs(v: &Value, at: At<'_>) -> Result<Vec<ConfigRef>, Problem> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (index, item) in sequence(v, at)?.iter().enumerate() {
        let here = at.index(index);
        let mut config =
            ConfigRef { index, source: String::new(), target: None, uid: None, gid: None, mode: None };
        match item {
            Value::Mapping(m) => {
                for (key, value) in entries(m, here)? {
                    let field = here.key(&key);
                    match key.as_str() {
                        "source" => config.source = string(value, field)?,
                        "target" => config.target = opt_string(value, field)?.filter(|t| !t.is_empty()),
                        "uid" => config.uid = id(value, field)?,
                        "gid" => config.gid = id(value, field)?,
                        "mode" => config.mode = mode(value, field)?,
                        k if is_extension(k) => {}
                        k => return Err(unknown_key(here, k, &["source", "target", "uid", "gid", "mode"])),
                    }
                }
                if config.source.is_empty() {
                    return Err(here.problem("the config has no `source`; add source: NAME"));
                }
            }
            other => config.source = string(other, here)?,
        }
        out.push(config);
    }
    Ok(out)
}

fn id(v: &Value, at: At<'_>) -> Result<Option<u32>, Problem> {
    match opt_string(v, at)? {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).map_err(|_| {
            at.problem(format!("{text:?} is not a numeric user or group id; write e.g. \"1000\""))
        }),
    }
}

/// compose's file mode: a string is octal (`"0440"`, and YAML's `0440`,
/// which arrives as a string), a number is taken as it is (`292`).
fn mode(v: &Value, at: At<'_>) -> Result<Option<u32>, Problem> {
    let bad = || at.problem("expected a file mode such as \"0440\"");
    let mode = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(bad)?,
        other => u32::from_str_radix(string(other, at)?.trim(), 8).map_err(|_| bad())?,
    };
    if mode > 0o7777 {
        return Err(bad());
    }
    Ok(Some(mode))
}
