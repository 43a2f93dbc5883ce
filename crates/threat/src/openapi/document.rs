//! Parsing an OpenAPI document and checking its `$ref`s.
//!
//! The gateway must never fetch anything a document points at (an attacker-influenced spec
//! could otherwise make it reach internal hosts), and a reference loop must not hang the
//! loader or the request path. So every `$ref` is checked once, here, before anything is
//! compiled: remote references are refused, dangling ones are reported with their location,
//! and chains of references that lead back to themselves are rejected.

use std::collections::HashSet;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::error::{LoadError, escape_token};

/// The OpenAPI major/minor line of a document; it decides the schema dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// 3.0.x: schemas are an extended subset of JSON Schema draft 4/5 and need conversion.
    V30,
    /// 3.1.x: schemas are JSON Schema 2020-12.
    V31,
}

/// Keys whose values are instance data, not document structure: a `$ref` inside them is a
/// string like any other and must not be followed.
pub(crate) const DATA_KEYS: &[&str] = &["example", "examples", "enum", "const", "default"];
/// Keys whose values are maps from arbitrary names to schemas: a child named `default` there
/// is a schema, not data.
pub(crate) const NAMED_SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// More hops than any sane chain of references; bounds the work on hostile documents.
const MAX_REF_HOPS: usize = 64;

/// Parses JSON or YAML text into a JSON value.
pub(crate) fn parse(text: &str) -> Result<Value, LoadError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| LoadError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })
    } else {
        // serde-saphyr enforces alias and node budgets, so YAML bombs fail here.
        serde_saphyr::from_str(text).map_err(|e| LoadError::Syntax {
            format: "YAML",
            message: e.to_string(),
        })
    }
}

/// Reads and checks the `openapi` version field.
pub(crate) fn version(root: &Value) -> Result<Version, LoadError> {
    if !root.is_object() {
        return Err(invalid("", "the document root must be an object"));
    }
    let found = match root.get("openapi") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(LoadError::UnsupportedVersion {
                found: other.to_string(),
            });
        }
        None => "none",
    };
    let mut parts = found.split('.');
    match (parts.next(), parts.next()) {
        (Some("3"), Some("0")) => Ok(Version::V30),
        (Some("3"), Some("1")) => Ok(Version::V31),
        _ => Err(LoadError::UnsupportedVersion {
            found: found.to_owned(),
        }),
    }
}

/// Checks every `$ref` in the document: local, resolvable, and not part of a loop.
pub(crate) fn check_refs(root: &Value) -> Result<(), LoadError> {
    let mut pointer = String::new();
    walk_refs(root, root, &mut pointer, None)
}

fn walk_refs(
    root: &Value,
    value: &Value,
    pointer: &mut String,
    parent_key: Option<&str>,
) -> Result<(), LoadError> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let at = format!("{pointer}/$ref");
                resolve_chain(root, reference, &at)?;
            }
            let in_schema_map = parent_key.is_some_and(|k| NAMED_SCHEMA_MAPS.contains(&k));
            for (key, child) in map {
                if !in_schema_map && (DATA_KEYS.contains(&key.as_str()) || key.starts_with("x-")) {
                    continue;
                }
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_token(key));
                let result = walk_refs(root, child, pointer, Some(key));
                pointer.truncate(len);
                result?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                let result = walk_refs(root, child, pointer, None);
                pointer.truncate(len);
                result?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Follows a reference (and the references it lands on) to a value that is not itself a
/// reference; `at` is where the first `$ref` was written, for error messages.
pub(crate) fn resolve_chain<'a>(
    root: &'a Value,
    reference: &str,
    at: &str,
) -> Result<(&'a Value, String), LoadError> {
    let mut seen = HashSet::new();
    let mut chain = vec![at.trim_end_matches("/$ref").to_owned()];
    let mut reference = reference.to_owned();
    for _ in 0..MAX_REF_HOPS {
        let target_ptr = local_pointer(&reference).ok_or_else(|| LoadError::RemoteRef {
            pointer: hash(at),
            reference: reference.clone(),
        })?;
        let target = root
            .pointer(&target_ptr)
            .ok_or_else(|| LoadError::UnresolvedRef {
                pointer: hash(at),
                reference: reference.clone(),
            })?;
        chain.push(target_ptr.clone());
        if !seen.insert(target_ptr.clone()) {
            return Err(cycle(at, &chain));
        }
        match target.get("$ref") {
            Some(Value::String(next)) => reference = next.clone(),
            _ => return Ok((target, target_ptr)),
        }
    }
    Err(cycle(at, &chain))
}

/// Follows `$ref` from an object that may or may not be a reference, returning the target
/// and its pointer (the object itself and `pointer` when it is not a reference).
pub(crate) fn deref<'a>(
    root: &'a Value,
    value: &'a Value,
    pointer: &str,
) -> Result<(&'a Value, String), LoadError> {
    match value.get("$ref") {
        Some(Value::String(reference)) => {
            resolve_chain(root, reference, &format!("{pointer}/$ref"))
        }
        _ => Ok((value, pointer.to_owned())),
    }
}

/// Turns `#/a/b%20c` into the JSON pointer `/a/b c`; `None` for anything not document-local.
pub(crate) fn local_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    if !(fragment.is_empty() || fragment.starts_with('/')) {
        return None;
    }
    Some(
        percent_decode_str(fragment)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

fn cycle(at: &str, chain: &[String]) -> LoadError {
    LoadError::RefCycle {
        pointer: hash(at),
        chain: chain
            .iter()
            .map(|p| hash(p))
            .collect::<Vec<_>>()
            .join(" -> "),
    }
}

/// Renders a JSON pointer the way `$ref`s spell locations (`#/paths/~1pets`).
pub(crate) fn hash(pointer: &str) -> String {
    format!("#{pointer}")
}

pub(crate) fn invalid(pointer: &str, message: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        pointer: hash(pointer),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_remote_dangling_and_cyclic_refs() {
        let remote = json!({"a": {"$ref": "other.yaml#/x"}});
        assert!(
            matches!(check_refs(&remote), Err(LoadError::RemoteRef { pointer, .. }) if pointer == "#/a/$ref")
        );
        let dangling = json!({"a": {"$ref": "#/nope"}});
        assert!(matches!(
            check_refs(&dangling),
            Err(LoadError::UnresolvedRef { .. })
        ));
        let cyclic = json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}});
        let err = check_refs(&cyclic).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
        let data = json!({"example": {"$ref": "http://x"}, "properties": {"default": {"$ref": "#/properties"}}});
        assert!(check_refs(&data).is_ok());
    }

    #[test]
    fn parses_json_and_yaml_and_reads_versions() {
        let v = parse("openapi: 3.0.3\npaths: {}\nresponses:\n  200: ok\n").unwrap();
        assert_eq!(version(&v).unwrap(), Version::V30);
        assert_eq!(v["responses"]["200"], "ok");
        let v = parse(r#"{"openapi": "3.1.0"}"#).unwrap();
        assert_eq!(version(&v).unwrap(), Version::V31);
        assert!(matches!(
            version(&json!({"swagger": "2.0"})),
            Err(LoadError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            parse("{ bad"),
            Err(LoadError::Syntax { format: "JSON", .. })
        ));
    }
}
