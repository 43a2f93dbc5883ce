//! How schema values read in YAML: defaults in flow style (quoted only where YAML would read
//! them differently, sizes in the unit an author writes), integer bounds, enum variants. Showing
//! `65536B` or an unquoted `"yes"` would teach readers to write configs that mean something else.

use serde_json::Value;

/// `integer`, with its bounds when they say more than the storage type does.
pub(super) fn integer(schema: &Value) -> String {
    let implied_max = match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => Some(u64::from(u8::MAX)),
        Some("uint16") => Some(u64::from(u16::MAX)),
        Some("uint32") => Some(u64::from(u32::MAX)),
        Some("uint64" | "uint") => Some(u64::MAX),
        _ => None,
    };
    let min = schema
        .get("minimum")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0);
    let max = schema
        .get("maximum")
        .and_then(Value::as_u64)
        .filter(|m| Some(*m) != implied_max);
    match (min, max) {
        (Some(min), Some(max)) => format!("integer ({min}–{max})"),
        (Some(min), None) => format!("integer (≥ {min})"),
        (None, Some(max)) => format!("integer (≤ {max})"),
        (None, None) => "integer".into(),
    }
}

/// The literal values of an enum-like type, with their descriptions.
pub(super) fn variants(def: &Value) -> Vec<(&Value, Option<&str>)> {
    if let Some(values) = def.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| (v, None)).collect();
    }
    super::render::alternatives(def)
        .filter_map(|alt| {
            let text = alt.get("description").and_then(Value::as_str);
            alt.get("const").map(|v| (v, text))
        })
        .collect()
}

/// A value in YAML flow style, as it would be written in the file.
pub(super) fn flow(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) => {
            let items: Vec<_> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<_> = entries
                .into_iter()
                .map(|(k, v)| format!("{}: {}", scalar(k), flow(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

/// A string scalar, quoted only when YAML would read it otherwise; sizes that serialise as a
/// byte count (`65536B`) are shown in the unit an author would write (`64KiB`).
fn scalar(s: &str) -> String {
    if let Some(bytes) = s.strip_suffix('B').and_then(|n| n.parse::<u64>().ok()) {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
                return format!("{}{unit}", bytes >> shift);
            }
        }
    }
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| c.is_whitespace() || "!&*-?[]{}|>'\"%@`#,".contains(c))
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains([',', '[', ']', '{', '}'])
        && !matches!(s, "true" | "false" | "null" | "~" | "yes" | "no")
        && s.parse::<f64>().is_err();
    if plain {
        s.to_owned()
    } else {
        Value::String(s.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_quoted_only_when_yaml_would_misread_them() {
        assert_eq!(flow(&json!("client_ip")), "client_ip");
        assert_eq!(flow(&json!("127.0.0.1:9080")), "127.0.0.1:9080");
        assert_eq!(flow(&json!("true")), "\"true\"");
        assert_eq!(flow(&json!("yes")), "\"yes\"");
        assert_eq!(flow(&json!("100")), "\"100\"");
        assert_eq!(flow(&json!("")), "\"\"");
        assert_eq!(flow(&json!("*")), "\"*\"");
        assert_eq!(flow(&json!("a: b")), "\"a: b\"");
        assert_eq!(flow(&json!("a, b")), "\"a, b\"");
    }

    #[test]
    fn byte_counts_are_shown_in_binary_units_when_exact() {
        assert_eq!(flow(&json!("65536B")), "64KiB");
        assert_eq!(flow(&json!("10485760B")), "10MiB");
        assert_eq!(flow(&json!("1073741824B")), "1GiB");
        assert_eq!(flow(&json!("1000B")), "1000B");
        assert_eq!(flow(&json!("0B")), "0B");
    }

    #[test]
    fn collections_use_flow_style_with_sorted_keys() {
        assert_eq!(flow(&json!([])), "[]");
        assert_eq!(flow(&json!({})), "{}");
        assert_eq!(flow(&json!(["GET", "HEAD"])), "[GET, HEAD]");
        assert_eq!(
            flow(&json!({"request": "30s", "connect": "2s"})),
            "{ connect: 2s, request: 30s }"
        );
    }

    #[test]
    fn integer_bounds_are_shown_when_narrower_than_the_storage_type() {
        let u32_plain = json!({"type": "integer", "format": "uint32", "minimum": 0});
        assert_eq!(integer(&u32_plain), "integer");
        let u16_full = json!({"format": "uint16", "minimum": 0, "maximum": 65535});
        assert_eq!(integer(&u16_full), "integer");
        let status = json!({"format": "uint16", "minimum": 200, "maximum": 599});
        assert_eq!(integer(&status), "integer (200–599)");
        let burst = json!({"format": "uint32", "minimum": 1});
        assert_eq!(integer(&burst), "integer (≥ 1)");
    }

    #[test]
    fn variants_come_from_enum_or_const_alternatives() {
        let plain = json!({"enum": ["low", "high"]});
        let values: Vec<_> = variants(&plain).into_iter().map(|v| v.0.clone()).collect();
        assert_eq!(values, [json!("low"), json!("high")]);
        let documented = json!({"oneOf": [
            {"const": "low", "description": "Few rules."},
            {"const": "high", "description": "Many rules."}
        ]});
        let got = variants(&documented);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (&json!("high"), Some("Many rules.")));
    }
}
