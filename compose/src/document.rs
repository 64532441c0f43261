//! The untyped stage of reading one file: YAML with anchors and merge keys
//! (chained ones too: an anchor whose mapping has its own `<<`), compose's
//! `!reset` and `!override` tags, interpolation of string values, and
//! finding a key path's line in the source for messages.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::ComposeError;
use super::error::Position;
use super::keypath::{At, Problem, ProblemKind, Segment};
use super::value::{key_text, scalar_text};
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
    apply_merge(&mut value).map_err(|message| ComposeError::Syntax {
        path: path.to_path_buf(),
        position: None,
        message,
    })?;
    Ok(value)
}

/// Applies merge keys (`<<: *base` or `<<: [*a, *b]`): the mapping's own
/// keys win, then the first source's. A source is merged with its own
/// merge keys applied first, so chains of anchors work (serde_yaml's
/// `apply_merge` leaves the inner `<<` as a key).
fn apply_merge(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Mapping(mapping) => {
            if let Some(merge) = mapping.remove("<<") {
                let sources = match merge {
                    Value::Mapping(m) => vec![m],
                    Value::Sequence(items) => items
                        .into_iter()
                        .map(|item| match item {
                            Value::Mapping(m) => Ok(m),
                            _ => Err(
                                "a merge key (<<) list holds something else than mappings; list anchors of \
                                      mappings only"
                                    .to_string(),
                            ),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(
                            "a merge key (<<) needs a mapping or a list of mappings, such as <<: *base"
                                .to_string(),
                        );
                    }
                };
                for source in sources {
                    let mut source = Value::Mapping(source);
                    apply_merge(&mut source)?;
                    if let Value::Mapping(source) = source {
                        for (k, v) in source {
                            if !mapping.contains_key(&k) {
                                mapping.insert(k, v);
                            }
                        }
                    }
                }
            }
            for v in mapping.values_mut() {
                apply_merge(v)?;
            }
        }
        Value::Sequence(items) => {
            for item in items {
                apply_merge(item)?;
            }
        }
        Value::Tagged(tagged) => apply_merge(&mut tagged.value)?,
        _ => {}
    }
    Ok(())
}

/// A key path (mapping keys only) whose value an earlier file or an
/// `extends` base must lose: `!reset` (removed here too) or `!override`
/// (kept here, replacing the earlier value instead of merging with it).
pub(crate) type Reset = Vec<String>;

/// Removes `!reset` values and untags `!override` ones, returning their key
/// paths. Other tags stay, and are refused by the typed model.
pub(crate) fn take_tags(value: &mut Value) -> Vec<Reset> {
    let mut resets = Vec::new();
    walk_tags(value, &mut Vec::new(), &mut resets);
    resets
}

fn walk_tags(value: &mut Value, path: &mut Vec<String>, resets: &mut Vec<Reset>) {
    match value {
        Value::Mapping(mapping) => {
            let mut reset_keys = Vec::new();
            for (k, v) in mapping.iter_mut() {
                path.push(key_text(k));
                if let Value::Tagged(tagged) = v {
                    if tagged.tag == "reset" {
                        resets.push(path.clone());
                        reset_keys.push(k.clone());
                        path.pop();
                        continue;
                    }
                    if tagged.tag == "override" {
                        resets.push(path.clone());
                        *v = std::mem::take(&mut tagged.value);
                    }
                }
                walk_tags(v, path, resets);
                path.pop();
            }
            for k in reset_keys {
                mapping.remove(&k);
            }
        }
        Value::Sequence(items) => {
            items.retain(|item| !matches!(item, Value::Tagged(t) if t.tag == "reset"));
            for item in items.iter_mut() {
                if let Value::Tagged(tagged) = item
                    && tagged.tag == "override"
                {
                    *item = std::mem::take(&mut tagged.value);
                }
                walk_tags(item, path, resets);
            }
        }
        _ => {}
    }
}

/// Removes from `target` the values at `resets` (key paths of a later
/// file's `!reset` and `!override`), so that the later file's value is not
/// merged with them.
pub(crate) fn apply_resets(target: &mut Value, resets: &[Reset]) {
    for reset in resets {
        remove_at(target, reset);
    }
}

fn remove_at(node: &mut Value, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            if let Value::Mapping(m) = node {
                m.remove(last.as_str());
            }
        }
        [first, rest @ ..] => {
            if let Some(next) = node.get_mut(first.as_str()) {
                remove_at(next, rest);
            }
        }
    }
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

/// The message of the error that stops the search at the target.
const FOUND: &str = "\u{1}mono-compose-found\u{1}";

/// Where the value at exactly `path` starts in `text`, if it is there.
pub(crate) fn seek(text: &str, path: &[Segment]) -> Option<Position> {
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

    /// Where `path` is, or its deepest enclosing key that is.
    fn locate(text: &str, path: &[Segment]) -> Option<Position> {
        (1..=path.len()).rev().find_map(|n| seek(text, &path[..n]))
    }

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
