//! The untyped stage of loading: YAML with anchors and merge keys,
//! interpolation of string values, `extends` within the file, and finding a
//! key path's line in the source for messages.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::{Mapping, Value};

use super::ComposeError;
use super::error::Position;
use super::keypath::{At, Problem, ProblemKind, Segment};
use super::value::{is_extension, key_text, kind, scalar_text};
use crate::interpolate::interpolate;

/// Parses the file's text and applies merge keys (`<<`). Flow collections
/// nested too deep are refused before the parser sees them
/// ([`crate::input::too_deep`]).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Value, ComposeError> {
    if let Some((line, column)) = crate::input::too_deep(text, crate::input::MAX_FLOW_DEPTH) {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        return Err(ComposeError::Syntax {
            path: path.to_path_buf(),
            position: Some(Position { line: clamp(line), column: clamp(column) }),
            message: format!(
                "[...] or {{...}} nested more than {} deep; mono refuses such YAML before parsing it",
                crate::input::MAX_FLOW_DEPTH
            ),
        });
    }
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| ComposeError::syntax(path, &e))?;
    value.apply_merge().map_err(|e| ComposeError::syntax(path, &e))?;
    Ok(value)
}

/// Top-level sections whose entries are definitions with their own keys
/// (and so their own `x-*` extensions).
const SECTIONS: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Interpolates every string value (never keys) of the document, in place.
/// Extension fields (`x-*`, at the top level and in definitions) are left
/// alone: mono ignores them, so neither their unset variables nor their
/// `${VAR:?}` should stop anything. Returns the unset-variable warnings,
/// each naming the file, key path and variable.
pub(crate) fn interpolate_document(
    file: &Path,
    root: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, Problem> {
    let mut walker = Interpolation { file, lookup, warnings: Vec::new() };
    let Value::Mapping(top) = root else {
        return Ok(Vec::new());
    };
    let root = At::ROOT;
    for (key, value) in top.iter_mut() {
        // Extension values are interpolated too, as compose does.
        let name = key_text(key);
        let at = root.key(&name);
        match value {
            Value::Mapping(definitions) if SECTIONS.contains(&name.as_str()) => {
                for (def_key, def) in definitions.iter_mut() {
                    let def_name = key_text(def_key);
                    let at = at.key(&def_name);
                    match def {
                        Value::Mapping(fields) => {
                            for (field, v) in fields.iter_mut() {
                                walker.walk(v, at.key(&key_text(field)))?;
                            }
                        }
                        other => walker.walk(other, at)?,
                    }
                }
            }
            other => walker.walk(other, at)?,
        }
    }
    Ok(walker.warnings)
}

struct Interpolation<'a> {
    file: &'a Path,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
}

impl Interpolation<'_> {
    fn walk(&mut self, value: &mut Value, at: At<'_>) -> Result<(), Problem> {
        match value {
            Value::String(s) if s.contains('$') => {
                let expanded = interpolate(s, self.lookup)
                    .map_err(|e| Problem { path: at.path(), kind: ProblemKind::Interpolation(e) })?;
                for name in expanded.missing {
                    let warning = format!(
                        "{}: {at}: variable {name} is not set; using an empty string (set it in the environment or \
                         the workspace's .env, or give a default with ${{{name}:-default}})",
                        self.file.display()
                    );
                    if !self.warnings.contains(&warning) {
                        self.warnings.push(warning);
                    }
                }
                *s = expanded.value;
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.walk(item, at.index(i))?;
                }
            }
            Value::Mapping(m) => {
                for (k, v) in m.iter_mut() {
                    let k = key_text(k);
                    self.walk(v, at.key(&k))?;
                }
            }
            Value::Tagged(tagged) => self.walk(&mut tagged.value, at)?,
            _ => {}
        }
        Ok(())
    }
}

/// Resolves `extends` between services of the same file, in place. Returns
/// the names of the services that extended another.
///
/// Merging follows compose's rules: mappings merge key by key (the
/// extending service wins), `command`, `entrypoint` and `healthcheck.test`
/// are replaced, `environment`/`labels`/`sysctls`/`build.args` merge by
/// name whatever their syntax, `depends_on` and `networks` by service or
/// network, `volumes` by container path, `secrets`/`configs` by target, and
/// other lists are appended.
pub(crate) fn resolve_extends(root: &mut Value) -> Result<Vec<String>, Problem> {
    let Some(Value::Mapping(services)) = root.get_mut("services") else {
        return Ok(Vec::new());
    };
    let extending: Vec<String> = services
        .iter()
        .filter(|(_, v)| v.get("extends").is_some())
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    let mut done = HashMap::new();
    for name in &extending {
        resolve(services, name, &mut Vec::new(), &mut done)?;
    }
    for name in &extending {
        if let Some(merged) = done.remove(name) {
            services.insert(Value::String(name.clone()), Value::Mapping(merged));
        }
    }
    Ok(extending)
}

fn resolve(
    services: &Mapping,
    name: &str,
    chain: &mut Vec<String>,
    done: &mut HashMap<String, Mapping>,
) -> Result<Mapping, Problem> {
    if let Some(resolved) = done.get(name) {
        return Ok(resolved.clone());
    }
    let root = At::ROOT;
    let at_services = root.key("services");
    let at = at_services.key(name);
    let mut own = match services.get(name) {
        Some(Value::Mapping(m)) => m.clone(),
        // Reported with its key path when the service is converted.
        _ => return Ok(Mapping::new()),
    };
    let Some(extends) = own.remove("extends") else {
        return Ok(own);
    };
    let at = at.key("extends");
    let base = match &extends {
        Value::String(base) => base.clone(),
        Value::Mapping(m) => {
            let mut base = None;
            for (k, v) in m {
                match k.as_str() {
                    Some("service") => base = scalar_text(v),
                    Some("file") => {
                        return Err(at.key("file").problem(format!(
                            "extends.file is not supported: mono reads one compose file; copy the base service into \
                             this file and write `extends: {{service: {}}}`",
                            scalar_text(m.get("service").unwrap_or(&Value::Null)).unwrap_or_default()
                        )));
                    }
                    Some(k) if is_extension(k) => {}
                    _ => return Err(super::value::unknown_key(at, &key_text(k), &["service", "file"])),
                }
            }
            base.ok_or_else(|| at.problem("extends needs `service: NAME`, the service to extend"))?
        }
        other => {
            return Err(at.problem(format!(
                "expected a service name or {{service: NAME}}, found {}; write `extends: BASE`",
                kind(other)
            )));
        }
    };
    if base == name || chain.contains(&base) {
        let start = chain.iter().position(|c| *c == base).unwrap_or(chain.len());
        let cycle: Vec<&str> =
            chain[start..].iter().map(String::as_str).chain([name, base.as_str()]).collect();
        return Err(at.problem(format!(
            "services extend each other in a cycle ({}); one of them must stand on its own",
            cycle.join(" -> ")
        )));
    }
    if !services.contains_key(base.as_str()) {
        return Err(at.problem(format!(
            "extends service {base}, which this file does not define; define it or fix the name"
        )));
    }
    chain.push(name.to_string());
    let base = resolve(services, &base, chain, done)?;
    chain.pop();
    let merged = merge_mappings(base, own, Rules::Service);
    done.insert(name.to_string(), merged.clone());
    Ok(merged)
}

/// Which merge rules apply to a mapping's keys.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// A service definition.
    Service,
    /// `build`.
    Build,
    /// Any other mapping.
    Plain,
}

fn merge_mappings(mut base: Mapping, over: Mapping, rules: Rules) -> Mapping {
    for (key, value) in over {
        match base.get_mut(&key) {
            Some(slot) => {
                let old = std::mem::take(slot);
                *slot = merge_field(key.as_str().unwrap_or(""), old, value, rules);
            }
            None => {
                base.insert(key, value);
            }
        }
    }
    base
}

fn merge_field(key: &str, old: Value, new: Value, rules: Rules) -> Value {
    if new.is_null() {
        return old;
    }
    match (rules, key) {
        (Rules::Service, "command" | "entrypoint") => new,
        (Rules::Service, "environment" | "labels" | "sysctls" | "annotations") | (Rules::Build, "args") => {
            match (as_dict(old), as_dict(new.clone())) {
                (Some(old), Some(over)) => Value::Mapping(merge_mappings(old, over, Rules::Plain)),
                _ => new,
            }
        }
        (Rules::Service, "depends_on" | "networks") => match (as_named(old, key), as_named(new.clone(), key))
        {
            (Some(mut old), Some(over)) => {
                for (k, v) in over {
                    old.insert(k, v);
                }
                Value::Mapping(old)
            }
            _ => new,
        },
        (Rules::Service, "volumes") => merge_unique(old, new, volume_target),
        (Rules::Service, "secrets" | "configs") => merge_unique(old, new, secret_target),
        (Rules::Service, "build") => {
            let as_map = |v: Value| match v {
                Value::String(context) => {
                    let mut m = Mapping::new();
                    m.insert("context".into(), Value::String(context));
                    Value::Mapping(m)
                }
                other => other,
            };
            match (as_map(old), as_map(new)) {
                (Value::Mapping(old), Value::Mapping(new)) => {
                    Value::Mapping(merge_mappings(old, new, Rules::Build))
                }
                (_, new) => new,
            }
        }
        _ => match (old, new) {
            (Value::Mapping(old), Value::Mapping(new)) => {
                Value::Mapping(merge_mappings(old, new, Rules::Plain))
            }
            // Lists are appended; `dns: 1.1.1.1` or `tmpfs: /run` may be a
            // single string standing for a list of one.
            (
                old @ (Value::Sequence(_) | Value::String(_)),
                new @ (Value::Sequence(_) | Value::String(_)),
            ) if rules == Rules::Service && (old.is_sequence() || new.is_sequence()) => {
                let mut items = as_list(old);
                for item in as_list(new) {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
                Value::Sequence(items)
            }
            (_, new) => new,
        },
    }
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Sequence(items) => items,
        other => vec![other],
    }
}

/// `[K=V, K]` or `{K: V}` as a mapping (`K` alone maps to null).
fn as_dict(v: Value) -> Option<Mapping> {
    match v {
        Value::Mapping(m) => Some(m),
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| {
                let text = scalar_text(&item)?;
                Some(match text.split_once('=') {
                    Some((k, v)) => (Value::String(k.to_string()), Value::String(v.to_string())),
                    None => (Value::String(text), Value::Null),
                })
            })
            .collect(),
        _ => None,
    }
}

/// `depends_on`/`networks` as a mapping by name.
fn as_named(v: Value, key: &str) -> Option<Mapping> {
    match v {
        Value::Mapping(m) => Some(m),
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| {
                let name = scalar_text(&item)?;
                let value = if key == "depends_on" {
                    let mut m = Mapping::new();
                    m.insert("condition".into(), "service_started".into());
                    Value::Mapping(m)
                } else {
                    Value::Null
                };
                Some((Value::String(name), value))
            })
            .collect(),
        _ => None,
    }
}

/// Appends `new`'s items to `old`'s, an item of `new` replacing the item of
/// `old` with the same identity.
fn merge_unique(old: Value, new: Value, identity: fn(&Value) -> Option<String>) -> Value {
    let (Value::Sequence(mut items), Value::Sequence(over)) = (old, new.clone()) else {
        return new;
    };
    for item in over {
        let id = identity(&item);
        match items.iter_mut().find(|existing| id.is_some() && identity(existing) == id) {
            Some(existing) => *existing = item,
            None => items.push(item),
        }
    }
    Value::Sequence(items)
}

fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let mut parts = s.split(':');
            let first = parts.next()?;
            Some(parts.next().unwrap_or(first).to_string())
        }
        Value::Mapping(m) => m.get("target").and_then(scalar_text),
        _ => None,
    }
}

fn secret_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Mapping(m) => m.get("target").or_else(|| m.get("source")).and_then(scalar_text),
        _ => None,
    }
}

/// Where the value at `path` starts in `text`, or where its deepest
/// enclosing key that exists in the text does (a value may come from an
/// anchor, a merge key or `extends`). For a mapping key, the position is the
/// key's own.
pub(crate) fn locate(text: &str, path: &[Segment]) -> Option<Position> {
    (1..=path.len()).rev().find_map(|n| seek(text, &path[..n]))
}

/// The message of the error that stops the search at the target.
const FOUND: &str = "\u{1}mono-compose-found\u{1}";

fn seek(text: &str, path: &[Segment]) -> Option<Position> {
    match Seek(path).deserialize(serde_yaml::Deserializer::from_str(text)) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(Position::of),
        _ => None,
    }
}

/// Walks the parser's events along a path; at the target it fails with
/// [`FOUND`], and the parser stamps that error with the target's position.
struct Seek<'p>(&'p [Segment]);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Seek<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() { Err(E::custom(FOUND)) } else { Ok(()) }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        // A tagged value: not searched into.
        self.scalar()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let [Segment::Index(index), rest @ ..] = self.0 else {
            return self.scalar();
        };
        for _ in 0..*index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Seek(rest))?;
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let [Segment::Key(want), rest @ ..] = self.0 else {
            return self.scalar();
        };
        if rest.is_empty() {
            // Stop at the key itself: `ports:` rather than its first item.
            while map.next_key_seed(KeyProbe(want))?.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            return Ok(());
        }
        while let Some(key) = map.next_key::<Value>()? {
            if scalar_text(&key).as_deref() == Some(want.as_str()) {
                return map.next_value_seed(Seek(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Fails with [`FOUND`] on the key it looks for. The check runs inside the
/// visitor so that the parser stamps the error with the key's position.
struct KeyProbe<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyProbe<'_> {
    fn check<E: de::Error>(&self, key: &str) -> Result<(), E> {
        if key == self.0 { Err(E::custom(FOUND)) } else { Ok(()) }
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.check(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.check(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.check(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.check(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.check(&v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segments: &[&str]) -> Vec<Segment> {
        segments
            .iter()
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Segment::Index(i),
                Err(_) => Segment::Key(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn locate_finds_keys_items_and_falls_back_to_parents() {
        let text =
            "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - {a: b}\n  db:\n    image: y\n";
        let at = |p: &[&str]| locate(text, &path(p)).map(|p| (p.line, p.column));
        assert_eq!(at(&["services", "web", "ports"]), Some((4, 5)));
        assert_eq!(at(&["services", "web", "ports", "1"]), Some((6, 9)));
        assert_eq!(at(&["services", "db", "image"]), Some((8, 5)));
        assert_eq!(at(&["services", "db", "nothing", "deeper"]), Some((7, 3)));
        assert_eq!(at(&["nowhere"]), None);
    }
}
