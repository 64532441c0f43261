//! Key paths such as `services.db.ports[1]`: where in a compose file a value
//! sits, for messages and for finding the value's line in the source.
//!
//! Walking a document builds [`At`] values on the stack (no allocation); only
//! a problem turns one into an owned [`KeyPath`].

use std::fmt;

use crate::interpolate::InterpolateError;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// An owned key path, root first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// The path's segments, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The service the path is under (`services.<name>...`), if any.
    pub fn service(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Segment::Key(top), Segment::Key(name), ..] if top == "services" => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A borrowed key path, built on the stack while walking a document.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    parent: Option<&'a At<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> At<'a> {
    /// The document's root.
    pub const ROOT: At<'static> = At { parent: None, step: Step::Root };

    /// The value under `key` of the mapping here.
    pub fn key<'b>(&'b self, key: &'b str) -> At<'b> {
        At { parent: Some(self), step: Step::Key(key) }
    }

    /// Element `index` of the list here.
    pub fn index(&self, index: usize) -> At<'_> {
        At { parent: Some(self), step: Step::Index(index) }
    }

    /// The owned path.
    pub fn path(&self) -> KeyPath {
        let mut segments = Vec::new();
        let mut node = Some(self);
        while let Some(at) = node {
            match at.step {
                Step::Root => {}
                Step::Key(k) => segments.push(Segment::Key(k.to_string())),
                Step::Index(i) => segments.push(Segment::Index(i)),
            }
            node = at.parent;
        }
        segments.reverse();
        KeyPath(segments)
    }

    /// A problem with the value here.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem { path: self.path(), kind: ProblemKind::Message(message.into()) }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.path().fmt(f)
    }
}

/// Something wrong at a key path, before the file and line are attached
/// (see `ComposeFile::error`).
#[derive(Debug)]
pub(crate) struct Problem {
    /// Where.
    pub path: KeyPath,
    /// What.
    pub kind: ProblemKind,
}

/// What is wrong at a key path.
#[derive(Debug)]
pub(crate) enum ProblemKind {
    /// A message that says what is wrong and what to do.
    Message(String),
    /// Interpolation failed.
    Interpolation(InterpolateError),
}

/// A problem at a path of mapping keys.
pub(crate) fn problem_at(keys: &[&str], message: String) -> Problem {
    Problem {
        path: KeyPath(keys.iter().map(|k| Segment::Key(k.to_string())).collect()),
        kind: ProblemKind::Message(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keys_and_indices() {
        let root = At::ROOT;
        let services = root.key("services");
        let db = services.key("db");
        let ports = db.key("ports");
        let second = ports.index(1);
        assert_eq!(second.to_string(), "services.db.ports[1]");
        assert_eq!(second.path().service(), Some("db"));
        assert_eq!(At::ROOT.to_string(), "(top level)");
    }
}
