//! Variable interpolation as docker compose does it.
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` and `$$` for a
//! literal `$`. Defaults and alternatives may themselves hold variables. A
//! variable that is unset and has no default expands to the empty string and
//! is reported in [`Expanded::missing`], so callers can warn instead of
//! silently producing a broken value.

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${` without its `}`, or an empty or malformed variable name.
    #[error("invalid interpolation format in {text:?}: {reason}")]
    Syntax {
        /// The offending text.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `${VAR:?message}` or `${VAR?message}` with the variable unset.
    #[error("required variable {name} is missing a value: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message given after `?`.
        message: String,
    },
}

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    /// The expanded text.
    pub value: String,
    /// Variables that were unset and had no default (expanded to "").
    pub missing: Vec<String>,
}

/// Interpolates `text`, looking variables up with `lookup`.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, InterpolateError> {
    let mut out = Expanded::default();
    expand_into(text, lookup, &mut out)?;
    Ok(out)
}

fn expand_into(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Expanded,
) -> Result<(), InterpolateError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find('$') {
        out.value.push_str(&text[i..i + off]);
        i += off;
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.value.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close = matching_brace(text, i + 2).ok_or_else(|| InterpolateError::Syntax {
                    text: text.to_string(),
                    reason: "`${` has no closing `}`",
                })?;
                expand_braced(&text[i + 2..close], text, lookup, out)?;
                i = close + 1;
            }
            Some(&c) if c == b'_' || c.is_ascii_alphabetic() => {
                let len = name_len(&text[i + 1..]);
                let name = &text[i + 1..i + 1 + len];
                push_var(name, lookup, out);
                i += 1 + len;
            }
            _ => {
                out.value.push('$');
                i += 1;
            }
        }
    }
    out.value.push_str(&text[i..]);
    Ok(())
}

/// Index of the `}` closing a `${` whose body starts at `start`.
fn matching_brace(text: &str, start: usize) -> Option<usize> {
    let mut depth = 1usize;
    let bytes = text.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn name_len(s: &str) -> usize {
    s.bytes().take_while(|b| *b == b'_' || b.is_ascii_alphanumeric()).count()
}

fn push_var(name: &str, lookup: &dyn Fn(&str) -> Option<String>, out: &mut Expanded) {
    match lookup(name) {
        Some(v) => out.value.push_str(&v),
        None => out.missing.push(name.to_string()),
    }
}

fn expand_braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Expanded,
) -> Result<(), InterpolateError> {
    let len = name_len(body);
    let name = &body[..len];
    let syntax = |reason| InterpolateError::Syntax { text: whole.to_string(), reason };
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(syntax("a variable name must start with a letter or `_`"));
    }
    let rest = &body[len..];
    if rest.is_empty() {
        push_var(name, lookup, out);
        return Ok(());
    }
    let (colon, op, arg) = match rest.strip_prefix(':') {
        Some(r) => (true, r.chars().next(), r.get(1..).unwrap_or("")),
        None => (false, rest.chars().next(), rest.get(1..).unwrap_or("")),
    };
    let value = lookup(name);
    // With a colon, an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match op {
        Some('-') => {
            if set {
                out.value.push_str(value.as_deref().unwrap_or(""));
            } else {
                expand_into(arg, lookup, out)?;
            }
        }
        Some('+') => {
            if set {
                expand_into(arg, lookup, out)?;
            }
        }
        Some('?') => {
            if set {
                out.value.push_str(value.as_deref().unwrap_or(""));
            } else {
                let mut msg = Expanded::default();
                expand_into(arg, lookup, &mut msg)?;
                return Err(InterpolateError::Required { name: name.to_string(), message: msg.value });
            }
        }
        _ => {
            return Err(syntax("expected `:-`, `-`, `:?`, `?`, `:+` or `+` after the name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<Expanded, InterpolateError> {
        let vars = |n: &str| match n {
            "A" => Some("alpha".to_string()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("19100".to_string()),
            _ => None,
        };
        interpolate(text, &vars)
    }

    fn val(text: &str) -> String {
        run(text).unwrap().value
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(val("x $A y ${A}z"), "x alpha y alphaz");
        assert_eq!(val("127.0.0.1:${PORT}:80"), "127.0.0.1:19100:80");
        assert_eq!(val("$$A costs $5 and $"), "$A costs $5 and $");
    }

    #[test]
    fn defaults_follow_compose_semantics() {
        assert_eq!(val("${UNSET:-d}"), "d");
        assert_eq!(val("${EMPTY:-d}"), "d");
        assert_eq!(val("${EMPTY-d}"), "");
        assert_eq!(val("${UNSET-d}"), "d");
        assert_eq!(val("${A:+set}"), "set");
        assert_eq!(val("${EMPTY:+set}"), "");
        assert_eq!(val("${EMPTY+set}"), "set");
        assert_eq!(val("${UNSET:-${A}-x}"), "alpha-x");
    }

    #[test]
    fn required_and_missing() {
        assert_eq!(
            run("${UNSET:?need it}"),
            Err(InterpolateError::Required { name: "UNSET".into(), message: "need it".into() })
        );
        assert!(run("${EMPTY?x}").is_ok());
        let e = run("a ${NOPE} $ALSO_NOPE").unwrap();
        assert_eq!(e.value, "a  ");
        assert_eq!(e.missing, vec!["NOPE".to_string(), "ALSO_NOPE".to_string()]);
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(run("${A"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${}"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${A*x}"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${1A}"), Err(InterpolateError::Syntax { .. })));
    }
}
