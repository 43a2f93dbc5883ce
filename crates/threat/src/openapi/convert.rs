//! Turning every schema of a document into JSON Schema 2020-12.
//!
//! OpenAPI 3.0 schemas look like JSON Schema but differ where it matters for security: a
//! validator that does not understand `nullable: true` rejects valid traffic (and teams then
//! switch validation off), and one that reads `exclusiveMinimum: true` as a 2020-12 number
//! silently drops the bound. So 3.0 schemas are rewritten once at load time; 3.1 schemas are
//! already 2020-12 and only get the OpenAPI integer formats turned into real range checks.

use serde_json::{Map, Value, json};

use super::document::Version;

/// Schema keywords whose value is one subschema.
pub(crate) const SINGLE: &[&str] = &[
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
    "items",
];
/// Schema keywords whose value is an array of subschemas.
pub(crate) const LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems", "items"];
/// Schema keywords whose value maps names to subschemas.
pub(crate) const MAP: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Converts, in place, every schema reachable through the OpenAPI structure (components,
/// paths, operations, parameters, bodies, responses, headers, callbacks).
pub(crate) fn convert_document(root: &mut Value, version: Version) {
    if let Some(components) = root.get_mut("components") {
        for_each_value(components.get_mut("schemas"), |s| {
            convert_schema(s, version)
        });
        for_each_value(components.get_mut("parameters"), |p| {
            convert_parameter(p, version)
        });
        for_each_value(components.get_mut("headers"), |h| {
            convert_parameter(h, version)
        });
        for_each_value(components.get_mut("requestBodies"), |b| {
            convert_content(b, version)
        });
        for_each_value(components.get_mut("responses"), |r| {
            convert_response(r, version)
        });
        for_each_value(components.get_mut("pathItems"), |p| {
            convert_path_item(p, version)
        });
        for_each_value(components.get_mut("callbacks"), |c| {
            for_each_value(Some(c), |p| convert_path_item(p, version));
        });
    }
    for_each_value(root.get_mut("paths"), |p| convert_path_item(p, version));
    for_each_value(root.get_mut("webhooks"), |p| convert_path_item(p, version));
}

fn for_each_value(container: Option<&mut Value>, mut f: impl FnMut(&mut Value)) {
    if let Some(map) = container.and_then(Value::as_object_mut) {
        map.values_mut().for_each(&mut f);
    }
}

fn convert_path_item(item: &mut Value, version: Version) {
    let Value::Object(map) = item else { return };
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "parameters" => convert_parameter_list(value, version),
            "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace" => {
                convert_operation(value, version);
            }
            _ => {}
        }
    }
}

fn convert_operation(op: &mut Value, version: Version) {
    let Value::Object(map) = op else { return };
    if let Some(params) = map.get_mut("parameters") {
        convert_parameter_list(params, version);
    }
    if let Some(body) = map.get_mut("requestBody") {
        convert_content(body, version);
    }
    for_each_value(map.get_mut("responses"), |r| convert_response(r, version));
    for_each_value(map.get_mut("callbacks"), |c| {
        for_each_value(Some(c), |p| convert_path_item(p, version));
    });
}

fn convert_parameter_list(list: &mut Value, version: Version) {
    if let Value::Array(items) = list {
        items.iter_mut().for_each(|p| convert_parameter(p, version));
    }
}

/// Parameters and headers carry either `schema` or `content`.
fn convert_parameter(param: &mut Value, version: Version) {
    if let Some(schema) = param.get_mut("schema") {
        convert_schema(schema, version);
    }
    convert_content(param, version);
}

fn convert_response(response: &mut Value, version: Version) {
    convert_content(response, version);
    for_each_value(response.get_mut("headers"), |h| {
        convert_parameter(h, version)
    });
}

fn convert_content(holder: &mut Value, version: Version) {
    for_each_value(holder.get_mut("content"), |media| {
        if let Some(schema) = media.get_mut("schema") {
            convert_schema(schema, version);
        }
    });
}

/// Rewrites one schema and all its subschemas.
pub(crate) fn convert_schema(schema: &mut Value, version: Version) {
    let Value::Object(map) = schema else { return };
    let v30 = version == Version::V30;
    if v30 && map.contains_key("$ref") {
        // 3.0: "properties adjacent to $ref are ignored"; 2020-12 would apply them.
        map.retain(|k, _| k == "$ref");
        return;
    }
    recurse(map, version);
    add_integer_format_bounds(map);
    if v30 {
        convert_exclusive_bounds(map);
        map.remove("example");
        if map.remove("nullable") == Some(Value::Bool(true)) {
            make_nullable(schema);
        }
    }
}

fn recurse(map: &mut Map<String, Value>, version: Version) {
    for (key, value) in map.iter_mut() {
        let key = key.as_str();
        match value {
            Value::Object(children) if MAP.contains(&key) => {
                children
                    .values_mut()
                    .for_each(|s| convert_schema(s, version));
            }
            Value::Object(_) if SINGLE.contains(&key) => convert_schema(value, version),
            Value::Array(items) if LIST.contains(&key) => {
                items.iter_mut().for_each(|s| convert_schema(s, version));
            }
            _ => {}
        }
    }
}

/// 3.0 (draft 4) spells exclusive bounds as booleans next to `minimum`/`maximum`.
fn convert_exclusive_bounds(map: &mut Map<String, Value>) {
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match map.get(exclusive) {
            Some(Value::Bool(true)) => match map.remove(bound) {
                Some(limit) => {
                    map.insert(exclusive.to_owned(), limit);
                }
                None => {
                    map.remove(exclusive);
                }
            },
            Some(Value::Bool(false)) => {
                map.remove(exclusive);
            }
            _ => {}
        }
    }
}

/// `format: int32|int64` is an annotation in JSON Schema; an API that declares int32 breaks
/// on larger values, so the range is enforced (only where no explicit bound is given).
fn add_integer_format_bounds(map: &mut Map<String, Value>) {
    let (min, max) = match map.get("format").and_then(Value::as_str) {
        Some("int32") => (json!(i32::MIN), json!(i32::MAX)),
        Some("int64") => (json!(i64::MIN), json!(i64::MAX)),
        _ => return,
    };
    let has_bound =
        |m: &Map<String, Value>, a: &str, b: &str| m.contains_key(a) || m.contains_key(b);
    if !has_bound(map, "minimum", "exclusiveMinimum") {
        map.insert("minimum".to_owned(), min);
    }
    if !has_bound(map, "maximum", "exclusiveMaximum") {
        map.insert("maximum".to_owned(), max);
    }
}

/// 3.0 `nullable: true` adds `null` to the allowed values.
fn make_nullable(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Array(values)) = map.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert("type".to_owned(), json!([t, "null"]));
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
        }
        _ => {
            // Typically `nullable: true` next to `allOf: [{$ref}]`: allow null beside it.
            let inner = std::mem::take(map);
            *schema = json!({"anyOf": [{"type": "null"}, Value::Object(inner)]});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv30(mut v: Value) -> Value {
        convert_schema(&mut v, Version::V30);
        v
    }

    #[test]
    fn nullable_becomes_a_null_type() {
        assert_eq!(
            conv30(json!({"type": "string", "nullable": true})),
            json!({"type": ["string", "null"]})
        );
        assert_eq!(
            conv30(json!({"type": "string", "enum": ["a"], "nullable": true})),
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
        assert_eq!(
            conv30(json!({"allOf": [{"$ref": "#/x"}], "nullable": true})),
            json!({"anyOf": [{"type": "null"}, {"allOf": [{"$ref": "#/x"}]}]})
        );
        assert_eq!(
            conv30(json!({"type": "integer", "nullable": false})),
            json!({"type": "integer"})
        );
    }

    #[test]
    fn boolean_exclusive_bounds_and_examples() {
        assert_eq!(
            conv30(
                json!({"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false, "example": 3})
            ),
            json!({"type": "number", "exclusiveMinimum": 0, "maximum": 9})
        );
    }

    #[test]
    fn nested_schemas_and_ref_siblings() {
        let v = conv30(
            json!({"type": "object", "properties": {"a": {"type": "string", "nullable": true}},
            "items": {"$ref": "#/x", "description": "ignored"}, "allOf": [{"type": "integer", "format": "int32"}]}),
        );
        assert_eq!(v["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(v["items"], json!({"$ref": "#/x"}));
        assert_eq!(v["allOf"][0]["maximum"], json!(i32::MAX));
        let mut v31 = json!({"$ref": "#/x", "description": "kept", "nullable": true});
        convert_schema(&mut v31, Version::V31);
        assert_eq!(v31["description"], "kept");
        assert_eq!(v31["nullable"], true);
    }
}
