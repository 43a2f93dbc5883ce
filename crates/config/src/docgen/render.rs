//! Turns JSON Schema objects into Markdown tables and sections: resolves `$ref`s into `$defs`,
//! names types the way a YAML author reads them, and shows defaults as YAML. Knows nothing about
//! particular fields, so new fields and policy kinds are documented without touching it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use portcullis_policies::policy_kinds;
use serde_json::{Map, Value};

use super::prose;
use super::values::{flow, integer, variants};

/// Longest default shown inline; longer object defaults point at the object's own section.
const INLINE_DEFAULT: usize = 48;

/// An object type to document, and every path where it occurs in a file.
pub(super) struct Section {
    def: String,
    paths: Vec<String>,
}

/// Renders parts of one schema (the editor schema, whose `$defs` hold every named type).
pub(super) struct Reference<'s> {
    root: &'s Value,
    defs: Map<String, Value>,
    documented: RefCell<BTreeSet<String>>,
}

impl<'s> Reference<'s> {
    pub(super) fn new(root: &'s Value) -> Self {
        let defs = root
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Self {
            root,
            defs,
            documented: RefCell::default(),
        }
    }

    /// The config schema of a policy kind, as embedded in the policy lists' `oneOf`.
    pub(super) fn kind_schema(&self, kind: &str) -> Option<&Value> {
        let alternatives = self
            .defs
            .get("Policies")?
            .pointer("/properties/request/items/oneOf")?
            .as_array()?;
        alternatives
            .iter()
            .find_map(|alt| alt.pointer(&format!("/properties/{}", escape_pointer(kind))))
    }

    /// Object types reachable from the file's root, depth first.
    pub(super) fn root_sections(&self) -> Vec<Section> {
        let mut out = Vec::new();
        self.collect_fields(self.root, "", &mut out);
        out
    }

    /// Object types reachable from `schema` (a policy config), paths prefixed with `prefix`.
    pub(super) fn sections_under(&self, schema: &Value, prefix: &str) -> Vec<Section> {
        let mut out = Vec::new();
        self.collect_fields(schema, prefix, &mut out);
        out
    }

    fn collect(&self, schema: &Value, path: &str, out: &mut Vec<Section>) {
        if let Some(name) = ref_name(schema) {
            let Some(def) = self.defs.get(name).filter(|d| is_object(d)) else {
                return;
            };
            if let Some(known) = out.iter_mut().find(|s| s.def == name) {
                known.paths.push(path.to_owned());
                return;
            }
            out.push(Section {
                def: name.to_owned(),
                paths: vec![path.to_owned()],
            });
            self.collect_fields(def, path, out);
            return;
        }
        if !self.is_policy_choice(schema) {
            for alt in alternatives(schema) {
                self.collect(alt, path, out);
            }
        }
        if let Some(items) = schema.get("items") {
            self.collect(items, &format!("{path}[]"), out);
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            self.collect(values, &format!("{path}.<name>"), out);
        }
        self.collect_fields(schema, path, out);
    }

    fn collect_fields(&self, schema: &Value, path: &str, out: &mut Vec<Section>) {
        for (name, prop) in ordered_fields(schema) {
            let at = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            self.collect(prop, &at, out);
        }
    }

    /// One section per object type not documented yet, headed by its shortest path.
    pub(super) fn object_sections(&self, out: &mut String, sections: &[Section], level: &str) {
        for section in sections {
            if !self.documented.borrow_mut().insert(section.def.clone()) {
                continue;
            }
            let Some(def) = self.defs.get(&section.def) else {
                continue;
            };
            let mut paths = section.paths.clone();
            paths.sort_by_key(String::len);
            let _ = write!(
                out,
                "\n<a id=\"{}\"></a>\n\n{level} `{}`\n\n",
                anchor("def", &section.def),
                paths[0]
            );
            if let Some(text) = def.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", prose(text));
            }
            if paths.len() > 1 {
                let others: Vec<_> = paths[1..].iter().map(|p| format!("`{p}`")).collect();
                let _ = writeln!(out, "Also used at {}.\n", others.join(", "));
            }
            self.table(out, def);
        }
    }

    /// The field table of an object schema.
    pub(super) fn table(&self, out: &mut String, schema: &Value) {
        let fields = ordered_fields(schema);
        if fields.is_empty() {
            out.push_str("No fields.\n");
            return;
        }
        out.push_str("| Field | Type | Default | Description |\n|---|---|---|---|\n");
        let required = required(schema);
        for (name, prop) in fields {
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} | {} |",
                cell(&self.type_of(prop)),
                cell(&self.default_of(prop, required.contains(&name))),
                cell(&self.description_of(prop)),
            );
        }
    }

    /// The "Value types" chapter: every named type that is not an object (units, unions, enums).
    pub(super) fn value_types(&self, out: &mut String) {
        let mut names: Vec<_> = self.defs.iter().filter(|(_, d)| !is_object(d)).collect();
        if names.is_empty() {
            return;
        }
        names.sort_by(|a, b| a.0.cmp(b.0));
        out.push_str("\n## Value types\n");
        for (name, def) in names {
            let _ = write!(
                out,
                "\n<a id=\"{}\"></a>\n\n### `{name}`\n\n",
                anchor("type", name)
            );
            if let Some(text) = def.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}", prose(text));
            }
            let variants = variants(def);
            if !variants.is_empty() {
                out.push_str("\nOne of:\n\n");
                for (value, text) in variants {
                    match text {
                        Some(text) => {
                            let _ = writeln!(out, "- `{}`: {}", flow(value), prose(text));
                        }
                        None => {
                            let _ = writeln!(out, "- `{}`", flow(value));
                        }
                    }
                }
            }
        }
    }

    /// How a YAML author should read a schema's type.
    fn type_of(&self, schema: &Value) -> String {
        if let Some(name) = ref_name(schema) {
            let prefix = match self.defs.get(name) {
                Some(def) if is_object(def) => "def",
                _ => "type",
            };
            return format!("[{name}](#{})", anchor(prefix, name));
        }
        if self.is_policy_choice(schema) {
            return "[policy](#policies)".into();
        }
        let alts: Vec<_> = alternatives(schema).filter(|a| !is_null(a)).collect();
        if !alts.is_empty() {
            let names: Vec<_> = alts.iter().map(|a| self.type_of(a)).collect();
            return names.join(" or ");
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let names: Vec<_> = values.iter().map(|v| format!("`{}`", flow(v))).collect();
            return names.join(" | ");
        }
        if let Some(value) = schema.get("const") {
            return format!("`{}`", flow(value));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if schema.get("properties").is_some() => vec!["object"],
            _ => return "any".into(),
        };
        let names: Vec<_> = types
            .into_iter()
            .filter(|t| *t != "null")
            .map(|t| match t {
                "array" => match schema.get("items") {
                    Some(items) => format!("list of {}", self.type_of(items)),
                    None => "list".into(),
                },
                "object" => match schema.get("additionalProperties") {
                    Some(values) if values.is_object() => {
                        format!("map of {}", self.type_of(values))
                    }
                    _ if schema.get("properties").is_some() => "object".into(),
                    _ => "map".into(),
                },
                "integer" => integer(schema),
                other => other.to_owned(),
            })
            .collect();
        names.join(" or ")
    }

    fn default_of(&self, prop: &Value, required: bool) -> String {
        match prop.get("default") {
            None | Some(Value::Null) if required => "**required**".into(),
            None | Some(Value::Null) => "—".into(),
            Some(value) => {
                let text = flow(value);
                match self.object_ref(prop) {
                    Some(name) if value.is_object() && text.len() > INLINE_DEFAULT => {
                        format!("[per field](#{})", anchor("def", name))
                    }
                    _ => format!("`{text}`"),
                }
            }
        }
    }

    fn description_of(&self, prop: &Value) -> String {
        if let Some(text) = prop.get("description").and_then(Value::as_str) {
            return text.to_owned();
        }
        let referenced = ref_name(prop).or_else(|| alternatives(prop).find_map(ref_name));
        referenced
            .and_then(|name| self.defs.get(name))
            .and_then(|def| def.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The object type a property refers to, directly or as an optional value.
    fn object_ref<'p>(&self, prop: &'p Value) -> Option<&'p str> {
        let name = ref_name(prop).or_else(|| alternatives(prop).find_map(ref_name))?;
        self.defs.get(name).filter(|d| is_object(d)).map(|_| name)
    }

    /// True for the `oneOf` of policy kinds that the editor schema puts in policy lists.
    fn is_policy_choice(&self, schema: &Value) -> bool {
        let Some(alts) = schema.get("oneOf").and_then(Value::as_array) else {
            return false;
        };
        !alts.is_empty()
            && alts.iter().all(|alt| {
                alt.get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|props| {
                        props.len() == 1
                            && props
                                .keys()
                                .all(|k| policy_kinds().iter().any(|kind| kind.name == k))
                    })
            })
    }
}

/// A table cell: one line, `|` escaped, paragraphs kept apart.
pub(super) fn cell(text: &str) -> String {
    prose(text).replace("\n\n", "<br><br>").replace('|', "\\|")
}

fn anchor(prefix: &str, name: &str) -> String {
    format!("{prefix}-{}", name.to_ascii_lowercase())
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
}

fn is_object(schema: &Value) -> bool {
    schema.get("properties").is_some()
}

fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

pub(super) fn alternatives(schema: &Value) -> impl Iterator<Item = &Value> {
    ["anyOf", "oneOf"]
        .into_iter()
        .filter_map(|key| schema.get(key).and_then(Value::as_array))
        .flatten()
}

fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Fields in reading order: required ones as declared, then the optional ones by name.
fn ordered_fields(schema: &Value) -> Vec<(&str, &Value)> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required = required(schema);
    let mut fields: Vec<_> = required
        .iter()
        .filter_map(|name| props.get_key_value(*name))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let mut optional: Vec<_> = props
        .iter()
        .filter(|(k, _)| !required.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    optional.sort_by(|a, b| a.0.cmp(b.0));
    fields.extend(optional);
    fields
}
