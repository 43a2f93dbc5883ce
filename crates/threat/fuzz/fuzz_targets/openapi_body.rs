//! Fuzzes openapi-validation's JSON body check, differentially: validating a body on its tape
//! (`JsonDoc`, what the gateway does, with the engine's own parse or with the one
//! json-threat-protection kept) reports exactly what validating the `serde_json::Value` of
//! the same bytes reports — the same verdict and the same violations, in the same order (plus,
//! first, the repeated member names a `Value` cannot show).
//! (`serde_json`'s `preserve_order` is on in this fuzz workspace, so the `Value` lists an
//! object's members in document order as the tape does; see `Cargo.toml`.)
//!
//! Two contracts: a recursive schema that puts most keywords at every level of any JSON (so
//! arbitrary input meets them), and the 10 KB order's realistic contract from the benches.
#![no_main]

use std::sync::LazyLock;

use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use portcullis_threat::json::{JsonDoc, JsonLimits, JsonView};
use portcullis_threat::openapi::{
    DUPLICATE_KEYS, OpenApiOptions, OpenApiValidator, RequestView, Violation, codes,
};

/// Any JSON value meets keywords of every kind, at every depth.
const ANY: &str = r##"
openapi: 3.1.0
info: {title: fuzz, version: "1"}
paths:
  /things:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Any'}
      responses: {"200": {description: ok}}
components:
  schemas:
    Any:
      anyOf:
        - {type: "null"}
        - {type: boolean, const: true}
        - {type: string, minLength: 1, maxLength: 6, pattern: "^[a-cé😀]*$"}
        - {type: string, format: date-time}
        - {type: string, format: email}
        - {type: string, format: uuid}
        - {type: integer, minimum: -5, exclusiveMaximum: 100, multipleOf: 3}
        - {type: number, exclusiveMinimum: -1.5, maximum: 1e10, multipleOf: 0.25}
        - {enum: ["x", 1.5, 0, -0.0, [1, "x"], {"k": [null]}]}
        - type: array
          maxItems: 5
          uniqueItems: true
          prefixItems: [{type: [string, number]}]
          items: {$ref: '#/components/schemas/Any'}
          contains: {type: [array, object, string]}
        - type: object
          maxProperties: 5
          required: [id]
          properties:
            id: {type: [integer, string], maxLength: 4}
            tags: {type: array, items: {type: string}, uniqueItems: true}
          patternProperties:
            "^x-": {type: string}
          propertyNames: {maxLength: 8, pattern: "^[a-z_-]*$"}
          dependentRequired: {a: [b]}
          additionalProperties: {$ref: '#/components/schemas/Any'}
        - type: object
          oneOf:
            - {required: [kind], properties: {kind: {const: "a"}}}
            - {required: [kind], properties: {kind: {const: "b"}}, minProperties: 2}
          if: {properties: {kind: {const: "b"}}}
          then: {required: [value]}
          else: {not: {required: [value]}}
"##;

const ORDERS: &str = include_str!("../../benches/data/orders-openapi.yaml");

static SPECS: LazyLock<[(OpenApiValidator, &str); 2]> = LazyLock::new(|| {
    let load = |doc| OpenApiValidator::load(doc, &OpenApiOptions::default()).expect("loads");
    [(load(ANY), "/things"), (load(ORDERS), "/orders")]
});

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let kept = JsonDoc::parse(data, &JsonLimits::unlimited()).expect("serde_json parsed it");
    let view = kept.view(data).expect("a parsed body is valid UTF-8");
    let headers = HeaderMap::new();
    for (spec, path) in SPECS.iter() {
        let req = RequestView {
            method: "POST",
            path,
            query: None,
            headers: &headers,
            content_type: Some("application/json"),
            body: Some(data),
        };
        let on_value = verdict(spec.validate_request_with_json(&req, &value));
        same_as_value(
            verdict(spec.validate_request(&req)),
            &on_value,
            view,
            "own tape",
        );
        same_as_value(
            verdict(spec.validate_request_with_doc(&req, view)),
            &on_value,
            view,
            "kept tape",
        );
    }
});

/// The tape's violations are the `Value`'s, except that a `Value` has lost repeated member
/// names: the tape reports them first, within the same cap.
fn same_as_value(tape: Vec<Violation>, on_value: &[Violation], view: JsonView<'_>, what: &str) {
    let rest = if view.has_duplicate_keys() {
        let first = tape.first().expect("a repeated name is reported");
        assert_eq!(
            (first.code, first.location.as_str(), first.message.as_str()),
            (codes::BODY_INVALID, "body", DUPLICATE_KEYS),
            "{what}"
        );
        &tape[1..]
    } else {
        &tape[..]
    };
    let cap = OpenApiOptions::default().max_violations - (tape.len() - rest.len());
    assert_eq!(rest, &on_value[..on_value.len().min(cap)], "{what}");
}

fn verdict<T>(result: Result<T, Vec<Violation>>) -> Vec<Violation> {
    result.err().unwrap_or_default()
}
