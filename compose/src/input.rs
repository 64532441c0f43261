//! Bounds on the files mono reads from a workspace (`mono.yml`, compose
//! files and the env files they name), checked before they are parsed, so
//! that no file can make an operation run for minutes.
//!
//! - **Size.** A file larger than [`MAX_FILE_BYTES`] is refused before it is
//!   read. Real ones are a few KiB (the largest compose files seen are
//!   under 100 KiB), so the limit is far above any, and it bounds the work
//!   of everything after: parsing, interpolation, the session's variables.
//! - **Nesting.** The YAML parser's work grows with the number of tokens
//!   times the depth of the flow collections (`[...]`, `{...}`) around them:
//!   its scanner walks one saved key per open collection for every token,
//!   so 100,000 nested `[` took 37 s to reject. [`too_deep`] finds such
//!   nesting in one linear pass and the file is refused before the parser
//!   sees it. Block nesting (indentation) costs the parser nothing extra,
//!   and the YAML deserialiser refuses more than 128 levels of anything.

use std::io::Read;
use std::path::Path;

/// The largest workspace file mono reads.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The deepest nesting of YAML flow collections mono parses. Real files
/// nest two or three.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It is larger than the limit.
    #[error("{} ({size} bytes), more than the {} mono reads", human(*size), human(*limit))]
    TooLarge {
        /// Its size (at least; a file still growing may be larger).
        size: u64,
        /// The limit.
        limit: u64,
    },
}

/// `4.0 MiB`.
pub fn human(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

/// Reads a UTF-8 text file of at most `limit` bytes. A larger one is
/// refused from its size before anything is read, and a file that grows
/// (or claims no size, like a device) is never read beyond the limit.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text)?;
    let read = text.len() as u64;
    if read > limit {
        return Err(ReadError::TooLarge { size: read, limit });
    }
    Ok(text)
}

/// Where `text` opens a YAML flow collection deeper than `limit` (1-based
/// line and column), as libyaml's scanner would see it: brackets count
/// where a token starts, not inside quoted, plain or block scalars or
/// comments. Where this reading is unsure it counts a bracket rather than
/// skip it, so it may refuse an odd file but never lets deep nesting
/// through. One pass, no allocation.
pub fn too_deep(text: &str, limit: usize) -> Option<(usize, usize)> {
    let mut scan = Scan { b: text.as_bytes(), i: 0, line: 1, line_start: 0, depth: 0 };
    while scan.i < scan.b.len() {
        if let Some(at) = scan.token(limit) {
            return Some(at);
        }
    }
    None
}

/// The state of [`too_deep`]'s pass.
struct Scan<'a> {
    b: &'a [u8],
    /// The next byte.
    i: usize,
    line: usize,
    line_start: usize,
    /// Open flow collections.
    depth: usize,
}

impl Scan<'_> {
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(b'\n')
    }

    fn blank(&self, i: usize) -> bool {
        matches!(self.at(i), b' ' | b'\t' | b'\r' | b'\n')
    }

    fn column(&self) -> usize {
        self.i - self.line_start
    }

    /// Moves past one byte, counting lines.
    fn bump(&mut self) {
        if self.at(self.i) == b'\n' {
            self.line += 1;
            self.line_start = self.i + 1;
        }
        self.i += 1;
    }

    fn skip_line(&mut self) {
        while self.i < self.b.len() && self.b[self.i] != b'\n' {
            self.i += 1;
        }
    }

    /// Scans what starts at `self.i`; the position of a collection opened
    /// past the limit.
    fn token(&mut self, limit: usize) -> Option<(usize, usize)> {
        let c = self.at(self.i);
        let flow = self.depth > 0;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | b',' => self.bump(),
            b'#' => self.skip_line(),
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > limit {
                    return Some((self.line, self.column() + 1));
                }
                self.bump();
            }
            b']' | b'}' => {
                self.depth = self.depth.saturating_sub(1);
                self.bump();
            }
            b'"' => self.quoted(b'"'),
            b'\'' => self.quoted(b'\''),
            b'|' | b'>' if !flow => self.block_scalar(),
            b'-' | b'?' | b':' if self.blank(self.i + 1) => self.bump(),
            b':' if flow && matches!(self.at(self.i + 1), b',' | b'[' | b']' | b'{' | b'}') => self.bump(),
            b'%' if self.column() == 0 => self.skip_line(),
            b'-' | b'.'
                if self.column() == 0
                    && self.b[self.i..].starts_with(if c == b'-' { b"---" } else { b"..." })
                    && self.blank(self.i + 3) =>
            {
                self.i += 3;
            }
            b'&' | b'*' | b'!' => {
                // Anchors, aliases and tags end at a blank or a flow indicator.
                while !self.blank(self.i) && !matches!(self.at(self.i), b',' | b'[' | b']' | b'{' | b'}') {
                    self.i += 1;
                }
            }
            _ => self.plain(flow),
        }
        None
    }

    /// A quoted scalar, from its opening quote to its closing one (`\x`
    /// escapes in double quotes, `''` in single quotes), over lines.
    fn quoted(&mut self, quote: u8) {
        self.bump();
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == quote && quote == b'\'' && self.at(self.i + 1) == b'\'' {
                self.i += 2;
            } else if c == quote {
                self.i += 1;
                return;
            } else if c == b'\\' && quote == b'"' {
                self.i += 1;
                self.bump();
            } else {
                self.bump();
            }
        }
    }

    /// A plain scalar up to where it ends: `: ` or ` #`, the end of the
    /// line, and in a flow collection also `,[]{}`.
    fn plain(&mut self, flow: bool) {
        while self.i < self.b.len() {
            let c = self.b[self.i];
            let ends = match c {
                b'\n' => true,
                b':' => {
                    self.blank(self.i + 1)
                        || (flow && matches!(self.at(self.i + 1), b',' | b'[' | b']' | b'{' | b'}'))
                }
                b'#' => self.i > 0 && matches!(self.b[self.i - 1], b' ' | b'\t'),
                b',' | b'[' | b']' | b'{' | b'}' => flow,
                _ => false,
            };
            if ends {
                return;
            }
            self.i += 1;
        }
    }

    /// A block scalar (`|` or `>` in block context): its header line, then
    /// every line indented as deep as its first non-empty one, if that is
    /// deeper than the node the scalar belongs to, and the empty lines
    /// among them.
    fn block_scalar(&mut self) {
        let parent = self.parent_indent();
        self.skip_line();
        let mut content: Option<usize> = None;
        while self.i < self.b.len() {
            // At a line break: look at the next line.
            let start = self.i + 1;
            let mut j = start;
            while j < self.b.len() && self.b[j] == b' ' {
                j += 1;
            }
            let indent = j - start;
            let empty = matches!(self.at(j), b'\n' | b'\r');
            let inside = match content {
                _ if empty => true,
                Some(n) => indent >= n,
                None if indent > parent => {
                    content = Some(indent);
                    true
                }
                None => false,
            };
            if !inside {
                return;
            }
            self.bump();
            self.skip_line();
        }
    }

    /// The indentation a block scalar's content must exceed: the column
    /// of the key it is the value of, or of the `-` entry it is, on its
    /// line.
    fn parent_indent(&self) -> usize {
        let mut p = self.line_start;
        while self.at(p) == b' ' {
            p += 1;
        }
        let mut last_dash = None;
        while self.at(p) == b'-' && self.blank(p + 1) && p < self.i {
            last_dash = Some(p);
            p += 1;
            while self.at(p) == b' ' {
                p += 1;
            }
        }
        match last_dash {
            Some(dash) if p == self.i => dash - self.line_start,
            None if p == self.i => (p - self.line_start).saturating_sub(1),
            _ => p - self.line_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str, limit: usize) -> bool {
        too_deep(text, limit).is_none()
    }

    #[test]
    fn counts_flow_collections_where_tokens_start() {
        assert!(depth_ok("a: [[1, 2], {b: [3]}]\n", 3));
        assert_eq!(too_deep("a: [[1, 2], {b: [3]}]\n", 2), Some((1, 17)));
        assert_eq!(too_deep("a:\n  - [\n    [\n      [x]]]\n", 2), Some((4, 7)));
        let deep = format!("env:\n  A: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(too_deep(&deep, MAX_FLOW_DEPTH), Some((2, 6 + MAX_FLOW_DEPTH)));
        let deep_maps = format!("x: {}1{}\n", "{a: ".repeat(100), "}".repeat(100));
        assert!(too_deep(&deep_maps, MAX_FLOW_DEPTH).is_some());
    }

    #[test]
    fn brackets_in_scalars_and_comments_do_not_count() {
        let text = concat!(
            "a: plain [[[ text {{{\n",
            "b: \"[[[ \\\" [[[\"\n",
            "c: 'it''s [[[['\n",
            "d: x # [[[[ comment\n",
            "# [[[[ a comment line\n",
            "e: it's [[[[\n",
            "f: |\n",
            "  if [[ -f x ]; then [[[[\n",
            "\n",
            "    echo {{{{\n",
            "g: >-\n",
            "   [[[[ folded\n",
            "h: [ok, \"[[[[\", '{{{{']\n",
            "- key: |\n",
            "    [[[[\n",
            "  next: [1]\n",
            "- |\n",
            "  [[[[\n",
            "url: http://x/[[[[\n",
        );
        assert!(depth_ok(text, 1), "{:?}", too_deep(text, 1));
    }

    #[test]
    fn a_block_scalar_ends_where_its_indentation_does() {
        // The scalar's content is indented past its key; `b:` is not, so
        // the bracket on its line counts.
        assert_eq!(too_deep("a: |\n  [[[[\nb: [[x]]\n", 1), Some((3, 5)));
        assert_eq!(too_deep("- a: |\n    [[\n  b: [[x]]\n", 1), Some((3, 7)));
    }

    #[test]
    fn files_over_the_limit_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.yml");
        std::fs::write(&path, "x".repeat(1000)).unwrap();
        assert_eq!(read_text(&path, 1000).unwrap().len(), 1000);
        match read_text(&path, 999) {
            Err(ReadError::TooLarge { size: 1000, limit: 999 }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ReadError::TooLarge { size: 9 << 20, limit: MAX_FILE_BYTES }.to_string(),
            "9.0 MiB (9437184 bytes), more than the 4.0 MiB mono reads"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_without_a_size_is_not_read_past_the_limit() {
        match read_text(Path::new("/dev/zero"), 1 << 16) {
            Err(ReadError::TooLarge { size, .. }) => assert_eq!(size, (1 << 16) + 1),
            other => panic!("{other:?}"),
        }
    }
}
