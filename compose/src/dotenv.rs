//! `.env` and `env_file` files, in compose's syntax:
//!
//! ```text
//! # a comment
//! KEY=value            # trailing comment after a space
//! export KEY=value
//! SINGLE='literal $HOME, no escapes'
//! DOUBLE="escapes \n and ${VARS}"
//! MULTI="spans
//! lines"
//! BARE                 # no `=`: taken from the environment, if set
//! YAML_STYLE: value    # `:` ends a name as `=` does
//! ESCAPED='Let\'s go!'  # `\'` is a quote inside single quotes
//! ```
//!
//! This is compose-go's dotenv syntax (checked against its fixtures): a
//! UTF-8 byte order mark is skipped, names are letters, digits, `_`, `.`,
//! `-`, `[` and `]`.
//!
//! Unquoted and double-quoted values are interpolated like the compose
//! file, with variables defined earlier in the same file first, then the
//! caller's lookup; an unset variable expands to nothing, as in compose.

use std::path::Path;

use super::ComposeError;
use crate::interpolate::interpolate;

/// Reads a `.env` file: its variables in file order, each name once (a later
/// definition wins). `KEY` alone has no value here and is left out (the
/// caller's environment, consulted anyway, supplies it). A missing file is
/// an error; callers decide whether that matters.
pub fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ComposeError> {
    read_dotenv_with(path, &|_| None)
}

/// Like [`read_dotenv`], with `lookup` supplying variables the file uses
/// without defining them, and the values of `KEY` alone lines.
pub fn read_dotenv_with(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ComposeError> {
    let text = super::read(path)?;
    parse(path, &text, lookup, Format::Compose)
}

/// How an env file's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Quotes, escapes, comments and interpolation.
    Compose,
    /// `format: raw`: everything after `=` is the value, as is.
    Raw,
}

/// Parses env file text; `path` is only used in errors.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    format: Format,
) -> Result<Vec<(String, String)>, ComposeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    // What follows a closing quote on its line is read as the next
    // statement, as compose-go reads it (`A='x' B=2` sets both).
    let mut carry: Option<(usize, String)> = None;
    loop {
        let (number, line) = match carry.take() {
            Some(rest) => rest,
            None => match lines.next() {
                Some((index, line)) => (index + 1, line.to_string()),
                None => break,
            },
        };
        let line = line.as_str();
        let error =
            |message: String| ComposeError::Dotenv { path: path.to_path_buf(), line: number, message };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed.strip_prefix("export ").map(str::trim_start).unwrap_or(trimmed);
        let separator = if format == Format::Raw { trimmed.find('=') } else { trimmed.find(['=', ':']) };
        let (key, raw) = match separator {
            Some(i) => (trimmed[..i].trim_end(), Some(&trimmed[i + 1..])),
            None => (strip_comment(trimmed).trim_end(), None),
        };
        if key.is_empty()
            || !key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']'))
        {
            return Err(error(format!(
                "{key:?} is not a variable name; write NAME=value (letters, digits, `_`, `.`, `-`, `[` and `]`)"
            )));
        }
        let known = |name: &str| {
            out.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| lookup(name))
        };
        let value = match raw {
            None => known(key),
            Some(raw) if format == Format::Raw => Some(raw.to_string()),
            Some(raw) => {
                let raw = raw.trim_start();
                let (template, literal) = match raw.chars().next() {
                    Some(quote @ ('\'' | '"')) => {
                        let mut body = raw[1..].to_string();
                        let (content, after) = loop {
                            if let Some((content, after)) = closing(&body, quote) {
                                break (content, after);
                            }
                            match lines.next() {
                                Some((_, more)) => {
                                    body.push('\n');
                                    body.push_str(more);
                                }
                                None => {
                                    return Err(error(format!(
                                        "the value of {key} opens {quote} but never closes it; add the closing {quote}"
                                    )));
                                }
                            }
                        };
                        let after = after.trim();
                        if !after.is_empty() && !after.starts_with('#') {
                            carry = Some((number, after.to_string()));
                        }
                        if quote == '\'' {
                            (content.replace("\\'", "'"), true)
                        } else {
                            (unescape(&content), false)
                        }
                    }
                    _ => (strip_comment(raw).trim_end().to_string(), false),
                };
                if literal {
                    Some(template)
                } else {
                    let expanded = interpolate(&template, &known)
                        .map_err(|e| error(format!("{key}: {e}; fix the value or set the variable")))?;
                    Some(expanded.value)
                }
            }
        };
        if let Some(value) = value {
            match out.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => out.push((key.to_string(), value)),
            }
        }
    }
    Ok(out)
}

/// The text before an unquoted ` # comment` (a `#` after whitespace).
fn strip_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace())
        .map_or(text, |i| &text[..i])
}

/// Splits `body` at its closing `quote` (one not escaped with `\`, for
/// either quote, as compose-go reads them): the content and what follows
/// the quote.
fn closing(body: &str, quote: char) -> Option<(String, &str)> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == quote && !escaped => return Some((body[..i].to_string(), &body[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

/// Double-quote escapes: `\n`, `\r`, `\t`, `\"`, `\\`, and `\$` for a literal
/// dollar (kept as `$$` so interpolation leaves it alone).
fn unescape(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn parse_text(text: &str) -> Result<Vec<(String, String)>, ComposeError> {
        let lookup = |name: &str| (name == "FROM_ENV").then(|| "env".to_string());
        parse(Path::new("/ws/.env"), text, &lookup, Format::Compose)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn compose_syntax() {
        let text = "\
# comment
   
A=1
export B = two words  # trailing comment
C='single $A # kept'
D=\"line\\nnext \\$A ${A}\"
E=x#not-a-comment
FROM_ENV
UNSET_BARE
F=${FROM_ENV}-${A}
G=
A=override
M=\"multi
line\" # done
";
        assert_eq!(
            parse_text(text).unwrap(),
            pairs(&[
                ("A", "override"),
                ("B", "two words"),
                ("C", "single $A # kept"),
                ("D", "line\nnext $A 1"),
                ("E", "x#not-a-comment"),
                ("FROM_ENV", "env"),
                ("F", "env-1"),
                ("G", ""),
                ("M", "multi\nline"),
            ])
        );
    }

    #[test]
    fn text_after_a_closing_quote_is_the_next_statement() {
        // Docker Compose v2.40 on `A='x' B=2`, `C="q" FROM_ENV`, `D='d' # c`:
        // A=x B=2 C=q D=d, and FROM_ENV from the caller's environment.
        let got = parse_text("A='x' B=2\nC=\"q\" FROM_ENV\nD='d' # c\n").unwrap();
        assert_eq!(got, pairs(&[("A", "x"), ("B", "2"), ("C", "q"), ("FROM_ENV", "env"), ("D", "d")]));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_text("OK=1\nBAD KEY=2\n").unwrap_err().to_string();
        assert!(e.starts_with("/ws/.env:2: "), "{e}");
        let e = parse_text("A=1\nB=\"open\n").unwrap_err().to_string();
        assert!(e.starts_with("/ws/.env:2: ") && e.contains("never closes"), "{e}");
        let e = parse_text("A='x' y z\n").unwrap_err().to_string();
        assert!(e.starts_with("/ws/.env:1: ") && e.contains("\"y z\" is not a variable name"), "{e}");
        let e = parse_text("A=${NOPE:?is required}\n").unwrap_err().to_string();
        assert!(e.contains("NOPE") && e.contains("is required"), "{e}");
    }

    /// The cases of compose-go's dotenv fixtures (BOM, `KEY:VALUE`,
    /// quoting and escapes, odd names, `export`, substitutions, inherited
    /// names), with the values Docker Compose v2.40 gives for them
    /// (`docker-compose config` of a service with these env files).
    #[test]
    fn compose_go_fixture_cases() {
        let text = "\u{feff}BOM_A=1\nBOM_B = 2\n\
COLON:VALUE\nCOLON_SPACED: spaced value\nURL=http://x:80/y\n\
Q_A='1'\nQ_C=''\nQ_D='\\n'\nQ_H=\"\\n\"\nQ_I = \"echo 'asd'\" # Inline comment\n\
Q_J = 'first line\nsecond line'\nQ_K='Let\\'s go!'\nQ_L=\"say \\\"hi\\\"\"\nQ_M='a\\\\b'\n\
P_C= 3\nP_D =4\n456 = ABC\nP_F = \nP_H = my string # Inline comment\n\
VAR.WITH.DOTS=dots\nVAR-WITH-DASHES=dashes\nARR[0]=zero\nP_U = then unquoted special \u{e8} char\n\
export EXP_A=2\nexport EXP_B='\\n'\nEQ='postgres://localhost:5432/db?sslmode=disable'\n\
S_A=1\nS_B=${S_A}\nS_C=$S_B\nS_D=${S_A}_${S_B}\nS_E=${NOT_DEFINED}\nS_F=${S_A:-x}\n\
FROM_ENV\nNOT_IN_ENV\n";
        let got: BTreeMap<String, String> = parse_text(text).unwrap().into_iter().collect();
        let want: BTreeMap<String, String> = [
            ("456", "ABC"),
            ("ARR[0]", "zero"),
            ("BOM_A", "1"),
            ("BOM_B", "2"),
            ("COLON", "VALUE"),
            ("COLON_SPACED", "spaced value"),
            ("EQ", "postgres://localhost:5432/db?sslmode=disable"),
            ("EXP_A", "2"),
            ("EXP_B", "\\n"),
            ("FROM_ENV", "env"),
            ("P_C", "3"),
            ("P_D", "4"),
            ("P_F", ""),
            ("P_H", "my string"),
            ("P_U", "then unquoted special \u{e8} char"),
            ("Q_A", "1"),
            ("Q_C", ""),
            ("Q_D", "\\n"),
            ("Q_H", "\n"),
            ("Q_I", "echo 'asd'"),
            ("Q_J", "first line\nsecond line"),
            ("Q_K", "Let's go!"),
            ("Q_L", "say \"hi\""),
            ("Q_M", "a\\\\b"),
            ("S_A", "1"),
            ("S_B", "1"),
            ("S_C", "1"),
            ("S_D", "1_1"),
            ("S_E", ""),
            ("S_F", "1"),
            ("URL", "http://x:80/y"),
            ("VAR-WITH-DASHES", "dashes"),
            ("VAR.WITH.DOTS", "dots"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        // compose-go: "line 2: key cannot contain a space".
        let e = parse_text("# c\nINVALID LINE\nzot=qix").unwrap_err().to_string();
        assert!(e.starts_with("/ws/.env:2: ") && e.contains("INVALID LINE"), "{e}");
    }

    #[test]
    fn raw_format_keeps_values() {
        let got = parse(Path::new("x"), "A='q' # c $X\n", &|_| None, Format::Raw).unwrap();
        assert_eq!(got, pairs(&[("A", "'q' # c $X")]));
    }

    #[test]
    fn read_dotenv_reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "PORT=8080\nBARE\n").unwrap();
        assert_eq!(read_dotenv(&path).unwrap(), pairs(&[("PORT", "8080")]));
        let missing = read_dotenv(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(missing.contains("cannot read") && missing.contains("nope"), "{missing}");
    }
}
