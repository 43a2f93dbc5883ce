//! Request and response bodies: presence, content type and schema.
//!
//! The content type decides which schema applies, so an undeclared type is refused rather
//! than waved through (labelling JSON as `text/plain` is the classic way around JSON
//! inspection). JSON bodies are parsed once and validated with the precompiled schema; form
//! bodies are decoded with the schema's property types.

use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::error::{Violation, codes};
use super::instance::Instance;
use super::media::{BodyKind, Media, essence, kind, select};
use super::operation::{Operation, RequestBody};
use super::params::{Shape, Types, coerce, prop_types};
use super::request::{Collector, RequestView};
use crate::json::{JsonDoc, JsonLimits, JsonView};

/// Checks presence, content type and schema of the body.
/// `parsed` is the body already parsed by the caller, used instead of parsing again.
pub(crate) fn check_body(
    op: &Operation,
    req: &RequestView<'_>,
    parsed: Parsed<'_>,
    reject_undeclared: bool,
    c: &mut Collector,
) {
    let body = req.body.filter(|b| !b.is_empty());
    match (&op.body, body) {
        (None, Some(_)) if reject_undeclared => {
            c.push(Violation::new(
                codes::BODY_NOT_ALLOWED,
                "body",
                "this operation does not accept a request body",
            ));
        }
        (Some(RequestBody { required: true, .. }), None) => {
            c.push(Violation::new(
                codes::BODY_REQUIRED,
                "body",
                "this operation requires a request body",
            ));
        }
        (Some(spec), Some(bytes)) => {
            let content_type = req
                .content_type
                .or_else(|| req.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()));
            check_media(
                &spec.media,
                content_type,
                Body { bytes, parsed },
                codes::CONTENT_TYPE_NOT_ALLOWED,
                codes::BODY_INVALID,
                c,
            );
        }
        _ => {}
    }
}

/// A body as bytes, possibly with its JSON parse already done by the caller.
#[derive(Clone, Copy)]
pub(crate) struct Body<'b> {
    pub(crate) bytes: &'b [u8],
    pub(crate) parsed: Parsed<'b>,
}

/// The caller's parse of the body, if it has one.
#[derive(Clone, Copy)]
pub(crate) enum Parsed<'b> {
    None,
    Value(&'b Value),
    Doc(JsonView<'b>),
}

/// The violation for a JSON body that repeats a member name in some object (RFC 8259 §4: names
/// SHOULD be unique). Listed before the schema's own violations, which judge the last value.
pub const DUPLICATE_KEYS: &str =
    "an object repeats a member name; parsers disagree on which of its values counts";

/// `serde_json` stops at this nesting (its recursion limit); deeper documents go through it
/// so they fail the same way.
const SERDE_MAX_DEPTH: u32 = 127;

/// Whether validating the tape of a document without repeated keys (`serde_json` keeps the
/// last) gives exactly what validating `serde_json`'s `Value` would: no number `serde_json`
/// might refuse, no nesting past its limit.
fn tape_stands_in(view: JsonView<'_>) -> bool {
    let doc = view.doc();
    doc.stats().max_depth <= SERDE_MAX_DEPTH && !doc.has_wide_numbers()
}

/// Shared by requests and responses: pick the declared media type and validate the body.
pub(crate) fn check_media(
    declared: &[Media],
    content_type: Option<&str>,
    body: Body<'_>,
    type_code: &'static str,
    body_code: &'static str,
    c: &mut Collector,
) {
    let expected = || {
        declared
            .iter()
            .map(Media::name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((ty, sub)) = content_type.and_then(essence) else {
        let message = format!(
            "missing or malformed content type; expected one of: {}",
            expected()
        );
        c.push(Violation::new(type_code, "content-type", message));
        return;
    };
    let Some(media) = select(declared, &ty, &sub) else {
        let message = format!(
            "content type {ty}/{sub} is not allowed; expected one of: {}",
            expected()
        );
        c.push(Violation::new(type_code, "content-type", message));
        return;
    };
    let Some(validator) = &media.validator else {
        return;
    };
    let body_kind = kind(&ty, &sub);
    // Without the caller's parse, a JSON body is parsed into a tape here (cheaper than a
    // `Value`); the tape is what gets validated when it can stand in for the `Value`.
    let own_doc = match (body_kind, body.parsed) {
        (BodyKind::Json, Parsed::None) => JsonDoc::parse(body.bytes, &JsonLimits::unlimited()).ok(),
        _ => None,
    };
    let parsed = match (body.parsed, &own_doc) {
        (Parsed::None, Some(doc)) => doc.view(body.bytes).map_or(Parsed::None, Parsed::Doc),
        (parsed, _) => parsed,
    };
    // Parsers disagree on a repeated member name (`serde_json` and most keep the last value,
    // some the first): the schema would judge one value while the back end acts on the other.
    let repeated_keys = matches!(
        (body_kind, parsed),
        (BodyKind::Json, Parsed::Doc(view)) if view.has_duplicate_keys()
    );
    if repeated_keys {
        c.push(Violation::new(body_code, "body", DUPLICATE_KEYS));
    }
    let owned;
    let value = match (body_kind, parsed) {
        (BodyKind::Json, Parsed::Value(parsed)) => parsed,
        (BodyKind::Json, Parsed::Doc(view)) if !repeated_keys && tape_stands_in(view) => {
            c.check(validator, Instance::Doc(view.root()), "body", body_code);
            return;
        }
        // Anything the tape cannot stand in for, and malformed bodies (for `serde_json`'s
        // error message), take the `Value` path.
        (BodyKind::Json, _) => match serde_json::from_slice::<Value>(body.bytes) {
            Ok(v) => {
                owned = v;
                &owned
            }
            Err(e) => {
                let message = format!("malformed JSON: {e}");
                c.push(Violation::new(body_code, "body", message));
                return;
            }
        },
        (BodyKind::Form, _) => {
            owned = form_object(body.bytes, media.form_shape.as_ref());
            &owned
        }
        (BodyKind::Other, _) => return,
    };
    c.check(validator, Instance::Value(value), "body", body_code);
}

/// `a=1&b=x&b=y` as an object, coerced with the schema's property types; a key repeated (or
/// declared as an array) becomes an array.
fn form_object(bytes: &[u8], shape: Option<&Shape>) -> Value {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        let types = shape.map_or(Types::default(), |s| prop_types(s, &k));
        let is_array = matches!(shape, Some(Shape::Object { props, .. }) if props.iter().any(|(p, t)| *p == k && t.has(Types::ARRAY)));
        let value = coerce(&v, types);
        match map.get_mut(k.as_ref()) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None if is_array => {
                map.insert(k.into_owned(), Value::Array(vec![value]));
            }
            None => {
                map.insert(k.into_owned(), value);
            }
        }
    }
    Value::Object(map)
}
