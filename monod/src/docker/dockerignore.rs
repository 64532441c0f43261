//! `.dockerignore` patterns, read and matched as Docker reads and matches
//! them (moby's `patternmatcher` and `ignorefile`), so a build sends the
//! engine exactly the files `docker build` and `docker compose build` send.
//!
//! Docker's rules differ from `.gitignore`'s, which is why no gitignore
//! crate fits: a pattern is matched against the whole path from the context
//! root (`foo` is only the top-level `foo`, `**/foo` is any), after Go's
//! `filepath.Clean` and with a leading `/` dropped; `*` and `?` stop at `/`,
//! `**` crosses folders, `[...]` is a class and `\` escapes; a pattern that
//! matches a folder excludes everything in it; `!` makes an exception and
//! the last matching line decides.

use std::path::Path;

/// The patterns of one ignore file, in order.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// `!pattern`: an exception.
    exception: bool,
    /// The cleaned pattern, without `!`.
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard: the path itself.
    Exact,
    /// `prefix**`: any path starting with the prefix.
    Prefix(String),
    /// `**suffix`: any path ending with the suffix (and `**/x` also `x`).
    Suffix(String),
    /// Anything else, matched token by token.
    Glob(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` (or `**` before more pattern): nothing, or anything ending in `/`.
    Folders,
    /// A trailing `**`: anything.
    Rest,
}

/// A line of an ignore file that is not a valid pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {pattern:?} is not a valid pattern ({reason})")]
pub struct PatternError {
    /// The line, from 1.
    pub line: usize,
    /// The line's pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Patterns {
    /// Reads an ignore file's text: a UTF-8 byte order mark is skipped,
    /// lines starting with `#` are comments, blank lines are skipped.
    pub fn parse(text: &str) -> Result<Patterns, PatternError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
            }
            let error = |reason| PatternError { line: index + 1, pattern: line.trim().to_string(), reason };
            if pattern.is_empty() {
                return Err(error("a lone `!` excludes nothing"));
            }
            let cleaned = clean(pattern);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_string(),
                _ => cleaned,
            };
            let kind = compile(&cleaned).map_err(error)?;
            rules.push(Rule { exception, text: cleaned, kind });
        }
        Ok(Patterns { rules })
    }

    /// Reads the ignore file at `path`; a missing file has no patterns.
    pub fn read(path: &Path) -> Result<Option<Patterns>, ReadError> {
        match mono_compose::input::read_text(path, mono_compose::input::MAX_FILE_BYTES) {
            Ok(text) => Patterns::parse(&text).map(Some).map_err(ReadError::Pattern),
            Err(mono_compose::input::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(ReadError::Read(e.to_string())),
        }
    }

    /// Adds an exception for `path` when the patterns exclude it: Docker
    /// always sends the Dockerfile and the `.dockerignore` itself.
    pub fn keep(&mut self, path: &str) {
        if self.excludes(path) {
            let text = clean(path);
            if let Ok(kind) = compile(&text) {
                self.rules.push(Rule { exception: true, text, kind });
            }
        }
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left
    /// out: the last rule matching it or one of its parent folders decides.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = match path.rfind('/') {
            Some(end) => {
                path[..end].match_indices('/').map(|(i, _)| &path[..i]).chain([&path[..end]]).collect()
            }
            None => Vec::new(),
        };
        let mut excluded = false;
        for rule in &self.rules {
            // An exclusion cannot change an excluded path, nor an exception
            // an included one.
            if rule.exception != excluded {
                continue;
            }
            if rule.matches(path) || parents.iter().any(|p| rule.matches(p)) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether an excluded folder must still be walked because an exception
    /// may bring back something inside it (Docker's test: an exception
    /// pattern that starts with the folder's path).
    pub fn may_keep_inside(&self, folder: &str) -> bool {
        let prefix = format!("{folder}/");
        self.rules.iter().any(|r| r.exception && format!("{}/", r.text).starts_with(&prefix))
    }
}

/// An ignore file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Unreadable or too large.
    #[error("{0}")]
    Read(String),
    /// A line is not a pattern.
    #[error(transparent)]
    Pattern(PatternError),
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(tokens) => glob(tokens, &path.chars().collect::<Vec<_>>()),
        }
    }
}

/// Go's `filepath.Clean` for `/`-separated paths: repeated separators,
/// `.` and trailing separators removed, `..` resolved lexically.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The pattern's kind, as moby's `Pattern.compile` decides it.
fn compile(pattern: &str) -> Result<Kind, &'static str> {
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let mut detected = Detected::Exact;
    let mut tokens = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let first = i == 0;
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if matches!(detected, Detected::Exact) {
                        detected = Detected::Prefix;
                    } else {
                        tokens.push(Token::Rest);
                        detected = Detected::Glob;
                    }
                } else {
                    tokens.push(Token::Folders);
                    detected = Detected::Glob;
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                detected = Detected::Glob;
            }
            '?' => {
                tokens.push(Token::One);
                detected = Detected::Glob;
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    tokens.push(Token::Literal(next));
                    i += 1;
                    detected = Detected::Glob;
                }
                None => tokens.push(Token::Literal('\\')),
            },
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    let Some(&c) = chars.get(i) else { return Err("a `[` is never closed") };
                    i += 1;
                    let low = match c {
                        ']' if !ranges.is_empty() => break,
                        '\\' => {
                            let Some(&escaped) = chars.get(i) else { return Err("a `[` is never closed") };
                            i += 1;
                            escaped
                        }
                        other => other,
                    };
                    let high = if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
                        let high = chars[i + 1];
                        i += 2;
                        if high < low {
                            return Err("a range in `[...]` runs backwards");
                        }
                        high
                    } else {
                        low
                    };
                    ranges.push((low, high));
                }
                tokens.push(Token::Class { negated, ranges });
                detected = Detected::Glob;
            }
            ']' => {
                tokens.push(Token::Literal(']'));
                detected = Detected::Glob;
            }
            other => tokens.push(Token::Literal(other)),
        }
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern.get(2..).unwrap_or("").to_string()),
        Detected::Glob => Kind::Glob(tokens),
    })
}

/// Whether `tokens` match all of `text`.
fn glob(tokens: &[Token], text: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else { return text.is_empty() };
    match token {
        Token::Literal(c) => text.first() == Some(c) && glob(rest, &text[1..]),
        Token::One => text.first().is_some_and(|&c| c != '/') && glob(rest, &text[1..]),
        Token::Class { negated, ranges } => text.first().is_some_and(|&c| {
            ranges.iter().any(|&(low, high)| (low..=high).contains(&c)) != *negated && glob(rest, &text[1..])
        }),
        Token::Star => {
            let run = text.iter().take_while(|&&c| c != '/').count();
            (0..=run).any(|n| glob(rest, &text[n..]))
        }
        Token::Folders => {
            glob(rest, text) || (1..=text.len()).any(|n| text[n - 1] == '/' && glob(rest, &text[n..]))
        }
        Token::Rest => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        Patterns::parse(patterns).unwrap().excludes(path)
    }

    /// Cases from moby's patternmatcher tests (pattern, path, matched).
    #[test]
    fn patterns_match_as_docker_matches_them() {
        for (pattern, path, want) in [
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "dir/file", true),
            ("**/file", "file", true),
            ("**/file", "dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/g/file", true),
            ("**file", "file", true),
            ("**file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("dir/**/*.txt", "dir/dir2/file.txt", true),
            ("dir/**/*.txt", "dir/file.txt", true),
            ("dir/**/*.txt", "dir/a/b/file.txt", true),
            ("*.txt", "dir/file.txt", false),
            ("*.txt", "file.txt", true),
            ("a[b-d]e", "ace", true),
            ("a[^b-d]e", "ace", false),
            ("a[^b-d]e", "aze", true),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("/node_modules", "node_modules/x/y", true),
            ("./node_modules/", "node_modules/x", true),
            ("a/../b", "b/c", true),
            ("node_modules", "app/node_modules/x", false),
            ("**/node_modules", "app/node_modules/x", true),
            ("*", "anything/inside", true),
        ] {
            assert_eq!(excluded(pattern, path), want, "{pattern:?} on {path:?}");
        }
    }

    #[test]
    fn the_last_matching_line_decides() {
        let rules = "# comment\n*.md\n!README.md\n\nbuild/\n!build/keep\n";
        assert!(excluded(rules, "CHANGES.md"));
        assert!(!excluded(rules, "README.md"));
        assert!(excluded(rules, "build/out.o"));
        assert!(!excluded(rules, "build/keep"));
        let patterns = Patterns::parse(rules).unwrap();
        assert!(patterns.may_keep_inside("build"));
        assert!(!Patterns::parse("build\n").unwrap().may_keep_inside("build"));
        assert!(excluded("\u{feff}secret\n", "secret"), "a BOM is skipped");
    }

    #[test]
    fn bad_lines_are_named() {
        let e = Patterns::parse("ok\n!\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = Patterns::parse("a[b\n").unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
    }

    #[test]
    fn keep_brings_back_the_dockerfile() {
        let mut patterns = Patterns::parse("*\n").unwrap();
        patterns.keep("Dockerfile");
        patterns.keep(".dockerignore");
        assert!(!patterns.excludes("Dockerfile") && !patterns.excludes(".dockerignore"));
        assert!(patterns.excludes("src"));
    }
}
