//! Parameter model and the string-to-JSON coercion that precedes schema validation.
//!
//! Everything outside the body arrives as text, while schemas speak of integers, booleans,
//! arrays and objects. Coercion follows the schema (and the parameter's `style`/`explode`
//! serialisation), so `?limit=10` validates against `type: integer` and `?ids=1,2` against an
//! array of integers. Text that does not coerce is passed on as a string, which the schema then
//! rejects with a precise message (`"ten" is not of type "integer"`).

use std::sync::Arc;

use jsonschema::Validator;

use super::instance::BodyJson;
use serde_json::{Map, Number, Value};

use super::document::local_pointer;

/// Where a parameter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamIn {
    Path,
    Query,
    Header,
    Cookie,
}

/// OpenAPI serialisation styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Simple,
    Label,
    Matrix,
    Form,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

/// How the raw text of a parameter becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `schema` + `style`: coerce according to the schema's types.
    Styled,
    /// `content: {application/json: ...}`: the text is a JSON document.
    Json,
    /// `content` with another media type: only presence is checked.
    Opaque,
}

/// One declared parameter, compiled.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) location: ParamIn,
    pub(crate) required: bool,
    pub(crate) style: Style,
    pub(crate) explode: bool,
    pub(crate) encoding: Encoding,
    pub(crate) shape: Shape,
    pub(crate) validator: Option<Arc<Validator<BodyJson>>>,
    /// `query.limit`, `path.id`, ...: the violation location.
    pub(crate) label: String,
}

/// The JSON types a schema admits, as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Types(u8);

impl Types {
    pub(crate) const INTEGER: u8 = 1;
    pub(crate) const NUMBER: u8 = 2;
    pub(crate) const BOOLEAN: u8 = 4;
    pub(crate) const NULL: u8 = 8;
    pub(crate) const STRING: u8 = 16;
    pub(crate) const ARRAY: u8 = 32;
    pub(crate) const OBJECT: u8 = 64;

    pub(crate) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// What a parameter's value looks like once decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    Scalar(Types),
    Array(Types),
    Object {
        props: Vec<(String, Types)>,
        other: Types,
    },
}

/// Bounds the walk through `$ref`/`allOf` chains when reading types (loops are rejected at
/// load, this only keeps pathological nesting cheap).
const MAX_DEPTH: usize = 8;

/// Reads the types a schema admits, following `$ref` and the `*Of` combinators.
pub(crate) fn types_of(root: &Value, schema: &Value) -> Types {
    types_at_depth(root, schema, 0)
}

fn types_at_depth(root: &Value, schema: &Value, depth: usize) -> Types {
    let schema = deref(root, schema, depth);
    let mut bits = 0;
    let mut add = |t: &str| {
        bits |= match t {
            "integer" => Types::INTEGER,
            "number" => Types::NUMBER,
            "boolean" => Types::BOOLEAN,
            "null" => Types::NULL,
            "string" => Types::STRING,
            "array" => Types::ARRAY,
            "object" => Types::OBJECT,
            _ => 0,
        }
    };
    match schema.get("type") {
        Some(Value::String(t)) => add(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).for_each(add),
        _ if depth < MAX_DEPTH => {
            for key in ["allOf", "anyOf", "oneOf"] {
                for sub in schema
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    bits |= types_at_depth(root, sub, depth + 1).0;
                }
            }
        }
        _ => {}
    }
    Types(bits)
}

fn deref<'a>(root: &'a Value, mut schema: &'a Value, depth: usize) -> &'a Value {
    for _ in depth..MAX_DEPTH {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(local_pointer)
        {
            Some(ptr) => match root.pointer(&ptr) {
                Some(target) => schema = target,
                None => break,
            },
            None => break,
        }
    }
    schema
}

/// Derives the decoding shape of a parameter schema.
pub(crate) fn shape_of(root: &Value, schema: &Value) -> Shape {
    let schema = deref(root, schema, 0);
    let types = types_of(root, schema);
    if types.has(Types::ARRAY) {
        let items = schema
            .get("items")
            .map(|i| types_of(root, i))
            .unwrap_or_default();
        return Shape::Array(items);
    }
    if types.has(Types::OBJECT) {
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, s)| (k.clone(), types_of(root, s)))
                    .collect()
            })
            .unwrap_or_default();
        let other = match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => Types::default(),
            Some(s @ Value::Object(_)) => types_of(root, s),
            _ => Types(Types::STRING),
        };
        return Shape::Object { props, other };
    }
    Shape::Scalar(types)
}

/// Converts one textual value to the most specific JSON value its schema admits.
pub(crate) fn coerce(text: &str, types: Types) -> Value {
    if types.has(Types::INTEGER) || types.has(Types::NUMBER) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    if types.has(Types::NUMBER)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    if types.has(Types::BOOLEAN) {
        match text {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    if types.has(Types::NULL) && !types.has(Types::STRING) && (text.is_empty() || text == "null") {
        return Value::Null;
    }
    Value::String(text.to_owned())
}

/// Builds an array value from already-split items.
pub(crate) fn array<'s>(items: impl Iterator<Item = &'s str>, types: Types) -> Value {
    Value::Array(items.map(|s| coerce(s, types)).collect())
}

/// Builds an object from `k,v,k,v` (non-exploded) or `k=v,k=v` (exploded) text.
pub(crate) fn object_from_text(text: &str, sep: char, explode: bool, shape: &Shape) -> Value {
    let mut map = Map::new();
    if explode {
        for pair in text.split(sep).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(k.to_owned(), coerce(v, prop_types(shape, k)));
        }
    } else {
        let mut parts = text.split(sep);
        while let Some(k) = parts.next() {
            let v = parts.next().unwrap_or("");
            map.insert(k.to_owned(), coerce(v, prop_types(shape, k)));
        }
    }
    Value::Object(map)
}

/// The types of one property of an object-shaped parameter.
pub(crate) fn prop_types(shape: &Shape, name: &str) -> Types {
    match shape {
        Shape::Object { props, other } => props
            .iter()
            .find(|(k, _)| k == name)
            .map_or(*other, |(_, t)| *t),
        Shape::Scalar(t) | Shape::Array(t) => *t,
    }
}

/// Decodes a path or header value (styles `simple`, `label`, `matrix`).
pub(crate) fn decode_simple(param: &Param, raw: &str) -> Value {
    let (text, sep) = match param.style {
        Style::Label => {
            let text = raw.strip_prefix('.').unwrap_or(raw);
            (text, if param.explode { '.' } else { ',' })
        }
        Style::Matrix => {
            let prefix = format!(";{}=", param.name);
            if param.explode && matches!(param.shape, Shape::Array(_)) {
                let items: Vec<&str> = raw
                    .split(';')
                    .filter_map(|p| p.split_once('=').map(|(_, v)| v))
                    .collect();
                return match &param.shape {
                    Shape::Array(t) => array(items.into_iter(), *t),
                    _ => Value::Null,
                };
            }
            (raw.strip_prefix(prefix.as_str()).unwrap_or(raw), ',')
        }
        _ => (raw, ','),
    };
    match &param.shape {
        Shape::Scalar(t) => coerce(text, *t),
        Shape::Array(t) => array(text.split(sep), *t),
        shape @ Shape::Object { .. } => object_from_text(text, sep, param.explode, shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coerces_by_declared_type() {
        let int = Types(Types::INTEGER);
        assert_eq!(coerce("42", int), json!(42));
        assert_eq!(coerce("4.2", int), json!("4.2"));
        assert_eq!(coerce("4.5", Types(Types::NUMBER)), json!(4.5));
        assert_eq!(coerce("true", Types(Types::BOOLEAN)), json!(true));
        assert_eq!(coerce("42", Types(Types::STRING)), json!("42"));
        assert_eq!(coerce("", Types(Types::NULL | Types::INTEGER)), Value::Null);
    }

    #[test]
    fn reads_types_through_refs_and_combinators() {
        let root = json!({"c": {"type": ["integer", "null"]}});
        let t = types_of(
            &root,
            &json!({"oneOf": [{"$ref": "#/c"}, {"type": "boolean"}]}),
        );
        assert!(
            t.has(Types::INTEGER)
                && t.has(Types::NULL)
                && t.has(Types::BOOLEAN)
                && !t.has(Types::STRING)
        );
        let shape = shape_of(&root, &json!({"type": "array", "items": {"$ref": "#/c"}}));
        assert_eq!(shape, Shape::Array(Types(Types::INTEGER | Types::NULL)));
    }

    #[test]
    fn objects_from_text() {
        let shape = Shape::Object {
            props: vec![("n".into(), Types(Types::INTEGER))],
            other: Types(Types::STRING),
        };
        assert_eq!(
            object_from_text("n,1,s,x", ',', false, &shape),
            json!({"n": 1, "s": "x"})
        );
        assert_eq!(
            object_from_text("n=1,s=x", ',', true, &shape),
            json!({"n": 1, "s": "x"})
        );
    }
}
