//! JSON Schema of the configuration file: published for editors (`portcullis schema`) and used to
//! find every structural error in one pass before semantic checks.

use portcullis_policies::policy_kinds;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::model::FileConfig;

/// The structural schema: policies are objects with one key (checked per kind later, so each
/// policy error names its own field instead of an unhelpful `oneOf` failure).
pub(crate) fn structural() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<FileConfig>();
    schema.to_value()
}

/// The editor schema: like [`structural`], with each policy kind's own schema filled in.
pub fn editor_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let kinds: Vec<Value> = policy_kinds()
        .iter()
        .map(|k| {
            let mut schema = (k.schema)(&mut generator).to_value();
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert(
                    "mode".into(),
                    json!({"enum": ["enforce", "monitor"], "description": "enforce (default) or monitor: log what would be blocked and let the request through"}),
                );
            }
            json!({
                "type": "object",
                "description": k.summary,
                "properties": { k.name: schema },
                "required": [k.name],
                "additionalProperties": false
            })
        })
        .collect();
    let mut root = generator.into_root_schema_for::<FileConfig>().to_value();
    if let Some(defs) = root.get_mut("$defs").and_then(Value::as_object_mut) {
        for (name, def) in defs.iter_mut() {
            if !kinds.is_empty()
                && (name == "Policies" || name == "Hooks")
                && let Some(props) = def.get_mut("properties").and_then(Value::as_object_mut)
            {
                for list in props.values_mut() {
                    list["items"] = json!({ "oneOf": kinds });
                }
            }
        }
    }
    root["$id"] = json!("urn:portcullis:config");
    root["title"] = json!("Portcullis gateway configuration");
    root
}
