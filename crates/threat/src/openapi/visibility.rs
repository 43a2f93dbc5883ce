//! `readOnly` / `writeOnly`: one schema, two directions.
//!
//! OpenAPI reuses one schema for requests and responses and marks server-assigned fields
//! `readOnly` (an `id` a client cannot know when creating) and secrets `writeOnly` (a password
//! never echoed back). Such a property listed in `required` is only required in the direction
//! where it may appear. A validator that ignores this rejects every well-formed create
//! request, and operators then turn validation off; so the document is compiled twice, once
//! per direction, with those properties dropped from `required` where they cannot appear.

use serde_json::Value;

use super::document::{DATA_KEYS, NAMED_SCHEMA_MAPS, local_pointer};
use super::error::escape_token;

/// Bounds `$ref` chains when reading a property's flags (loops are rejected earlier).
const MAX_HOPS: usize = 16;

/// Which direction a copy of the document serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Requests: `readOnly` properties are not required.
    Request,
    /// Responses: `writeOnly` properties are not required.
    Response,
}

/// Drops from every `required` list the properties that cannot appear in `direction`.
pub(crate) fn relax_required(root: &mut Value, direction: Direction) {
    let flag = match direction {
        Direction::Request => "readOnly",
        Direction::Response => "writeOnly",
    };
    let mut edits = Vec::new();
    collect(root, root, &mut String::new(), flag, &mut edits, None);
    for (pointer, names) in edits {
        if let Some(Value::Array(required)) = root.pointer_mut(&format!("{pointer}/required")) {
            required.retain(|n| !n.as_str().is_some_and(|n| names.iter().any(|x| x == n)));
        }
    }
}

fn collect(
    root: &Value,
    value: &Value,
    pointer: &mut String,
    flag: &str,
    edits: &mut Vec<(String, Vec<String>)>,
    parent_key: Option<&str>,
) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::Object(props)), Some(Value::Array(_))) =
                (map.get("properties"), map.get("required"))
            {
                let names: Vec<String> = props
                    .iter()
                    .filter(|(_, schema)| flagged(root, schema, flag))
                    .map(|(name, _)| name.clone())
                    .collect();
                if !names.is_empty() {
                    edits.push((pointer.clone(), names));
                }
            }
            let in_schema_map = parent_key.is_some_and(|k| NAMED_SCHEMA_MAPS.contains(&k));
            for (key, child) in map {
                if !in_schema_map && (DATA_KEYS.contains(&key.as_str()) || key.starts_with("x-")) {
                    continue;
                }
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_token(key));
                collect(root, child, pointer, flag, edits, Some(key));
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                collect(root, child, pointer, flag, edits, None);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Whether a property schema (or what its `$ref` chain leads to) carries `flag: true`.
fn flagged<'a>(root: &'a Value, mut schema: &'a Value, flag: &str) -> bool {
    for _ in 0..MAX_HOPS {
        if schema.get(flag) == Some(&Value::Bool(true)) {
            return true;
        }
        let target = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(local_pointer)
            .and_then(|p| root.pointer(&p));
        match target {
            Some(next) => schema = next,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn read_only_is_not_required_in_requests_and_write_only_not_in_responses() {
        let doc = json!({
            "Id": {"type": "integer", "readOnly": true},
            "User": {"type": "object", "required": ["id", "name", "password"], "properties": {
                "id": {"$ref": "#/Id"},
                "name": {"type": "string"},
                "password": {"type": "string", "writeOnly": true}
            }},
            "example": {"properties": {"x": {"readOnly": true}}, "required": ["x"]}
        });
        let mut request = doc.clone();
        relax_required(&mut request, Direction::Request);
        assert_eq!(request["User"]["required"], json!(["name", "password"]));
        assert_eq!(
            request["example"]["required"],
            json!(["x"]),
            "examples are data"
        );
        let mut response = doc;
        relax_required(&mut response, Direction::Response);
        assert_eq!(response["User"]["required"], json!(["id", "name"]));
    }
}
