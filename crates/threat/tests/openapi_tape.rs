//! Validating a body through its `JsonDoc` tape (what the gateway does when
//! `json-threat-protection` already parsed it) gives exactly the violations validating a
//! `serde_json::Value` of the same bytes gives: same codes, locations and messages.

use http::HeaderMap;
use portcullis_threat::json::{JsonDoc, JsonLimits};
use portcullis_threat::openapi::{
    DUPLICATE_KEYS, OpenApiOptions, OpenApiValidator, RequestView, codes,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const DOC: &str = include_str!("data/openapi/petstore-3.0.yaml");

fn validator() -> OpenApiValidator {
    OpenApiValidator::load(DOC, &OpenApiOptions::default()).expect("petstore loads")
}

/// (code, location, message) of every violation, sorted: the tape lists object members in
/// document order, a `Value` in key order, so only the order may differ.
fn outcome(
    r: Result<
        portcullis_threat::openapi::MatchedOperation,
        Vec<portcullis_threat::openapi::Violation>,
    >,
) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.code.to_owned(), v.location, v.message))
        .collect();
    v.sort();
    v
}

fn compare(validator: &OpenApiValidator, path: &str, body: &[u8]) {
    let headers = HeaderMap::new();
    let req = RequestView {
        method: "POST",
        path,
        query: None,
        headers: &headers,
        content_type: Some("application/json"),
        body: Some(body),
    };
    let from_value = match serde_json::from_slice::<Value>(body) {
        Ok(v) => outcome(validator.validate_request_with_json(&req, &v)),
        Err(_) => outcome(validator.validate_request(&req)),
    };
    let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).expect("valid JSON");
    let view = doc.view(body).unwrap();
    // A `Value` has lost repeated member names; the tape reports them, first.
    let mut expected = from_value;
    if view.has_duplicate_keys() {
        expected.push((
            codes::BODY_INVALID.to_owned(),
            "body".to_owned(),
            DUPLICATE_KEYS.to_owned(),
        ));
        expected.sort();
    }
    let from_tape = outcome(validator.validate_request_with_doc(&req, view));
    assert_eq!(from_tape, expected, "{}", String::from_utf8_lossy(body));
    // Without a caller's parse the engine parses into a tape itself: same answer.
    assert_eq!(outcome(validator.validate_request(&req)), expected);
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..200).prop_map(|n| json!(n)),
        (-5.0f64..200.0).prop_map(|f| json!(f)),
        prop::sample::select(vec!["dog", "cat", "available", "ABC-0001", "x", "", "🐕"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name", "tag", "status", "items", "sku", "qty", "price", "gift", "note",
                    "extra"
                ]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn tape_and_value_agree(v in arb_value(), orders in any::<bool>()) {
        let path = if orders { "/orders" } else { "/pets" };
        compare(&validator(), path, &serde_json::to_vec(&v).unwrap());
    }
}

#[test]
fn documents_the_tape_cannot_stand_in_for_take_the_value_path() {
    let v = validator();
    for body in [
        // Repeated key: serde_json keeps the last one; the tape also reports the repetition.
        &br#"{"name":1,"name":"rex"}"#[..],
        br#"{"name":"rex","name":1}"#,
        // Numbers serde_json refuses or reads as floats.
        br#"{"name":"rex","tag":1e400}"#,
        br#"{"items":[{"sku":"ABC-0001","qty":1e1}]}"#,
        br#"{"items":[{"sku":"ABC-0001","qty":-0}]}"#,
        br#"{"items":[{"sku":"ABC-0001","qty":18446744073709551616}]}"#,
        // Escapes in keys and values.
        br#"{"n\u0061me":"r\u0065x","tag":"\ud83d\ude00"}"#,
    ] {
        compare(&v, "/pets", body);
        compare(&v, "/orders", body);
    }
    // Nesting past serde_json's limit: the same "malformed JSON" answer either way.
    let deep = format!("{{\"name\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    compare(&v, "/pets", deep.as_bytes());
}
