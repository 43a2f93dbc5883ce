//! JSON threat protection: structural limits enforced in one streaming pass.
//!
//! A JSON body can exhaust a backend long before any business logic runs: nesting deep
//! enough to overflow a recursive parser, arrays or objects with millions of members (hash
//! flooding, quadratic handling), megabyte keys or strings, numbers with thousands of digits
//! (slow big-number parsing). [`scan`] walks the raw bytes once, with no document tree and no
//! recursion, rejects anything that is not strict RFC 8259 JSON, and reports the first limit
//! exceeded together with the JSONPath where it happened.
//!
//! Unlike Apigee's JSONThreatProtection, every body is checked regardless of its declared
//! content type (the policy decides when to call us), and violations are meant to be answered
//! with 400, naming the limit and the location.
//!
//! Semantics worth knowing:
//! - Duplicate keys are allowed (RFC 8259 only says they SHOULD be unique); each occurrence
//!   counts towards `max_object_entries` and is visited.
//! - Lone surrogate escapes (`"\ud800"`) are rejected as `json.invalid`: parsers disagree
//!   on them (replace, keep, reject), which lets payloads slip past filters.
//! - A UTF-8 byte-order mark is rejected (RFC 8259 §8.1: senders must not add one).
//! - Lengths of names and strings are counted in Unicode scalar values after unescaping;
//!   number lengths in characters of the number as written (sign, digits, `.`, exponent).

mod doc;
mod lexer;
mod path;
mod scanner;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::ControlFlow;

pub use doc::{DocKind, DocNode, Elements, JsonDoc, JsonText, JsonView, Members, Texts};
pub use path::{JsonPath, PathSegment};

use crate::Violation;

/// The violation type of the JSON engine (the crate-wide [`Violation`]).
pub type JsonViolation = Violation;

/// Limits for [`scan`]. `None` disables a limit.
///
/// [`JsonLimits::default`] is meant for typical API traffic:
///
/// | limit | default |
/// |---|---|
/// | `max_depth` (nesting of objects and arrays; `{}` alone is depth 1) | 32 |
/// | `max_object_entries` (members of any one object) | 1 000 |
/// | `max_array_elements` (elements of any one array) | 10 000 |
/// | `max_name_length` (characters in a property name) | 256 |
/// | `max_string_length` (characters in a string value) | 65 536 |
/// | `max_number_length` (characters in a number) | 64 |
/// | `max_body_bytes` | 10 MiB |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLimits {
    pub max_depth: Option<u32>,
    pub max_object_entries: Option<u64>,
    pub max_array_elements: Option<u64>,
    pub max_name_length: Option<u64>,
    pub max_string_length: Option<u64>,
    pub max_number_length: Option<u64>,
    pub max_body_bytes: Option<u64>,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_depth: Some(32),
            max_object_entries: Some(1_000),
            max_array_elements: Some(10_000),
            max_name_length: Some(256),
            max_string_length: Some(64 * 1024),
            max_number_length: Some(64),
            max_body_bytes: Some(10 * 1024 * 1024),
        }
    }
}

impl JsonLimits {
    /// No limits at all: only well-formedness is checked. Nesting is still handled without
    /// recursion, so this is safe, just not protective.
    pub fn unlimited() -> Self {
        JsonLimits {
            max_depth: None,
            max_object_entries: None,
            max_array_elements: None,
            max_name_length: None,
            max_string_length: None,
            max_number_length: None,
            max_body_bytes: None,
        }
    }
}

/// A value handed to the [`scan`] visitor. The path passed alongside locates it: for a key,
/// the path ends with that key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonEvent<'a> {
    /// An object key, unescaped.
    Key(Cow<'a, str>),
    /// A string value, unescaped.
    String(Cow<'a, str>),
    /// A number, as written in the body.
    Number(&'a str),
}

/// What a completed scan saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonStats {
    /// Deepest container nesting (0 for a scalar document).
    pub max_depth: u32,
    pub objects: u64,
    pub arrays: u64,
    pub keys: u64,
    pub strings: u64,
    pub numbers: u64,
    /// The visitor returned `Break`: the scan stopped there, and the rest of the body was
    /// neither validated nor checked against the limits.
    pub stopped_by_visitor: bool,
}

/// Scans `body`, enforcing `limits` and strict RFC 8259 syntax, and calls `visit` for every
/// object key, string value and number in document order.
///
/// Returns the first violation found (`json.invalid`, `json.depth_exceeded`,
/// `json.object_entries_exceeded`, `json.array_elements_exceeded`, `json.name_length_exceeded`,
/// `json.string_length_exceeded`, `json.number_length_exceeded`, `json.body_too_large`).
/// Limits are checked before the offending value is visited, so the visitor only ever sees
/// values within limits.
pub fn scan<V>(body: &[u8], limits: &JsonLimits, visit: &mut V) -> Result<JsonStats, Violation>
where
    V: FnMut(&JsonPath<'_>, JsonEvent<'_>) -> ControlFlow<()> + ?Sized,
{
    if let Some(max) = limits.max_body_bytes
        && body.len() as u64 > max
    {
        return Err(body_too_large(body.len(), max));
    }
    scanner::Scanner::new(body, limits).run(&mut scanner::Visit::new(visit, body))
}

fn body_too_large(len: usize, max: u64) -> Violation {
    Violation {
        code: "json.body_too_large",
        path: "$".to_owned(),
        limit: Some(max),
        detail: format!("body is {len} bytes, more than the limit of {max}"),
    }
}

/// [`scan`] without a visitor: validates syntax and limits only.
pub fn check(body: &[u8], limits: &JsonLimits) -> Result<JsonStats, Violation> {
    if let Some(max) = limits.max_body_bytes
        && body.len() as u64 > max
    {
        return Err(body_too_large(body.len(), max));
    }
    scanner::Scanner::new(body, limits).run(&mut scanner::Ignore)
}
