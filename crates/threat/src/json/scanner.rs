//! The streaming JSON state machine.
//!
//! Hand-written rather than built on a parser crate: serde_json and simd-json build values or
//! tapes (memory proportional to the body and recursion proportional to the depth), and the
//! streaming crates we looked at either recurse or hide the container stack we need for
//! limits and paths. The grammar is small (RFC 8259) and the explicit `Vec<Frame>` stack means
//! a 100 000-deep document costs a vector entry per level, never a stack overflow.

use std::ops::ControlFlow;

use super::lexer::{Invalid, RawStr, lex_number, lex_string};
use super::path::{Frame, JsonPath, Kind};
use super::{JsonEvent, JsonLimits, JsonStats};
use crate::Violation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value is required (document start, or after `,` in an array).
    Value,
    /// A member's value is required (after `:`).
    MemberValue,
    /// Just after `[`: a value or `]`.
    ValueOrClose,
    /// Just after `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key is required.
    Key,
    Colon,
    CommaOrClose,
    /// The root value is complete; only whitespace may follow.
    Done,
}

/// What stopped the scan early.
enum Stop {
    Invalid(Invalid),
    /// Boxed: the scanner's functions return `Result<_, Stop>` on every token, and a small
    /// error type keeps those results in registers.
    Violation(Box<Violation>),
    Visitor,
}

fn bad(offset: usize, reason: &'static str) -> Stop {
    Stop::Invalid(Invalid { offset, reason })
}

impl From<Invalid> for Stop {
    fn from(e: Invalid) -> Self {
        Stop::Invalid(e)
    }
}

/// What the scanner reports as it goes: the public visitor of [`super::scan`] (keys, strings
/// and numbers) or the builder of a [`super::JsonDoc`] (every value and container).
pub(super) trait Sink {
    /// A container opens (its first byte is at `pos`).
    fn open(&mut self, _kind: Kind, _pos: usize) {}
    /// The innermost open container closes with `count` members or elements.
    fn close(&mut self, _count: u64) {}
    /// An object key, within limits; the path ends with it.
    fn key(&mut self, path: &JsonPath<'_>, raw: RawStr, body: &[u8]) -> ControlFlow<()>;
    /// A string value, within limits.
    fn string(&mut self, path: &JsonPath<'_>, raw: RawStr, body: &[u8]) -> ControlFlow<()>;
    /// A number, within limits, as written at `start..end`.
    fn number(
        &mut self,
        path: &JsonPath<'_>,
        start: usize,
        end: usize,
        body: &[u8],
    ) -> ControlFlow<()>;
    /// `true`, `false` or `null` (its first byte).
    fn literal(&mut self, _first: u8) {}
}

/// The visitor of [`super::scan`] as a [`Sink`]: strings are decoded for it.
pub(super) struct Visit<'v, 'b, V: ?Sized> {
    pub(super) visit: &'v mut V,
    /// The scanned body as text, if it is valid UTF-8 (one check of the whole body, word at
    /// a time over ASCII, instead of one per string; a valid JSON document always is).
    pub(super) text: Option<&'b str>,
}

impl<'v, 'b, V: ?Sized> Visit<'v, 'b, V> {
    pub(super) fn new(visit: &'v mut V, body: &'b [u8]) -> Self {
        Visit {
            visit,
            text: simdutf8::basic::from_utf8(body).ok(),
        }
    }
}

impl<V> Sink for Visit<'_, '_, V>
where
    V: FnMut(&JsonPath<'_>, JsonEvent<'_>) -> ControlFlow<()> + ?Sized,
{
    fn key(&mut self, path: &JsonPath<'_>, raw: RawStr, body: &[u8]) -> ControlFlow<()> {
        (self.visit)(path, JsonEvent::Key(raw.decode_in(self.text, body)))
    }

    fn string(&mut self, path: &JsonPath<'_>, raw: RawStr, body: &[u8]) -> ControlFlow<()> {
        (self.visit)(path, JsonEvent::String(raw.decode_in(self.text, body)))
    }

    fn number(
        &mut self,
        path: &JsonPath<'_>,
        start: usize,
        end: usize,
        body: &[u8],
    ) -> ControlFlow<()> {
        let text = std::str::from_utf8(&body[start..end]).unwrap_or_default();
        (self.visit)(path, JsonEvent::Number(text))
    }
}

/// A sink that only lets the scan check limits and syntax: nothing is decoded.
pub(super) struct Ignore;

impl Sink for Ignore {
    fn key(&mut self, _: &JsonPath<'_>, _: RawStr, _: &[u8]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    fn string(&mut self, _: &JsonPath<'_>, _: RawStr, _: &[u8]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    fn number(&mut self, _: &JsonPath<'_>, _: usize, _: usize, _: &[u8]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

pub(super) struct Scanner<'a> {
    body: &'a [u8],
    caps: Caps,
    frames: Vec<Frame>,
    stats: JsonStats,
}

/// The limits as plain numbers, `u64::MAX` for none (nothing can exceed it): one comparison
/// per check on the hot path instead of an `Option` test and a comparison.
struct Caps {
    depth: u64,
    object_entries: u64,
    array_elements: u64,
    name_length: u64,
    string_length: u64,
    number_length: u64,
}

impl Caps {
    fn new(limits: &JsonLimits) -> Self {
        let cap = |limit: Option<u64>| limit.unwrap_or(u64::MAX);
        Caps {
            depth: cap(limits.max_depth.map(u64::from)),
            object_entries: cap(limits.max_object_entries),
            array_elements: cap(limits.max_array_elements),
            name_length: cap(limits.max_name_length),
            string_length: cap(limits.max_string_length),
            number_length: cap(limits.max_number_length),
        }
    }
}

impl<'a> Scanner<'a> {
    pub(super) fn new(body: &'a [u8], limits: &JsonLimits) -> Self {
        Scanner {
            body,
            caps: Caps::new(limits),
            frames: Vec::new(),
            stats: JsonStats::default(),
        }
    }

    pub(super) fn run<S: Sink>(mut self, visit: &mut S) -> Result<JsonStats, Violation> {
        match self.states(visit) {
            Ok(()) => Ok(self.stats),
            Err(Stop::Visitor) => {
                self.stats.stopped_by_visitor = true;
                Ok(self.stats)
            }
            Err(Stop::Violation(v)) => Err(*v),
            Err(Stop::Invalid(e)) => Err(Violation {
                code: "json.invalid",
                path: self.path(self.frames.len()).render(),
                limit: None,
                detail: format!("invalid JSON at byte {}: {}", e.offset, e.reason),
            }),
        }
    }

    fn states<S: Sink>(&mut self, visit: &mut S) -> Result<(), Stop> {
        let body = self.body;
        let mut state = State::Value;
        let mut pos = 0;
        loop {
            while matches!(body.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                pos += 1;
            }
            let Some(&b) = body.get(pos) else { break };
            match state {
                State::Done => return Err(bad(pos, "unexpected data after the JSON value")),
                State::ValueOrClose if b == b']' => {
                    self.close(visit);
                    pos += 1;
                    state = self.after_value();
                }
                State::Value | State::ValueOrClose => {
                    self.count_array_element()?;
                    (pos, state) = self.value(pos, b, visit)?;
                    // Shortcut for the `,` right after an element (what the next round would
                    // do): in this state the open container, if any, is an array.
                    if state == State::CommaOrClose && body.get(pos) == Some(&b',') {
                        pos += 1;
                        state = State::Value;
                    }
                }
                State::MemberValue => {
                    // The open container is an object: no element to count.
                    (pos, state) = self.value(pos, b, visit)?;
                    if state == State::CommaOrClose && body.get(pos) == Some(&b',') {
                        pos += 1;
                        state = State::Key;
                    }
                }
                State::KeyOrClose if b == b'}' => {
                    self.close(visit);
                    pos += 1;
                    state = self.after_value();
                }
                State::KeyOrClose | State::Key => {
                    if b != b'"' {
                        return Err(bad(pos, "expected a property name in double quotes"));
                    }
                    pos = self.key(pos, visit)?;
                    // Shortcut for the `:` right after the key (what the next round would do).
                    if body.get(pos) == Some(&b':') {
                        pos += 1;
                        state = State::MemberValue;
                    } else {
                        state = State::Colon;
                    }
                }
                State::Colon if b == b':' => {
                    pos += 1;
                    state = State::MemberValue;
                }
                State::Colon => return Err(bad(pos, "expected ':' after the property name")),
                State::CommaOrClose => {
                    let kind = self.frames.last().map(|f| f.kind);
                    state = match (b, kind) {
                        (b',', Some(Kind::Object)) => State::Key,
                        (b',', Some(Kind::Array)) => State::Value,
                        (b'}', Some(Kind::Object)) | (b']', Some(Kind::Array)) => {
                            self.close(visit);
                            self.after_value()
                        }
                        _ => return Err(bad(pos, "expected ',' or the end of the container")),
                    };
                    pos += 1;
                }
            }
        }
        match state {
            State::Done => Ok(()),
            State::Value if self.frames.is_empty() => Err(bad(pos, "no JSON value in the body")),
            _ => Err(bad(pos, "unexpected end of input")),
        }
    }

    #[inline(always)]
    fn after_value(&self) -> State {
        if self.frames.is_empty() {
            State::Done
        } else {
            State::CommaOrClose
        }
    }

    /// Reads the value starting with byte `b` at `pos`; returns the offset after it (for a
    /// container: after its opening bracket) and the next state.
    #[inline(always)]
    fn value<S: Sink>(&mut self, pos: usize, b: u8, visit: &mut S) -> Result<(usize, State), Stop> {
        let body = self.body;
        let end = match b {
            b'{' | b'[' => {
                let (kind, next) = if b == b'{' {
                    (Kind::Object, State::KeyOrClose)
                } else {
                    (Kind::Array, State::ValueOrClose)
                };
                self.push(kind)?;
                visit.open(kind, pos);
                return Ok((pos + 1, next));
            }
            b'"' => {
                let (raw, end) = lex_string(body, pos)?;
                self.stats.strings += 1;
                let max = self.caps.string_length;
                if raw.raw_len() > max
                    && let chars = raw.chars(body)
                    && chars > max
                {
                    return Err(self.violation(
                        "json.string_length_exceeded",
                        self.frames.len(),
                        max,
                        format!(
                            "string value has {chars} characters, more than the limit of {max}"
                        ),
                    ));
                }
                let path = self.path(self.frames.len());
                if visit.string(&path, raw, body).is_break() {
                    return Err(Stop::Visitor);
                }
                end
            }
            b'-' | b'0'..=b'9' => {
                let end = lex_number(body, pos)?;
                self.stats.numbers += 1;
                let len = (end - pos) as u64;
                let max = self.caps.number_length;
                if len > max {
                    return Err(self.violation(
                        "json.number_length_exceeded",
                        self.frames.len(),
                        max,
                        format!("number has {len} characters, more than the limit of {max}"),
                    ));
                }
                let path = self.path(self.frames.len());
                if visit.number(&path, pos, end, body).is_break() {
                    return Err(Stop::Visitor);
                }
                end
            }
            _ => {
                let literal: &[u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    b'n' => b"null",
                    _ => return Err(bad(pos, "expected a JSON value")),
                };
                if !body[pos..].starts_with(literal) {
                    return Err(bad(pos, "invalid literal"));
                }
                visit.literal(b);
                pos + literal.len()
            }
        };
        Ok((end, self.after_value()))
    }

    /// Reads the key whose opening quote is at `pos`; returns the offset after it.
    #[inline(always)]
    fn key<S: Sink>(&mut self, pos: usize, visit: &mut S) -> Result<usize, Stop> {
        let (raw, end): (RawStr, usize) = lex_string(self.body, pos)?;
        self.stats.keys += 1;
        let depth = self.frames.len();
        // The key is recorded before the limit checks: their paths end at the object, above
        // this frame.
        let count = match self.frames.last_mut() {
            Some(frame) => {
                frame.count += 1;
                frame.key = Some(raw);
                frame.count
            }
            None => 0,
        };
        let max = self.caps.object_entries;
        if count > max {
            return Err(self.violation(
                "json.object_entries_exceeded",
                depth.saturating_sub(1),
                max,
                format!("object has more than {max} entries"),
            ));
        }
        let max = self.caps.name_length;
        if raw.raw_len() > max
            && let chars = raw.chars(self.body)
            && chars > max
        {
            return Err(self.violation(
                "json.name_length_exceeded",
                depth.saturating_sub(1),
                max,
                format!("property name has {chars} characters, more than the limit of {max}"),
            ));
        }
        let path = self.path(depth);
        if visit.key(&path, raw, self.body).is_break() {
            return Err(Stop::Visitor);
        }
        Ok(end)
    }

    #[inline(always)]
    fn push(&mut self, kind: Kind) -> Result<(), Stop> {
        let depth = self.frames.len() as u64 + 1;
        let max = self.caps.depth;
        if depth > max {
            return Err(self.violation(
                "json.depth_exceeded",
                self.frames.len(),
                max,
                format!("containers nested more than {max} deep"),
            ));
        }
        self.stats.max_depth = self.stats.max_depth.max(depth as u32);
        match kind {
            Kind::Object => self.stats.objects += 1,
            Kind::Array => self.stats.arrays += 1,
        }
        self.frames.push(Frame::new(kind));
        Ok(())
    }

    #[inline(always)]
    fn count_array_element(&mut self) -> Result<(), Stop> {
        let depth = self.frames.len();
        let Some(frame) = self.frames.last_mut().filter(|f| f.kind == Kind::Array) else {
            return Ok(());
        };
        frame.count += 1;
        let count = frame.count;
        match self.caps.array_elements {
            max if count > max => Err(self.violation(
                "json.array_elements_exceeded",
                depth.saturating_sub(1),
                max,
                format!("array has more than {max} elements"),
            )),
            _ => Ok(()),
        }
    }

    #[inline(always)]
    fn close<S: Sink>(&mut self, visit: &mut S) {
        if let Some(frame) = self.frames.pop() {
            visit.close(frame.count);
        }
    }

    /// The path formed by the first `frames` open containers.
    fn path(&self, frames: usize) -> JsonPath<'_> {
        JsonPath::new(self.body, &self.frames[..frames])
    }

    #[cold]
    #[inline(never)]
    fn violation(&self, code: &'static str, frames: usize, limit: u64, detail: String) -> Stop {
        Stop::Violation(Box::new(Violation {
            code,
            path: self.path(frames).render(),
            limit: Some(limit),
            detail,
        }))
    }
}
