//! What the compiled schemas validate: a JSON body read in place from its [`JsonDoc`] tape,
//! or an ordinary `serde_json::Value` (parameters, form bodies, and bodies the tape cannot
//! stand in for).
//!
//! `jsonschema` is generic over the JSON representation ([`Json`]), so the schemas are
//! compiled once for [`Instance`], which is either. A body already parsed by
//! `json-threat-protection` is then validated without building a `serde_json::Value` (which
//! costs an allocation per string, key, array and object, and was most of the validation
//! time). The tape answers every question exactly as the `Value` would: numbers are parsed by
//! `serde_json` itself, strings are unescaped, and documents where the two could differ (a
//! repeated key, a number `serde_json` refuses, nesting past its limit) are not validated
//! through the tape at all (see `body::check_media`).

use std::borrow::Cow;

use jsonschema::json::{Array, Json, Node, NodeIdentity, Object, cmp};
use jsonschema::types::JsonType;
use serde_json::{Map, Number, Value};

use crate::json::{DocKind, DocNode, Elements, Members};

/// The representation the engine's schemas are compiled for.
pub(crate) struct BodyJson;

/// One instance node.
#[derive(Clone, Copy)]
pub(crate) enum Instance<'a> {
    Doc(DocNode<'a>),
    Value(&'a Value),
    /// A bare string (property names, for `propertyNames`).
    Str(&'a str),
}

impl Json for BodyJson {
    type Node<'a> = Instance<'a>;
    type PreparedKey = String;
    type StringBuffer = ();

    // Objects are scanned linearly (tape) or probed in a `BTreeMap` (`Value`).
    const KEYS_PER_LOOKUP: usize = 2;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>((): &mut (), string: &str, f: impl FnOnce(Instance<'_>) -> T) -> T {
        f(Instance::Str(string))
    }
}

/// Parses a number as written, with `serde_json`'s own rules (so `-0`, `1.0`, `1e2` and huge
/// integers come out exactly as in a parsed `Value`). The common cases are converted directly,
/// with the same result: plain non-negative integers of up to 18 digits (the same `u64`), and
/// short decimals (see [`short_number`]).
fn parse_number(text: &str) -> Option<Number> {
    match short_number(text) {
        Some(Short::Integer(n)) => Some(Number::from(n)),
        Some(Short::Decimal(f)) => Number::from_f64(f),
        None => serde_json::from_str(text).ok(),
    }
}

/// A number [`short_number`] converts directly.
#[derive(Debug, PartialEq)]
enum Short {
    Integer(u64),
    Decimal(f64),
}

/// `[0-9]{1,18}` as a `u64`, or `-?[0-9]+\.[0-9]+` with at most 15 digits in all as an
/// `f64`; `None` for anything else. One pass over the bytes (numbers are read on every
/// `type`, `minimum` or `enum` check of a number).
///
/// The decimal: the digits form an integer below 2^53 and the divisor is a power of ten up to
/// 10^15, both exact in an `f64`, so the one division is correctly rounded: the value
/// `serde_json` parses (with or without its `float_roundtrip` feature, whose fast path is this
/// same division), at a fraction of the cost of running its deserializer.
fn short_number(text: &str) -> Option<Short> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    // 18 digits and a point at most: the mantissa stays below 10^18, no overflow.
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(b - b'0'),
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    match point {
        None if !negative && digits.len() <= 18 => Some(Short::Integer(mantissa)),
        None => None,
        Some(int) => {
            let frac = digits.len() - int - 1;
            if int == 0 || frac == 0 || int + frac > 15 {
                return None;
            }
            let value = mantissa as f64 / POW10[frac];
            Some(Short::Decimal(if negative { -value } else { value }))
        }
    }
}

impl<'a> Node<'a, BodyJson> for Instance<'a> {
    type Object = InstanceObject<'a>;
    type Array = InstanceArray<'a>;
    type Number = Number;

    fn as_object(&self) -> Option<InstanceObject<'a>> {
        match *self {
            Instance::Doc(n) if n.kind() == DocKind::Object => Some(InstanceObject::Doc(n)),
            Instance::Value(Value::Object(m)) => Some(InstanceObject::Value(m)),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<InstanceArray<'a>> {
        match *self {
            Instance::Doc(n) if n.kind() == DocKind::Array => Some(InstanceArray::Doc(n)),
            Instance::Value(Value::Array(items)) => Some(InstanceArray::Value(items)),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match *self {
            Instance::Doc(n) => n.as_str().map(Cow::Borrowed),
            Instance::Value(Value::String(s)) => Some(Cow::Borrowed(s)),
            Instance::Str(s) => Some(Cow::Borrowed(s)),
            Instance::Value(_) => None,
        }
    }

    fn as_number(&self) -> Option<Number> {
        match *self {
            Instance::Doc(n) => n.number_text().and_then(parse_number),
            Instance::Value(Value::Number(n)) => Some(n.clone()),
            _ => None,
        }
    }

    fn is_number(&self) -> bool {
        self.json_type() == JsonType::Number
    }

    fn as_boolean(&self) -> Option<bool> {
        match *self {
            Instance::Doc(n) => n.as_bool(),
            Instance::Value(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.json_type() == JsonType::Null
    }

    /// `minLength`/`maxLength` without counting characters when the byte length decides: a
    /// string of n bytes has between n/4 (rounded up) and n characters.
    fn string_length_within(&self, min: u64, max: u64) -> Option<bool> {
        let text = self.as_string()?;
        let bytes = text.len() as u64;
        let fewest = bytes.div_ceil(4);
        if fewest >= min && bytes <= max {
            return Some(true);
        }
        if bytes < min || fewest > max {
            return Some(false);
        }
        Some((min..=max).contains(&(text.chars().count() as u64)))
    }

    fn json_type(&self) -> JsonType {
        match *self {
            Instance::Doc(n) => match n.kind() {
                DocKind::Null => JsonType::Null,
                DocKind::Bool => JsonType::Boolean,
                DocKind::Number => JsonType::Number,
                DocKind::String => JsonType::String,
                DocKind::Array => JsonType::Array,
                DocKind::Object => JsonType::Object,
            },
            Instance::Value(v) => match v {
                Value::Null => JsonType::Null,
                Value::Bool(_) => JsonType::Boolean,
                Value::Number(_) => JsonType::Number,
                Value::String(_) => JsonType::String,
                Value::Array(_) => JsonType::Array,
                Value::Object(_) => JsonType::Object,
            },
            Instance::Str(_) => JsonType::String,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        match (self, expected) {
            (Instance::Value(v), _) => cmp::equal(v, expected),
            (_, Value::String(e)) => self.as_string().is_some_and(|s| s == e.as_str()),
            (_, Value::Number(e)) => self.as_number().is_some_and(|n| cmp::equal_numbers(&n, e)),
            (_, Value::Bool(e)) => self.as_boolean() == Some(*e),
            (_, Value::Null) => self.is_null(),
            _ => cmp::equal(&self.to_value(), expected),
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        match *self {
            Instance::Doc(n) => Cow::Owned(n.to_value()),
            Instance::Value(v) => Cow::Borrowed(v),
            Instance::Str(s) => Cow::Owned(Value::String(s.to_owned())),
        }
    }

    fn identity(&self) -> Option<NodeIdentity> {
        match *self {
            // Nodes of one tape differ by index; one request validates one tape at a time.
            Instance::Doc(n) => Some(NodeIdentity::tagged(1, n.index() as u32)),
            Instance::Value(v) => Some(NodeIdentity::new(std::ptr::from_ref(v) as usize)),
            Instance::Str(_) => None,
        }
    }
}

pub(crate) enum InstanceObject<'a> {
    Doc(DocNode<'a>),
    Value(&'a Map<String, Value>),
}

pub(crate) enum InstanceMembers<'a> {
    Doc(Members<'a>),
    Value(serde_json::map::Iter<'a>),
}

impl<'a> Iterator for InstanceMembers<'a> {
    type Item = (&'a str, Instance<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            InstanceMembers::Doc(m) => m.next().map(|(k, v)| (k, Instance::Doc(v))),
            InstanceMembers::Value(m) => m.next().map(|(k, v)| (k.as_str(), Instance::Value(v))),
        }
    }
}

impl<'a> Object<'a, BodyJson> for InstanceObject<'a> {
    type Node = Instance<'a>;
    type MemberName = &'a str;
    type MembersIter = InstanceMembers<'a>;

    fn len(&self) -> usize {
        match self {
            InstanceObject::Doc(n) => n.len(),
            InstanceObject::Value(m) => m.len(),
        }
    }

    fn get(&self, key: &String) -> Option<Instance<'a>> {
        match self {
            InstanceObject::Doc(n) => n.get(key).map(Instance::Doc),
            InstanceObject::Value(m) => Map::get(m, key.as_str()).map(Instance::Value),
        }
    }

    fn members(&self) -> InstanceMembers<'a> {
        match self {
            InstanceObject::Doc(n) => InstanceMembers::Doc(n.members()),
            InstanceObject::Value(m) => InstanceMembers::Value(m.iter()),
        }
    }
}

/// Arrays up to this long are checked for `uniqueItems` pairwise (tags, codes: a few items).
const SMALL_UNIQUE: usize = 16;

pub(crate) enum InstanceArray<'a> {
    Doc(DocNode<'a>),
    Value(&'a [Value]),
}

pub(crate) enum InstanceElements<'a> {
    Doc(Elements<'a>),
    Value(std::slice::Iter<'a, Value>),
}

impl<'a> Iterator for InstanceElements<'a> {
    type Item = Instance<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            InstanceElements::Doc(e) => e.next().map(Instance::Doc),
            InstanceElements::Value(e) => e.next().map(Instance::Value),
        }
    }
}

impl<'a> Array<'a, BodyJson> for InstanceArray<'a> {
    type Node = Instance<'a>;
    type ElementsIter = InstanceElements<'a>;

    fn len(&self) -> usize {
        match self {
            InstanceArray::Doc(n) => n.len(),
            InstanceArray::Value(items) => items.len(),
        }
    }

    fn elements(&self) -> InstanceElements<'a> {
        match self {
            InstanceArray::Doc(n) => InstanceElements::Doc(n.elements()),
            InstanceArray::Value(items) => InstanceElements::Value(items.iter()),
        }
    }

    fn is_unique(&self) -> bool {
        match self {
            InstanceArray::Value(items) => jsonschema::json::unique::is_unique(items),
            InstanceArray::Doc(n) => {
                if n.len() < 2 {
                    return true;
                }
                // Arrays of strings (tags, ids) compare as text; anything else as values.
                // Short ones pairwise, without allocating.
                if n.len() <= SMALL_UNIQUE {
                    let mut texts = [""; SMALL_UNIQUE];
                    let mut count = 0;
                    for (e, slot) in n.elements().zip(texts.iter_mut()) {
                        let Some(text) = e.as_str() else { break };
                        *slot = text;
                        count += 1;
                    }
                    if count == n.len() {
                        let texts = &texts[..count];
                        return (0..count).all(|i| !texts[i + 1..].contains(&texts[i]));
                    }
                }
                let strings: Option<Vec<&str>> = n.elements().map(|e| e.as_str()).collect();
                match strings {
                    Some(mut s) => {
                        s.sort_unstable();
                        s.windows(2).all(|w| w[0] != w[1])
                    }
                    None => {
                        let values: Vec<Value> = n.elements().map(|e| e.to_value()).collect();
                        jsonschema::json::unique::is_unique(&values)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::json::{JsonDoc, JsonLimits};

    proptest! {
        /// The direct conversions give exactly the `Number` `serde_json` parses.
        #[test]
        fn numbers_agree_with_serde_json(
            text in r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
        ) {
            let want: Option<Number> = serde_json::from_str(&text).ok();
            prop_assert_eq!(parse_number(&text), want, "{}", text);
        }

        /// Decimals the fast path takes, including values with no short binary form.
        #[test]
        fn short_decimals_agree_with_serde_json(int in 0u64..10_000_000, frac in "[0-9]{1,8}") {
            let text = format!("{int}.{frac}");
            let want: Number = serde_json::from_str(&text).expect("valid number");
            prop_assert!(matches!(short_number(&text), Some(Short::Decimal(_))), "{}", text);
            prop_assert_eq!(parse_number(&text), Some(want));
        }

        /// `uniqueItems` on the tape agrees with `jsonschema` on the `Value`.
        #[test]
        fn unique_items_agree_with_values(
            items in prop_oneof![
                // Strings only (the pairwise path, up to 16 items, and the sorting one).
                proptest::collection::vec("[ab]{0,2}".prop_map(Value::from), 0..20),
                proptest::collection::vec(
                    prop_oneof![
                        "[ab]{0,2}".prop_map(Value::from),
                        (0u8..3).prop_map(Value::from),
                        Just(Value::Null),
                    ],
                    0..20,
                ),
            ],
        ) {
            let want = jsonschema::json::unique::is_unique(&items);
            let body = serde_json::to_vec(&Value::Array(items)).expect("serialises");
            let doc = JsonDoc::parse(&body, &JsonLimits::unlimited()).expect("valid body");
            let node = Instance::Doc(doc.view(&body).expect("same body").root());
            prop_assert_eq!(node.as_array().expect("an array").is_unique(), want);
        }

        /// The byte-length shortcut agrees with counting characters.
        #[test]
        fn string_length_bounds_agree_with_counting(
            text in "[aé😀\u{800}]{0,12}",
            min in 0u64..14,
            span in 0u64..14,
        ) {
            let body = serde_json::to_vec(&text).expect("serialises");
            let doc = JsonDoc::parse(&body, &JsonLimits::unlimited()).expect("valid body");
            let node = Instance::Doc(doc.view(&body).expect("same body").root());
            let chars = text.chars().count() as u64;
            let max = min + span;
            prop_assert_eq!(
                node.string_length_within(min, max),
                Some((min..=max).contains(&chars))
            );
        }
    }
}
