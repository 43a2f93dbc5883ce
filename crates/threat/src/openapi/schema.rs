//! Compiling the document's schemas, once, at load time.
//!
//! Request-path validation must cost microseconds, so every schema the engine will need is
//! compiled into a `jsonschema::Validator` while loading. The (converted) document is put in a
//! registry under a fixed, never-fetched URI and each schema is compiled as a reference to its
//! location, so `$ref`s (including recursive ones such as trees) resolve inside the one
//! document and nowhere else. Before compiling, each schema is checked against the 2020-12
//! meta-schema (so typos fail the deploy with a location) and for reference loops that do not
//! consume input (`A: {allOf: [{$ref: A}]}`), which would otherwise recurse without end.
//! Patterns use the linear-time `regex` engine by default: a pattern written in the spec must
//! not become a ReDoS vector for the request that is matched against it. Documents that need
//! look-around can opt into the backtracking engine, with a small backtracking budget.

use std::collections::HashSet;
use std::sync::Arc;

use jsonschema::{Draft, PatternOptions, Registry, Validator};

use super::instance::BodyJson;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use super::convert::{LIST, MAP, SINGLE};
use super::document::{hash, local_pointer};
use super::error::{LoadError, escape_token};
use super::options::OpenApiOptions;

/// The URI the document is registered under. `.invalid` can never resolve, and the crate is
/// built without any retriever, so nothing is ever fetched.
const DOC_URI: &str = "https://openapi.portcullis.invalid/document.json";
/// Characters that may not appear raw in a URI fragment (path templates contain `{` `}`).
const FRAGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'%')
    .add(b'#')
    .add(b'[')
    .add(b']');
/// Steps a backtracking pattern may take per match before it counts as a failed match, so
/// a catastrophic pattern costs a bounded amount of CPU (the crate default is a million).
const BACKTRACK_LIMIT: usize = 10_000;
/// Keywords that apply a subschema to the same instance (no input consumed).
const IN_PLACE: &[&str] = &[
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
];

/// Compiles schemas located by JSON pointer inside one converted document.
pub(crate) struct SchemaCompiler<'a> {
    root: &'a Value,
    registry: Registry<'a>,
    validate_formats: bool,
    backtracking_patterns: bool,
    /// Schemas already checked against the meta-schema.
    meta_checked: HashSet<String>,
    /// Schemas already walked.
    seen: HashSet<String>,
    /// Schemas from which no in-place loop is reachable.
    acyclic: HashSet<String>,
}

impl<'a> SchemaCompiler<'a> {
    pub(crate) fn new(root: &'a Value, opts: &OpenApiOptions) -> Result<Self, LoadError> {
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(DOC_URI, root)
            .and_then(|b| b.prepare())
            .map_err(|e| LoadError::Schema {
                pointer: hash(""),
                message: e.to_string(),
            })?;
        Ok(Self {
            root,
            registry,
            validate_formats: opts.validate_formats,
            backtracking_patterns: opts.backtracking_patterns,
            meta_checked: HashSet::new(),
            seen: HashSet::new(),
            acyclic: HashSet::new(),
        })
    }

    /// Checks every schema under `/components/schemas`, used or not, so a broken component
    /// is reported even before an operation references it.
    pub(crate) fn check_components(&mut self) -> Result<(), LoadError> {
        let Some(Value::Object(schemas)) = self.root.pointer("/components/schemas") else {
            return Ok(());
        };
        for name in schemas.keys() {
            let pointer = format!("/components/schemas/{}", escape_token(name));
            self.check(&pointer)?;
        }
        Ok(())
    }

    /// Compiles the schema at `pointer`.
    pub(crate) fn compile(&mut self, pointer: &str) -> Result<Arc<Validator<BodyJson>>, LoadError> {
        self.check(pointer)?;
        let reference = format!("{DOC_URI}#{}", utf8_percent_encode(pointer, FRAGMENT));
        let options = jsonschema::options_for::<BodyJson>()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(self.validate_formats);
        let options = if self.backtracking_patterns {
            options.with_pattern_options(
                PatternOptions::fancy_regex().backtrack_limit(BACKTRACK_LIMIT),
            )
        } else {
            options.with_pattern_options(PatternOptions::regex())
        };
        options
            .build(&json!({ "$ref": reference }))
            .map(Arc::new)
            .map_err(|e| LoadError::Schema {
                pointer: hash(pointer),
                message: e.to_string(),
            })
    }

    fn check(&mut self, pointer: &str) -> Result<(), LoadError> {
        if !self.meta_checked.insert(pointer.to_owned()) {
            return Ok(());
        }
        let schema = self
            .root
            .pointer(pointer)
            .ok_or_else(|| LoadError::Schema {
                pointer: hash(pointer),
                message: "no schema at this location".to_owned(),
            })?;
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            return Err(LoadError::Schema {
                pointer: hash(&format!("{pointer}{}", e.instance_path().as_str())),
                message: e.to_string(),
            });
        }
        self.walk(pointer)
    }

    /// Visits every schema reachable from `start` (through any keyword or `$ref`) and checks
    /// each for loops made only of in-place applicators and references.
    fn walk(&mut self, start: &str) -> Result<(), LoadError> {
        let mut work = vec![start.to_owned()];
        while let Some(pointer) = work.pop() {
            if !self.seen.insert(pointer.clone()) {
                continue;
            }
            self.in_place_dfs(&pointer, &mut Vec::new())?;
            work.extend(self.edges(&pointer).into_iter().map(|(edge, _)| edge));
        }
        Ok(())
    }

    /// Depth-first search over in-place edges only; `stack` holds the schemas entered since
    /// the last input-consuming step, so meeting one of them again is a loop.
    fn in_place_dfs(&mut self, pointer: &str, stack: &mut Vec<String>) -> Result<(), LoadError> {
        if let Some(at) = stack.iter().position(|p| p == pointer) {
            let mut chain: Vec<String> = stack[at..].iter().map(|p| hash(p)).collect();
            chain.push(hash(pointer));
            return Err(LoadError::RefCycle {
                pointer: hash(pointer),
                chain: chain.join(" -> "),
            });
        }
        if self.acyclic.contains(pointer) {
            return Ok(());
        }
        stack.push(pointer.to_owned());
        for (edge, in_place) in self.edges(pointer) {
            if in_place {
                self.in_place_dfs(&edge, stack)?;
            }
        }
        stack.pop();
        self.acyclic.insert(pointer.to_owned());
        Ok(())
    }

    /// Subschemas of the schema at `pointer`, each flagged when it applies to the same
    /// instance. `$defs` are not edges: they only matter once referenced.
    fn edges(&self, pointer: &str) -> Vec<(String, bool)> {
        let Some(Value::Object(map)) = self.root.pointer(pointer) else {
            return Vec::new();
        };
        let mut edges = Vec::new();
        if let Some(target) = map
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(local_pointer)
        {
            edges.push((target, true));
        }
        for (key, value) in map {
            let k = key.as_str();
            let base = format!("{pointer}/{}", escape_token(k));
            let in_place = IN_PLACE.contains(&k);
            match value {
                Value::Object(children)
                    if MAP.contains(&k) && !matches!(k, "$defs" | "definitions") =>
                {
                    edges.extend(
                        children
                            .keys()
                            .map(|name| (format!("{base}/{}", escape_token(name)), in_place)),
                    );
                }
                Value::Object(_) if SINGLE.contains(&k) || IN_PLACE.contains(&k) => {
                    edges.push((base, in_place))
                }
                Value::Array(items) if LIST.contains(&k) => {
                    edges.extend((0..items.len()).map(|i| (format!("{base}/{i}"), in_place)));
                }
                _ => {}
            }
        }
        edges
    }
}
