//! Compose's merge of one YAML tree onto another: how an override file
//! (`-f base -f override`), an `extends` base and an included resource
//! combine, as compose-go's `override` package does it.
//!
//! Mappings merge key by key; lists are appended; scalars are replaced.
//! Some keys have their own rule: `command`, `entrypoint` and
//! `healthcheck.test` are replaced whole; `environment`, `labels`,
//! `sysctls`, `build.args`, `env_file`, `tmpfs`, `dns*` become lists and are
//! appended; `depends_on` and `networks` merge by name; `build: DIR` is
//! `build: {context: DIR}`. Then [`enforce_unicity`] keeps one entry per
//! identity in lists where entries have one (a port, a mount target, a
//! variable name), the later definition in the place of the first, which is
//! how an override replaces a base's `environment: [A=1]` or `./a:/data`.

use serde_yaml::{Mapping, Value};

use super::keypath::Problem;
use super::keypath::problem_at;
use super::syntax;
use super::value::{kind, scalar_text};

/// A key path as mapping keys (list items are never merged into).
type Path<'p> = &'p [&'p str];

/// Merges `over` onto `base` at `path` (`["services", "web"]` for a
/// service). Fails when the two have kinds that cannot merge (a list over a
/// mapping), naming the key.
pub(crate) fn merge(base: Value, over: Value, path: Path<'_>) -> Result<Value, Problem> {
    if let Some(rule) = special(path) {
        return rule.apply(base, over, path);
    }
    if over.is_null() {
        return Ok(base);
    }
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => Ok(Value::Mapping(merge_mappings(base, over, path)?)),
        (Value::Sequence(mut base), Value::Sequence(over)) => {
            base.extend(over);
            Ok(Value::Sequence(base))
        }
        (base @ (Value::Mapping(_) | Value::Sequence(_)), over) => Err(problem_at(
            path,
            format!(
                "cannot merge {} onto {}; write the same kind of value in both files",
                kind(&over),
                kind(&base)
            ),
        )),
        (_, over) => Ok(over),
    }
}

/// Merges the entries of `over` into `base`, key by key.
pub(crate) fn merge_mappings(mut base: Mapping, over: Mapping, path: Path<'_>) -> Result<Mapping, Problem> {
    for (key, value) in over {
        let Some(slot) = base.get_mut(&key) else {
            base.insert(key, value);
            continue;
        };
        let name = scalar_text(&key).unwrap_or_default();
        let mut next: Vec<&str> = path.to_vec();
        next.push(&name);
        let old = std::mem::take(slot);
        *slot = merge(old, value, &next)?;
    }
    Ok(base)
}

/// The keys with a rule of their own.
#[derive(Clone, Copy)]
enum Rule {
    /// The newer value replaces the older, even with nothing.
    Replace,
    /// Both become lists (`K=V` for mappings) and are appended.
    ToSequence,
    /// Like `ToSequence`, dropping entries already there.
    ExtraHosts,
    /// `build: DIR` is `build: {context: DIR}`; then merged as mappings.
    Build,
    /// Lists of names become mappings; `depends_on` entries get compose's
    /// defaults.
    ByName { depends_on: bool },
    /// `logging` options merge only for the same driver.
    Logging,
    /// Entries merged by subnet.
    IpamConfig,
}

fn matches(path: Path<'_>, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.len() && parts.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
}

fn special(path: Path<'_>) -> Option<Rule> {
    const RULES: [(&str, Rule); 27] = [
        ("networks.*.ipam.config", Rule::IpamConfig),
        ("networks.*.labels", Rule::ToSequence),
        ("volumes.*.labels", Rule::ToSequence),
        ("services.*.annotations", Rule::ToSequence),
        ("services.*.build", Rule::Build),
        ("services.*.build.args", Rule::ToSequence),
        ("services.*.build.additional_contexts", Rule::ToSequence),
        ("services.*.build.extra_hosts", Rule::ExtraHosts),
        ("services.*.build.labels", Rule::ToSequence),
        ("services.*.command", Rule::Replace),
        ("services.*.depends_on", Rule::ByName { depends_on: true }),
        ("services.*.deploy.labels", Rule::ToSequence),
        ("services.*.dns", Rule::ToSequence),
        ("services.*.dns_opt", Rule::ToSequence),
        ("services.*.dns_search", Rule::ToSequence),
        ("services.*.entrypoint", Rule::Replace),
        ("services.*.env_file", Rule::ToSequence),
        ("services.*.label_file", Rule::ToSequence),
        ("services.*.environment", Rule::ToSequence),
        ("services.*.extra_hosts", Rule::ExtraHosts),
        ("services.*.healthcheck.test", Rule::Replace),
        ("services.*.labels", Rule::ToSequence),
        ("services.*.logging", Rule::Logging),
        ("services.*.models", Rule::ByName { depends_on: false }),
        ("services.*.networks", Rule::ByName { depends_on: false }),
        ("services.*.sysctls", Rule::ToSequence),
        ("services.*.tmpfs", Rule::ToSequence),
    ];
    if path.len() == 4 && path[0] == "services" && path[2] == "ulimits" {
        return Some(Rule::Replace);
    }
    RULES.iter().find(|(pattern, _)| matches(path, pattern)).map(|(_, rule)| *rule)
}

impl Rule {
    fn apply(self, base: Value, over: Value, path: Path<'_>) -> Result<Value, Problem> {
        Ok(match self {
            Rule::Replace => over,
            Rule::ToSequence => {
                let mut items = to_sequence(base);
                items.extend(to_sequence(over));
                Value::Sequence(items)
            }
            Rule::ExtraHosts => {
                let mut items = to_sequence(base);
                for item in to_sequence(over) {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
                Value::Sequence(items)
            }
            Rule::Build => {
                let as_map = |v: Value| match v {
                    Value::String(context) => {
                        let mut m = Mapping::new();
                        m.insert("context".into(), Value::String(context));
                        m
                    }
                    Value::Mapping(m) => m,
                    _ => Mapping::new(),
                };
                Value::Mapping(merge_mappings(as_map(base), as_map(over), path)?)
            }
            Rule::ByName { depends_on } => {
                Value::Mapping(merge_mappings(by_name(base, depends_on), by_name(over, depends_on), path)?)
            }
            Rule::Logging => match (base, over) {
                (Value::Mapping(base), Value::Mapping(over)) => {
                    let same = match (base.get("driver"), over.get("driver")) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    };
                    if same {
                        let mut base = base;
                        for (k, v) in over {
                            base.insert(k, v);
                        }
                        Value::Mapping(base)
                    } else {
                        Value::Mapping(over)
                    }
                }
                (base, Value::Null) => base,
                (_, over) => over,
            },
            Rule::IpamConfig => match (base, over) {
                (Value::Sequence(mut configs), Value::Sequence(over)) => {
                    for config in over {
                        let subnet = config.get("subnet").cloned();
                        match configs.iter_mut().find(|c| c.get("subnet").cloned() == subnet) {
                            Some(Value::Mapping(existing)) => {
                                if let Value::Mapping(config) = config {
                                    for (k, v) in config {
                                        existing.insert(k, v);
                                    }
                                }
                            }
                            _ => configs.push(config),
                        }
                    }
                    Value::Sequence(configs)
                }
                (base, Value::Null) => base,
                (_, over) => over,
            },
        })
    }
}

/// A list as it is, a string as a list of one, a mapping as sorted `K=V`
/// items (`K` alone for a key with nothing).
fn to_sequence(v: Value) -> Vec<Value> {
    match v {
        Value::Sequence(items) => items,
        Value::String(s) => vec![Value::String(s)],
        Value::Mapping(m) => {
            let mut items: Vec<String> = Vec::with_capacity(m.len());
            for (k, v) in m {
                let key = scalar_text(&k).unwrap_or_default();
                match v {
                    Value::Null => items.push(key),
                    Value::Sequence(values) => items.extend(
                        values.iter().map(|v| format!("{key}={}", scalar_text(v).unwrap_or_default())),
                    ),
                    other => items.push(format!("{key}={}", scalar_text(&other).unwrap_or_default())),
                }
            }
            items.sort();
            items.into_iter().map(Value::String).collect()
        }
        _ => Vec::new(),
    }
}

/// A list of names as a mapping (each with compose's defaults for
/// `depends_on`), a mapping as it is.
fn by_name(v: Value, depends_on: bool) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        Value::Sequence(items) => items
            .into_iter()
            .filter_map(|item| {
                let name = scalar_text(&item)?;
                let value = if depends_on {
                    let mut m = Mapping::new();
                    m.insert("condition".into(), "service_started".into());
                    m.insert("required".into(), Value::Bool(true));
                    Value::Mapping(m)
                } else {
                    Value::Null
                };
                Some((Value::String(name), value))
            })
            .collect(),
        _ => Mapping::new(),
    }
}

/// How an entry of a list is identified: two entries with the same identity
/// are one, the later replacing the earlier in its place.
#[derive(Clone, Copy)]
enum Identity {
    /// `KEY=VALUE` or `KEY`: the key.
    KeyValue,
    /// A mount: its container path.
    Mount,
    /// `secrets`/`configs`: the target, by default under the given folder.
    Target(&'static str),
    /// `env_file`: the path.
    EnvFile,
    /// `expose`: as written.
    Written,
    /// `ports`: host address, host port, container port and protocol.
    Port,
}

fn identity_rule(path: Path<'_>) -> Option<Identity> {
    const LISTS: [(&str, Identity); 26] = [
        ("networks.*.labels", Identity::KeyValue),
        ("services.*.annotations", Identity::KeyValue),
        ("services.*.build.args", Identity::KeyValue),
        ("services.*.build.additional_contexts", Identity::KeyValue),
        ("services.*.build.platforms", Identity::KeyValue),
        ("services.*.build.tags", Identity::KeyValue),
        ("services.*.build.labels", Identity::KeyValue),
        ("services.*.cap_add", Identity::KeyValue),
        ("services.*.cap_drop", Identity::KeyValue),
        ("services.*.devices", Identity::Mount),
        ("services.*.configs", Identity::Target("")),
        ("services.*.deploy.labels", Identity::KeyValue),
        ("services.*.dns", Identity::KeyValue),
        ("services.*.dns_opt", Identity::KeyValue),
        ("services.*.dns_search", Identity::KeyValue),
        ("services.*.environment", Identity::KeyValue),
        ("services.*.env_file", Identity::EnvFile),
        ("services.*.expose", Identity::Written),
        ("services.*.labels", Identity::KeyValue),
        ("services.*.links", Identity::KeyValue),
        ("services.*.ports", Identity::Port),
        ("services.*.profiles", Identity::KeyValue),
        ("services.*.secrets", Identity::Target("/run/secrets")),
        ("services.*.sysctls", Identity::KeyValue),
        ("services.*.tmpfs", Identity::KeyValue),
        ("services.*.volumes", Identity::Mount),
    ];
    if path.len() == 5 && path[0] == "services" && path[2] == "networks" && path[4] == "aliases" {
        return Some(Identity::KeyValue);
    }
    LISTS.iter().find(|(pattern, _)| matches(path, pattern)).map(|(_, rule)| *rule)
}

impl Identity {
    /// The entry's identity; `None` keeps the entry whatever else is there
    /// (it is reported, if wrong, when the file is read).
    fn of(self, v: &Value) -> Option<String> {
        match self {
            Identity::KeyValue => {
                let text = scalar_text(v)?;
                Some(text.split_once('=').map_or(text.clone(), |(k, _)| k.to_string()))
            }
            Identity::Mount => match v {
                Value::String(s) => syntax::short_volume(s).ok().map(|m| m.target),
                Value::Mapping(m) => m.get("target").and_then(scalar_text),
                _ => None,
            },
            Identity::Target(folder) => match v {
                Value::String(s) => Some(format!("{folder}/{s}")),
                Value::Mapping(m) => match m.get("target").and_then(scalar_text) {
                    Some(target) => Some(target),
                    None => Some(format!("{folder}/{}", m.get("source").and_then(scalar_text)?)),
                },
                _ => None,
            },
            Identity::EnvFile => match v {
                Value::String(s) => Some(s.clone()),
                Value::Mapping(m) => m.get("path").and_then(scalar_text),
                _ => None,
            },
            Identity::Written => scalar_text(v),
            Identity::Port => port_identity(v),
        }
    }
}

/// `HOST_IP:PUBLISHED:TARGET/PROTOCOL` of a port in either syntax, so that
/// `8080:80` and `{published: 8080, target: 80}` are the same port.
fn port_identity(v: &Value) -> Option<String> {
    let (ip, published, target, protocol) = match v {
        Value::Number(n) => (String::new(), String::new(), n.to_string(), "tcp".to_string()),
        Value::String(s) => match syntax::short_port(s) {
            Ok(p) => (
                p.host_ip.unwrap_or_default(),
                p.published.map(range_text).unwrap_or_default(),
                range_text(p.target),
                s.rsplit_once('/').map_or("tcp", |(_, p)| p).to_string(),
            ),
            Err(_) => return Some(s.clone()),
        },
        Value::Mapping(m) => {
            let text = |key: &str| m.get(key).and_then(scalar_text).unwrap_or_default();
            let protocol = Some(text("protocol")).filter(|p| !p.is_empty()).unwrap_or_else(|| "tcp".into());
            (text("host_ip"), text("published"), text("target"), protocol)
        }
        _ => return None,
    };
    let ip = if ip == "0.0.0.0" { String::new() } else { ip };
    Some(format!("{ip}:{published}:{target}/{protocol}"))
}

fn range_text(range: syntax::PortRange) -> String {
    if range.start == range.end { range.start.to_string() } else { format!("{}-{}", range.start, range.end) }
}

/// Keeps one entry per identity in the lists of the document that have
/// identities (see [`Identity`]), the later in the place of the first.
pub(crate) fn enforce_unicity(root: &mut Value) {
    walk_unicity(root, &mut Vec::new());
}

fn walk_unicity(v: &mut Value, path: &mut Vec<String>) {
    match v {
        // Lists with identities are at most five keys deep, under
        // `services` or `networks`.
        Value::Mapping(m) if path.len() < 5 => {
            for (k, child) in m.iter_mut() {
                let key = scalar_text(k).unwrap_or_default();
                if path.is_empty() && key != "services" && key != "networks" {
                    continue;
                }
                path.push(key);
                walk_unicity(child, path);
                path.pop();
            }
        }
        Value::Sequence(items) => {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            let Some(rule) = identity_rule(&keys) else { return };
            let mut kept: Vec<Value> = Vec::with_capacity(items.len());
            let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            for item in std::mem::take(items) {
                match rule.of(&item) {
                    Some(id) => match seen.get(&id) {
                        Some(&at) => kept[at] = item,
                        None => {
                            seen.insert(id, kept.len());
                            kept.push(item);
                        }
                    },
                    None => kept.push(item),
                }
            }
            *items = kept;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn merged(base: &str, over: &str) -> Value {
        let mut v = merge(yaml(base), yaml(over), &[]).unwrap();
        enforce_unicity(&mut v);
        v
    }

    #[test]
    fn services_merge_as_compose_does() {
        let v = merged(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: {A: '1', B: '2'}\n    ports: ['8080:80', '9000']\n    volumes: ['./a:/data', 'v:/v']\n    depends_on: [db]\n    healthcheck: {test: [CMD, a], interval: 5s}\n",
            "services:\n  web:\n    image: b\n    command: [z]\n    environment: [B=3, C]\n    ports: [{target: 80, published: 8080, protocol: tcp}, '7000:70']\n    volumes: ['./b:/data']\n    depends_on: {cache: {condition: service_healthy}}\n    healthcheck: {test: [CMD, b]}\n",
        );
        let web = &v["services"]["web"];
        assert_eq!(web["image"], yaml("b"));
        assert_eq!(web["command"], yaml("[z]"));
        assert_eq!(web["environment"], yaml("[A=1, B=3, C]"));
        assert_eq!(web["ports"], yaml("[{target: 80, published: 8080, protocol: tcp}, '9000', '7000:70']"));
        assert_eq!(web["volumes"], yaml("['./b:/data', 'v:/v']"));
        assert_eq!(web["healthcheck"], yaml("{test: [CMD, b], interval: 5s}"));
        assert_eq!(
            web["depends_on"],
            yaml("{db: {condition: service_started, required: true}, cache: {condition: service_healthy}}")
        );
    }

    #[test]
    fn build_strings_are_contexts_and_kinds_must_agree() {
        let v =
            merged("services:\n  web:\n    build: ./app\n", "services:\n  web:\n    build: {target: dev}\n");
        assert_eq!(v["services"]["web"]["build"], yaml("{context: ./app, target: dev}"));
        let e =
            merge(yaml("services: {web: {cap_add: [A]}}"), yaml("services: {web: {cap_add: {a: b}}}"), &[])
                .unwrap_err();
        assert_eq!(e.path.to_string(), "services.web.cap_add");
        assert!(format!("{:?}", e.kind).contains("cannot merge a mapping onto a list"), "{e:?}");
    }
}
