//! JSONPath locations, kept as a view over the scanner's container stack.
//!
//! Locations are needed for every violation and are offered to every visitor call, but most
//! calls never look at them. So a [`JsonPath`] is two borrowed slices (the body and the stack)
//! and is only rendered to text when someone asks: no allocation per event.

use std::borrow::Cow;
use std::fmt;

use super::lexer::RawStr;

/// Keys longer than this are shortened when a path is rendered, so that an error message
/// cannot be inflated by an attacker-chosen key when name lengths are unlimited.
const MAX_RENDERED_KEY_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Object,
    Array,
}

/// One open container on the scanner's explicit stack.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) kind: Kind,
    /// Entries (objects) or elements (arrays) seen so far.
    pub(super) count: u64,
    /// The key of the entry being read (objects only).
    pub(super) key: Option<RawStr>,
}

impl Frame {
    pub(super) fn new(kind: Kind) -> Self {
        Frame {
            kind,
            count: 0,
            key: None,
        }
    }

    fn segment<'a>(&self, body: &'a [u8]) -> Option<PathSegment<'a>> {
        match self.kind {
            Kind::Object => self.key.map(|k| PathSegment::Key(k.decode(body))),
            Kind::Array => self.count.checked_sub(1).map(PathSegment::Index),
        }
    }
}

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment<'a> {
    /// An object member, by its decoded key.
    Key(Cow<'a, str>),
    /// An array element, by its zero-based index.
    Index(u64),
}

/// The location of the current value, as a lazily rendered JSONPath (`$.a.b[3]`,
/// `$['a b'][0]`). `Display` renders it.
#[derive(Clone, Copy)]
pub struct JsonPath<'a> {
    body: &'a [u8],
    frames: &'a [Frame],
}

impl<'a> JsonPath<'a> {
    pub(super) fn new(body: &'a [u8], frames: &'a [Frame]) -> Self {
        JsonPath { body, frames }
    }

    /// The steps from the root to the current value; empty for the root itself.
    pub fn segments(&self) -> impl Iterator<Item = PathSegment<'a>> + 'a {
        let body = self.body;
        self.frames.iter().filter_map(move |f| f.segment(body))
    }

    /// Number of steps from the root (0 for the root value).
    pub fn len(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.segment(self.body).is_some())
            .count()
    }

    /// Whether this is the path of the root value (`$`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders the path, e.g. `$.a.b[3]`.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for segment in self.segments() {
            match segment {
                PathSegment::Index(i) => write!(f, "[{i}]")?,
                PathSegment::Key(k) if is_identifier(&k) => write!(f, ".{k}")?,
                PathSegment::Key(k) => write_quoted_key(f, &k)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonPath({self})")
    }
}

fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && key.len() <= MAX_RENDERED_KEY_CHARS
}

fn write_quoted_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    f.write_str("['")?;
    for (n, c) in key.chars().enumerate() {
        if n == MAX_RENDERED_KEY_CHARS {
            f.write_str("…")?;
            break;
        }
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("']")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_frame(body: &[u8], key: &str) -> Frame {
        let start = body
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .expect("key present in test body");
        Frame {
            kind: Kind::Object,
            count: 1,
            key: Some(RawStr {
                start,
                end: start + key.len(),
                escaped: key.contains('\\'),
            }),
        }
    }

    #[test]
    fn renders_dots_brackets_and_quoted_keys() {
        let body = br#"a b_1 it's x\u0041 "#;
        let frames = vec![
            key_frame(body, "a b"),
            key_frame(body, "_1"),
            Frame {
                kind: Kind::Array,
                count: 4,
                key: None,
            },
            key_frame(body, "it's"),
            key_frame(body, r"x\u0041"),
            Frame::new(Kind::Array),
        ];
        let path = JsonPath::new(body, &frames);
        assert_eq!(path.render(), r"$['a b']._1[3]['it\'s'].xA");
        assert_eq!(path.len(), 5);
        assert_eq!(JsonPath::new(body, &[]).render(), "$");
        assert!(JsonPath::new(body, &frames[5..]).is_empty());
    }

    #[test]
    fn shortens_huge_keys() {
        let key = "k".repeat(1000);
        let frames = vec![key_frame(key.as_bytes(), &key)];
        let rendered = JsonPath::new(key.as_bytes(), &frames).render();
        assert_eq!(
            rendered.chars().count(),
            "$['']…".chars().count() + MAX_RENDERED_KEY_CHARS
        );
    }
}
