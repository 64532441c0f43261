//! Typed access to untyped YAML values, with compose's leniency (numbers and
//! booleans where strings are expected, `"true"` and `"8080"` after
//! interpolation) and errors that name the key path and say what to write.

use serde_yaml::{Mapping, Value};

use super::keypath::{At, Problem};

/// How a value is called in messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scalar as text: strings as they are, numbers and booleans printed.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A mapping key as text, for paths and messages.
pub(crate) fn key_text(k: &Value) -> String {
    scalar_text(k).unwrap_or_else(|| format!("<{} key>", kind(k)))
}

/// True for `x-*` extension keys, which compose and mono ignore.
pub(crate) fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

/// The error for a value of the wrong type.
pub(crate) fn wrong_type(at: At<'_>, expected: &str, found: &Value) -> Problem {
    at.problem(format!("expected {expected}, found {}; change the value to {expected}", kind(found)))
}

/// A mapping.
pub(crate) fn mapping<'v>(v: &'v Value, at: At<'_>) -> Result<&'v Mapping, Problem> {
    match v {
        Value::Mapping(m) => Ok(m),
        other => Err(wrong_type(at, "a mapping (`key: value` lines)", other)),
    }
}

/// A mapping, with `null` (a key with nothing after it) as an empty one.
pub(crate) fn mapping_or_null<'v>(v: &'v Value, at: At<'_>) -> Result<Option<&'v Mapping>, Problem> {
    match v {
        Value::Null => Ok(None),
        other => mapping(other, at).map(Some),
    }
}

/// A list.
pub(crate) fn sequence<'v>(v: &'v Value, at: At<'_>) -> Result<&'v [Value], Problem> {
    match v {
        Value::Sequence(s) => Ok(s),
        other => Err(wrong_type(at, "a list (`- item` lines)", other)),
    }
}

/// The entries of a mapping with their keys as text; `<<` is gone by now
/// (merged), so every key is data.
pub(crate) fn entries<'m>(m: &'m Mapping, at: At<'_>) -> Result<Vec<(String, &'m Value)>, Problem> {
    m.iter()
        .map(|(k, v)| match scalar_text(k) {
            Some(key) => Ok((key, v)),
            None => Err(at.problem(format!("keys must be strings, found {}; quote the key", kind(k)))),
        })
        .collect()
}

/// A string (numbers and booleans are taken as their text).
pub(crate) fn string(v: &Value, at: At<'_>) -> Result<String, Problem> {
    scalar_text(v).ok_or_else(|| wrong_type(at, "a string", v))
}

/// A string, or `None` for `null`.
pub(crate) fn opt_string(v: &Value, at: At<'_>) -> Result<Option<String>, Problem> {
    match v {
        Value::Null => Ok(None),
        other => string(other, at).map(Some),
    }
}

/// A boolean; after interpolation also `"true"`, `"yes"`, `"on"` and their
/// opposites, as compose accepts them.
pub(crate) fn boolean(v: &Value, at: At<'_>) -> Result<bool, Problem> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Some(true),
            "false" | "no" | "n" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| wrong_type(at, "a boolean (true or false)", v))
}

/// Unsigned integer types [`integer`] can produce.
pub(crate) trait Whole: TryFrom<u64> {
    /// The largest value, for messages.
    const MAX: u64;
}

impl Whole for u16 {
    const MAX: u64 = u16::MAX as u64;
}

impl Whole for u32 {
    const MAX: u64 = u32::MAX as u64;
}

impl Whole for u64 {
    const MAX: u64 = u64::MAX;
}

/// A non-negative integer that fits `T` (also as a string, after
/// interpolation).
pub(crate) fn integer<T: Whole>(v: &Value, at: At<'_>) -> Result<T, Problem> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        at.problem(format!("expected a whole number from 0 to {}, found {}", T::MAX, describe(v)))
    })
}

/// A value as shown in a message: scalars quoted, others by kind.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(_) | Value::Bool(_) => scalar_text(v).unwrap_or_default(),
        other => kind(other).to_string(),
    }
}

/// A list of strings.
pub(crate) fn string_list(v: &Value, at: At<'_>) -> Result<Vec<String>, Problem> {
    sequence(v, at)?.iter().enumerate().map(|(i, item)| string(item, at.index(i))).collect()
}

/// One string or a list of them.
pub(crate) fn string_or_list(v: &Value, at: At<'_>) -> Result<Vec<String>, Problem> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(_) => string_list(v, at),
        other => Ok(vec![string(other, at)?]),
    }
}

/// A compose "dictionary": a list of `KEY=VALUE` (or `KEY` alone) strings,
/// or a mapping whose values may be null. `KEY` alone and null values come
/// back as `None`.
pub(crate) fn dict(v: &Value, at: At<'_>) -> Result<Vec<(String, Option<String>)>, Problem> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = at.index(i);
                let text = string(item, at)?;
                let (key, value) = match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (text, None),
                };
                if key.is_empty() {
                    return Err(at.problem("the entry has no name before `=`; write NAME=value"));
                }
                Ok((key, value))
            })
            .collect(),
        Value::Mapping(m) => entries(m, at)?
            .into_iter()
            .map(|(key, value)| {
                let at = at.key(&key);
                match value {
                    Value::Null => Ok((key, None)),
                    other => Ok((key.clone(), Some(string(other, at)?))),
                }
            })
            .collect(),
        other => Err(wrong_type(at, "a list of NAME=value strings or a mapping", other)),
    }
}

/// The error for a key compose does not know, with a suggestion when a known
/// key is close.
pub(crate) fn unknown_key(at: At<'_>, key: &str, known: &[&str]) -> Problem {
    let suggestion = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    at.key(key).problem(format!(
        "unknown key{suggestion}; compose does not accept it either: fix the spelling, remove it, or prefix it \
         with `x-` to keep it as an extension"
    ))
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_keys_only() {
        assert_eq!(edit_distance("enviroment", "environment"), 1);
        let root = At::ROOT;
        let p = unknown_key(root, "enviroment", &["environment", "image"]);
        assert!(format!("{:?}", p.kind).contains("did you mean `environment`"));
        let p = unknown_key(root, "frobnicate", &["environment", "image"]);
        assert!(!format!("{:?}", p.kind).contains("did you mean"));
    }
}
