//! A JSON body parsed once and shared by every check that reads it.
//!
//! The limit check, injection inspection and schema validation all need the same tokens. Each
//! used to lex the body itself (and schema validation built a `serde_json::Value`, an
//! allocation per string, key and object). [`JsonDoc::parse`] runs the limit-checking scanner
//! once and records a flat *tape*: one small fixed-size entry per value, key and container,
//! in document order, pointing into the body bytes. Nothing is copied except the unescaped
//! text of strings that contain escapes, which goes into one shared buffer. The injection
//! detector walks the tape ([`JsonView::visit`], the same events as [`super::scan`]) and the
//! OpenAPI validator validates it in place ([`DocNode`]).
//!
//! The tape holds offsets, not references, so a `JsonDoc` can be stored next to the body it
//! was parsed from (the gateway keeps both in the request's extensions) and read through a
//! [`JsonView`], which pairs it with that body again.

use std::borrow::Cow;
use std::ops::ControlFlow;

use super::lexer::{RawStr, unescape};
use super::path::{Frame, JsonPath, Kind};
use super::scanner::{Scanner, Sink};
use super::{JsonEvent, JsonLimits, JsonStats};
use crate::Violation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Null,
    True,
    False,
    Number,
    String,
    Key,
    Object,
    Array,
}

/// One tape entry.
#[derive(Debug, Clone, Copy)]
struct Node {
    tag: Tag,
    escaped: bool,
    /// Strings and keys: the raw text between the quotes; numbers: the number as written.
    start: u32,
    end: u32,
    /// Containers: the index just after the subtree. Escaped strings and keys: the start of
    /// the unescaped text in `JsonDoc::unescaped`.
    a: u32,
    /// Containers: members or elements. Escaped strings and keys: the end of the unescaped
    /// text.
    b: u32,
}

/// A parsed JSON body: see the module documentation. Build it with [`JsonDoc::parse`], read it
/// with [`JsonDoc::view`].
#[derive(Debug, Clone)]
pub struct JsonDoc {
    nodes: Vec<Node>,
    unescaped: String,
    stats: JsonStats,
    body_len: usize,
    /// Some number has an exponent or more than 300 characters, so it might not fit an
    /// `f64` (`1e400`): consumers that need `serde_json` semantics (which refuses those) check
    /// such documents the slow way.
    wide_numbers: bool,
    /// Some object may have a repeated key (see `Tape::key_seen`); when `false`, no object
    /// has one, for certain.
    maybe_duplicate_keys: bool,
}

impl JsonDoc {
    /// Parses `body` under `limits` (the same checks and violations as [`super::check`]) and
    /// keeps the tape.
    pub fn parse(body: &[u8], limits: &JsonLimits) -> Result<JsonDoc, Violation> {
        if let Some(max) = limits.max_body_bytes
            && body.len() as u64 > max
        {
            return Err(super::body_too_large(body.len(), max));
        }
        if u32::try_from(body.len()).is_err() {
            // Offsets are 32-bit; a 4 GiB body is far past any sensible limit anyway.
            return Err(super::body_too_large(body.len(), u64::from(u32::MAX)));
        }
        let mut tape = Tape {
            // About one entry per 10 bytes of typical JSON (short keys and values: the 10 KB
            // bench order has one per 11); growing a large tape copies it, so err on the high
            // side. Grows if needed.
            nodes: Vec::with_capacity(body.len() / 8),
            open: Vec::new(),
            keys: Vec::new(),
            unescaped: String::new(),
            wide_numbers: false,
            maybe_duplicate_keys: false,
        };
        let stats = Scanner::new(body, limits).run(&mut tape)?;
        Ok(JsonDoc {
            nodes: tape.nodes,
            unescaped: tape.unescaped,
            stats,
            body_len: body.len(),
            wide_numbers: tape.wide_numbers,
            maybe_duplicate_keys: tape.maybe_duplicate_keys,
        })
    }

    /// What the scan saw (depth, counts).
    pub fn stats(&self) -> &JsonStats {
        &self.stats
    }

    /// Whether some number might not fit an `f64` (see the field).
    pub fn has_wide_numbers(&self) -> bool {
        self.wide_numbers
    }

    /// The document read against `body`, which must be the body it was parsed from; `None`
    /// for any other body.
    pub fn view<'a>(&'a self, body: &'a [u8]) -> Option<JsonView<'a>> {
        if body.len() != self.body_len {
            return None;
        }
        // A body the scanner accepted is valid UTF-8 (strings are validated, everything else is
        // ASCII), so this succeeds, and every string and number is a `&str` slice of it.
        // `simdutf8` checks the 10 KB bench order in ≈ 3 k instructions, `std::str::from_utf8`
        // in ≈ 10 k.
        let text = simdutf8::basic::from_utf8(body).ok()?;
        Some(JsonView { doc: self, text })
    }
}

/// Builds the tape from the scanner's events.
struct Tape {
    nodes: Vec<Node>,
    /// The containers still open.
    open: Vec<Open>,
    /// Fingerprints of the keys of the open objects so far (see `raw_key_fingerprint`).
    keys: Vec<u64>,
    unescaped: String,
    wide_numbers: bool,
    maybe_duplicate_keys: bool,
}

/// A container still open while the tape is built.
struct Open {
    /// Its tape index.
    node: u32,
    /// Where its keys start in `Tape::keys`.
    keys: u32,
    /// One bit per fingerprint of its keys so far (see `fingerprint_bit`): a key whose bit is
    /// not set has a new fingerprint, with no search.
    seen: u64,
}

/// Objects with more keys than this are not screened key by key (quadratic); a document
/// with one is checked in full by [`JsonView::has_duplicate_keys`].
const SCREENED_KEYS: usize = 16;

impl Tape {
    /// Screens each key against the earlier keys of its object while parsing, so that
    /// [`JsonView::has_duplicate_keys`] (asked of every body validated through the tape)
    /// need not walk the document again: equal keys have equal fingerprints, so without a
    /// fingerprint match, an escaped key (whose raw bytes are not its text) or a large object
    /// there is no repeated key.
    #[inline]
    fn key_seen(&mut self, raw: RawStr, body: &[u8]) {
        if self.maybe_duplicate_keys {
            return;
        }
        // Keys only occur inside an object.
        let Some(top) = self.open.last_mut() else {
            return;
        };
        let earlier = self.keys.get(top.keys as usize..).unwrap_or_default();
        let fingerprint = raw_key_fingerprint(&body[raw.start..raw.end]);
        let bit = fingerprint_bit(fingerprint);
        if raw.escaped
            || earlier.len() >= SCREENED_KEYS
            || (top.seen & bit != 0 && earlier.contains(&fingerprint))
        {
            self.maybe_duplicate_keys = true;
        } else {
            top.seen |= bit;
            self.keys.push(fingerprint);
        }
    }

    #[inline(always)]
    fn push(&mut self, tag: Tag, start: usize, end: usize) {
        // Offsets fit: `JsonDoc::parse` refuses bodies of 4 GiB and more.
        self.nodes.push(Node {
            tag,
            escaped: false,
            start: start as u32,
            end: end as u32,
            a: 0,
            b: 0,
        });
    }

    #[inline(always)]
    fn push_text(&mut self, tag: Tag, raw: RawStr, body: &[u8]) {
        self.push(tag, raw.start, raw.end);
        if raw.escaped {
            self.unescape_last(raw, body);
        }
    }

    /// Decodes the escaped string or key just pushed into `unescaped`. Out of line: rare,
    /// and it would cost every other string the registers it needs.
    #[inline(never)]
    fn unescape_last(&mut self, raw: RawStr, body: &[u8]) {
        if let Some(node) = self.nodes.last_mut() {
            let text = String::from_utf8_lossy(&body[raw.start..raw.end]);
            let a = self.unescaped.len();
            self.unescaped.push_str(&unescape(&text));
            node.escaped = true;
            node.a = a as u32;
            node.b = self.unescaped.len() as u32;
        }
    }
}

impl Sink for Tape {
    #[inline]
    fn open(&mut self, kind: Kind, pos: usize) {
        self.open.push(Open {
            node: self.nodes.len() as u32,
            keys: self.keys.len() as u32,
            seen: 0,
        });
        let tag = match kind {
            Kind::Object => Tag::Object,
            Kind::Array => Tag::Array,
        };
        self.push(tag, pos, pos + 1);
    }

    #[inline]
    fn close(&mut self, count: u64) {
        let next = self.nodes.len() as u32;
        let Some(open) = self.open.pop() else {
            return;
        };
        self.keys.truncate(open.keys as usize);
        if let Some(node) = self.nodes.get_mut(open.node as usize) {
            node.a = next;
            node.b = u32::try_from(count).unwrap_or(u32::MAX);
        }
    }

    #[inline]
    fn key(&mut self, _: &JsonPath<'_>, raw: RawStr, body: &[u8]) -> ControlFlow<()> {
        self.key_seen(raw, body);
        self.push_text(Tag::Key, raw, body);
        ControlFlow::Continue(())
    }

    #[inline]
    fn string(&mut self, _: &JsonPath<'_>, raw: RawStr, body: &[u8]) -> ControlFlow<()> {
        self.push_text(Tag::String, raw, body);
        ControlFlow::Continue(())
    }

    #[inline]
    fn number(
        &mut self,
        _: &JsonPath<'_>,
        start: usize,
        end: usize,
        body: &[u8],
    ) -> ControlFlow<()> {
        if end - start > 300 || body[start..end].iter().any(|b| matches!(b, b'e' | b'E')) {
            self.wide_numbers = true;
        }
        self.push(Tag::Number, start, end);
        ControlFlow::Continue(())
    }

    #[inline]
    fn literal(&mut self, first: u8) {
        let tag = match first {
            b't' => Tag::True,
            b'f' => Tag::False,
            _ => Tag::Null,
        };
        self.push(tag, 0, 0);
    }
}

/// A key or string of a document, unescaped ([`JsonView::texts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonText<'a> {
    Key(&'a str),
    String(&'a str),
}

/// The keys and strings of a document in order ([`JsonView::texts`]).
#[derive(Debug, Clone)]
pub struct Texts<'a> {
    view: JsonView<'a>,
    next: usize,
}

impl<'a> Iterator for Texts<'a> {
    type Item = (usize, JsonText<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let nodes = &self.view.doc.nodes;
        while let Some(node) = nodes.get(self.next) {
            let i = self.next;
            self.next += 1;
            match node.tag {
                Tag::Key => return Some((i, JsonText::Key(self.view.text_of(node)))),
                Tag::String => return Some((i, JsonText::String(self.view.text_of(node)))),
                _ => {}
            }
        }
        None
    }
}

/// A [`JsonDoc`] together with the body it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct JsonView<'a> {
    doc: &'a JsonDoc,
    text: &'a str,
}

impl<'a> JsonView<'a> {
    /// Whether this is a view of exactly `body` (the same bytes in memory).
    pub fn is_of(self, body: &[u8]) -> bool {
        std::ptr::eq(self.text.as_bytes(), body)
    }

    /// The parsed document.
    pub fn doc(self) -> &'a JsonDoc {
        self.doc
    }

    /// The root value.
    pub fn root(self) -> DocNode<'a> {
        DocNode { view: self, idx: 0 }
    }

    /// Calls `visit` for every key, string and number in document order with its location:
    /// the same events [`super::scan`] produces for this body. Stops when `visit` breaks.
    /// The strings are borrowed from the body and the tape, for as long as they live.
    pub fn visit<V>(self, visit: &mut V)
    where
        V: FnMut(&JsonPath<'_>, JsonEvent<'a>) -> ControlFlow<()> + ?Sized,
    {
        self.walk(&mut |_, path, event| visit(path, event));
    }

    /// Every key and string in document order, unescaped, with its tape index: what
    /// [`JsonView::visit`] reports for them, without building locations. A consumer that needs
    /// the location of the rare value it reports asks [`JsonView::path_at`] for it.
    pub fn texts(self) -> Texts<'a> {
        Texts {
            view: self,
            next: 0,
        }
    }

    /// The rendered location (as [`JsonPath::render`] shows it to [`JsonView::visit`]) of the
    /// key, string or number at tape index `idx` (from [`JsonView::texts`]); `None` for other
    /// indices.
    pub fn path_at(self, idx: usize) -> Option<String> {
        let mut found = None;
        self.walk(&mut |i, path, _| {
            if i == idx {
                found = Some(path.render());
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found
    }

    /// [`JsonView::visit`] with the tape index of each event's node.
    fn walk<V>(self, visit: &mut V)
    where
        V: FnMut(usize, &JsonPath<'_>, JsonEvent<'a>) -> ControlFlow<()> + ?Sized,
    {
        let body = self.text.as_bytes();
        // Open containers: their frame (as the scanner keeps it) and where their subtree ends.
        let mut frames: Vec<Frame> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        for (i, node) in self.doc.nodes.iter().enumerate() {
            while ends.last().is_some_and(|&end| end <= i) {
                ends.pop();
                frames.pop();
            }
            if node.tag != Tag::Key
                && let Some(frame) = frames.last_mut().filter(|f| f.kind == Kind::Array)
            {
                frame.count += 1;
            }
            let flow = match node.tag {
                Tag::Key => {
                    if let Some(frame) = frames.last_mut() {
                        frame.count += 1;
                        frame.key = Some(RawStr {
                            start: node.start as usize,
                            end: node.end as usize,
                            escaped: node.escaped,
                        });
                    }
                    visit(
                        i,
                        &JsonPath::new(body, &frames),
                        JsonEvent::Key(Cow::Borrowed(self.text_of(node))),
                    )
                }
                Tag::String => visit(
                    i,
                    &JsonPath::new(body, &frames),
                    JsonEvent::String(Cow::Borrowed(self.text_of(node))),
                ),
                Tag::Number => visit(
                    i,
                    &JsonPath::new(body, &frames),
                    JsonEvent::Number(self.raw(node)),
                ),
                Tag::Object | Tag::Array => {
                    let kind = if node.tag == Tag::Object {
                        Kind::Object
                    } else {
                        Kind::Array
                    };
                    frames.push(Frame::new(kind));
                    ends.push(node.a as usize);
                    ControlFlow::Continue(())
                }
                Tag::Null | Tag::True | Tag::False => ControlFlow::Continue(()),
            };
            if flow.is_break() {
                return;
            }
        }
    }

    /// Whether some object has the same (unescaped) key twice. `serde_json` keeps the last
    /// of them; consumers that must agree with it check such documents the slow way.
    pub fn has_duplicate_keys(self) -> bool {
        if !self.doc.maybe_duplicate_keys {
            return false;
        }
        let nodes = &self.doc.nodes;
        nodes.iter().enumerate().any(|(i, n)| {
            if n.tag != Tag::Object || n.b < 2 {
                return false;
            }
            let mut members = DocNode { view: self, idx: i }.members();
            if n.b <= 16 {
                // Small objects: compare pairwise, without allocating.
                // Keys are compared by a fingerprint first (length and end bytes): the
                // keys of one object mostly differ there, so few need a full comparison.
                let mut keys = [("", 0u64); 16];
                let mut count = 0;
                for ((key, _), slot) in members.zip(keys.iter_mut()) {
                    *slot = (key, key_fingerprint(key));
                    count += 1;
                }
                let keys = &keys[..count];
                (0..count).any(|j| {
                    keys[j + 1..]
                        .iter()
                        .any(|k| k.1 == keys[j].1 && k.0 == keys[j].0)
                })
            } else {
                let mut seen = std::collections::HashSet::with_capacity(n.b as usize);
                !members.all(|(k, _)| seen.insert(k))
            }
        })
    }

    fn raw(self, node: &Node) -> &'a str {
        self.text
            .get(node.start as usize..node.end as usize)
            .unwrap_or_default()
    }

    /// The text of a string or key, unescaped.
    fn text_of(self, node: &Node) -> &'a str {
        if node.escaped {
            self.doc
                .unescaped
                .get(node.a as usize..node.b as usize)
                .unwrap_or_default()
        } else {
            self.raw(node)
        }
    }

    fn node(self, idx: usize) -> Option<&'a Node> {
        self.doc.nodes.get(idx)
    }
}

/// One value of a [`JsonView`]. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct DocNode<'a> {
    view: JsonView<'a>,
    idx: usize,
}

/// The kind of a [`DocNode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl<'a> DocNode<'a> {
    fn node(self) -> Option<&'a Node> {
        self.view.node(self.idx)
    }

    /// What kind of value this is.
    pub fn kind(self) -> DocKind {
        match self.node().map(|n| n.tag) {
            Some(Tag::True | Tag::False) => DocKind::Bool,
            Some(Tag::Number) => DocKind::Number,
            Some(Tag::String | Tag::Key) => DocKind::String,
            Some(Tag::Array) => DocKind::Array,
            Some(Tag::Object) => DocKind::Object,
            Some(Tag::Null) | None => DocKind::Null,
        }
    }

    /// A string's text, unescaped.
    pub fn as_str(self) -> Option<&'a str> {
        let node = self.node()?;
        (node.tag == Tag::String).then(|| self.view.text_of(node))
    }

    /// A number as written in the body.
    pub fn number_text(self) -> Option<&'a str> {
        let node = self.node()?;
        (node.tag == Tag::Number).then(|| self.view.raw(node))
    }

    pub fn as_bool(self) -> Option<bool> {
        match self.node()?.tag {
            Tag::True => Some(true),
            Tag::False => Some(false),
            _ => None,
        }
    }

    /// Members of an object or elements of an array (0 for anything else).
    pub fn len(self) -> usize {
        match self.node() {
            Some(n) if matches!(n.tag, Tag::Object | Tag::Array) => n.b as usize,
            _ => 0,
        }
    }

    /// Whether this is an empty container (or not a container).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// A stable number for this node within its document (its tape index).
    pub fn index(self) -> usize {
        self.idx
    }

    /// An object's members in document order (empty for anything else).
    pub fn members(self) -> Members<'a> {
        let (at, end) = match self.node() {
            Some(n) if n.tag == Tag::Object => (self.idx + 1, n.a as usize),
            _ => (0, 0),
        };
        Members {
            view: self.view,
            at,
            end,
        }
    }

    /// An array's elements in order (empty for anything else).
    pub fn elements(self) -> Elements<'a> {
        let (at, end) = match self.node() {
            Some(n) if n.tag == Tag::Array => (self.idx + 1, n.a as usize),
            _ => (0, 0),
        };
        Elements {
            view: self.view,
            at,
            end,
        }
    }

    /// The value of the member named `key` (the last one, if the key repeats).
    pub fn get(self, key: &str) -> Option<DocNode<'a>> {
        self.members()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }
}

impl DocNode<'_> {
    /// The value as a `serde_json::Value`, as `serde_json::from_slice` would have built it
    /// (numbers parsed by `serde_json` itself, the last of repeated keys kept). For error
    /// reports and other cold paths. Nesting deeper than 128 (where `serde_json` gives up) is
    /// cut off as `null`.
    pub fn to_value(self) -> serde_json::Value {
        self.to_value_at(0)
    }

    fn to_value_at(self, depth: usize) -> serde_json::Value {
        use serde_json::Value;
        match self.kind() {
            DocKind::Null => Value::Null,
            DocKind::Bool => Value::Bool(self.as_bool().unwrap_or_default()),
            DocKind::Number => self
                .number_text()
                .and_then(|t| serde_json::from_str::<serde_json::Number>(t).ok())
                .map_or(Value::Null, Value::Number),
            DocKind::String => Value::String(self.as_str().unwrap_or_default().to_owned()),
            _ if depth >= 128 => Value::Null,
            DocKind::Array => {
                Value::Array(self.elements().map(|e| e.to_value_at(depth + 1)).collect())
            }
            DocKind::Object => Value::Object(
                self.members()
                    .map(|(k, v)| (k.to_owned(), v.to_value_at(depth + 1)))
                    .collect(),
            ),
        }
    }
}

/// Iterator over an object's members.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    view: JsonView<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, DocNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        // The key and its value, looked up once each (the schema validator walks the members
        // of every object, often more than once).
        let key = self.view.node(self.at)?;
        let idx = self.at + 1;
        let value = self.view.node(idx)?;
        self.at = match value.tag {
            Tag::Object | Tag::Array => value.a as usize,
            _ => idx + 1,
        };
        Some((
            self.view.text_of(key),
            DocNode {
                view: self.view,
                idx,
            },
        ))
    }
}

/// A key's length, first and last byte in one word: equal keys have equal fingerprints, and
/// the keys of one object mostly differ in one of those (no copy, no call: cheaper than
/// comparing the bytes).
fn key_fingerprint(key: &str) -> u64 {
    let b = key.as_bytes();
    let (first, last) = (b.first().copied(), b.last().copied());
    (b.len() as u64) << 16 | u64::from(first.unwrap_or(0)) << 8 | u64::from(last.unwrap_or(0))
}

/// A key's raw bytes folded into one word: its first and last four bytes (overlapping when
/// shorter than eight) and its length, with two loads and no copy loop. Equal keys have equal
/// fingerprints; the keys of one object rarely share all of that.
#[inline(always)]
fn raw_key_fingerprint(key: &[u8]) -> u64 {
    let len = key.len();
    let ends = match (key.first_chunk::<4>(), key.last_chunk::<4>()) {
        (Some(head), Some(tail)) => {
            u64::from(u32::from_le_bytes(*head)) << 32 | u64::from(u32::from_le_bytes(*tail))
        }
        _ => key.iter().fold(0, |word, &b| word << 8 | u64::from(b)),
    };
    ends ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// One of 64 bits for a key fingerprint: its top six bits after a multiplicative hash (the
/// fingerprint's low bits are mostly the keys' last bytes, which many keys share).
#[inline(always)]
fn fingerprint_bit(fingerprint: u64) -> u64 {
    1 << (fingerprint.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// Iterator over an array's elements.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    view: JsonView<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = DocNode<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let idx = self.at;
        let value = self.view.node(idx)?;
        self.at = match value.tag {
            Tag::Object | Tag::Array => value.a as usize,
            _ => idx + 1,
        };
        Some(DocNode {
            view: self.view,
            idx,
        })
    }
}

#[cfg(test)]
mod tests;
