//! OpenAPI 3.1 behaviour: JSON Schema 2020-12 keywords, `$ref` siblings, path-item
//! references, mixed path segments, deepObject and pipe-delimited query parameters, JSON
//! header parameters, and response validation.

use http::{HeaderMap, HeaderValue};
use portcullis_threat::openapi::{OpenApiOptions, OpenApiValidator, RequestView, codes};

const DOC: &str = include_str!("data/openapi/inventory-3.1.json");

fn validator() -> OpenApiValidator {
    OpenApiValidator::load(DOC, &OpenApiOptions::default()).expect("3.1 document loads")
}

fn view<'a>(
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: Option<&'a [u8]>,
) -> RequestView<'a> {
    RequestView {
        method,
        path,
        query,
        headers,
        content_type: body.map(|_| "application/json"),
        body,
    }
}

fn locations(v: &OpenApiValidator, req: &RequestView<'_>) -> Vec<(&'static str, String)> {
    v.validate_request(req)
        .expect_err("expected violations")
        .into_iter()
        .map(|v| (v.code, v.location))
        .collect()
}

#[test]
fn loads_as_31() {
    let v = validator();
    assert!(!v.is_openapi_30());
    assert_eq!(v.operation_count(), 3);
}

#[test]
fn deep_object_and_pipe_delimited_query_parameters() {
    let v = validator();
    let h = HeaderMap::new();
    let ok = "filter%5BminPrice%5D=2.5&filter[inStock]=true&ids=1|2|3";
    let op = v
        .validate_request(&view("GET", "/items", Some(ok), &h, None))
        .unwrap();
    assert_eq!(op.operation_id(), Some("searchItems"));
    assert_eq!(op.security(), None);
    let bad = "filter[minPrice]=0&filter[colour]=red&ids=1|x|3|4";
    let mut got = locations(&v, &view("GET", "/items", Some(bad), &h, None));
    got.sort();
    assert_eq!(
        got,
        vec![
            (codes::PARAMETER_INVALID, "query.filter".to_owned()),
            (
                codes::PARAMETER_INVALID,
                "query.filter /minPrice".to_owned()
            ),
            (codes::PARAMETER_INVALID, "query.ids".to_owned()),
            (codes::PARAMETER_INVALID, "query.ids /1".to_owned()),
        ]
    );
}

#[test]
fn json_encoded_header_parameter() {
    let v = validator();
    let mut h = HeaderMap::new();
    h.insert("x-trace", HeaderValue::from_static(r#"{"span": "abc"}"#));
    v.validate_request(&view("GET", "/items", None, &h, None))
        .unwrap();
    h.insert("x-trace", HeaderValue::from_static(r#"{"id": 1}"#));
    assert_eq!(
        locations(&v, &view("GET", "/items", None, &h, None)),
        vec![(codes::PARAMETER_INVALID, "header.x-trace".to_owned())]
    );
    h.insert("x-trace", HeaderValue::from_static("{not json"));
    assert_eq!(
        locations(&v, &view("GET", "/items", None, &h, None)),
        vec![(codes::PARAMETER_INVALID, "header.x-trace".to_owned())]
    );
}

#[test]
fn json_schema_2020_12_keywords_and_ref_siblings() {
    let v = validator();
    let h = HeaderMap::new();
    let ok = br#"{"sku": "AB-12", "label": null, "kind": "physical", "dimensions": [1.5, 2]}"#;
    v.validate_request(&view("POST", "/items", None, &h, Some(ok)))
        .unwrap();
    let bad = br#"{"sku": "ABCDEFG-123", "label": 3, "kind": "digital", "dimensions": [1, 2, 3]}"#;
    let mut got = locations(&v, &view("POST", "/items", None, &h, Some(bad)));
    got.sort();
    assert_eq!(
        got,
        vec![
            (codes::BODY_INVALID, "body /dimensions/2".to_owned()),
            (codes::BODY_INVALID, "body /kind".to_owned()),
            (codes::BODY_INVALID, "body /label".to_owned()),
            (codes::BODY_INVALID, "body /sku".to_owned()),
        ],
        "maxLength next to $ref applies in 3.1"
    );
    let req = RequestView {
        content_type: Some("application/merge-patch+json"),
        ..view("POST", "/items", None, &h, Some(br#"{"sku": "A-1"}"#))
    };
    assert_eq!(
        locations(&v, &req),
        vec![(codes::BODY_INVALID, "body".to_owned())]
    );
}

#[test]
fn path_item_refs_and_mixed_segments() {
    let v = validator();
    let h = HeaderMap::new();
    let op = v
        .validate_request(&view("GET", "/files/annual-report.pdf", None, &h, None))
        .unwrap();
    assert_eq!(op.path_template(), "/files/{name}.{ext}");
    assert_eq!(
        op.path_params(),
        &[
            ("name".to_owned(), "annual-report".to_owned()),
            ("ext".to_owned(), "pdf".to_owned())
        ]
    );
    let mut got = locations(&v, &view("GET", "/files/Bad_Name.exe", None, &h, None));
    got.sort();
    assert_eq!(
        got,
        vec![
            (codes::PARAMETER_INVALID, "path.ext".to_owned()),
            (codes::PARAMETER_INVALID, "path.name".to_owned())
        ]
    );
}

#[test]
fn responses_are_validated() {
    let v = validator();
    let h = HeaderMap::new();
    let op = v
        .validate_request(&view("GET", "/items", None, &h, None))
        .unwrap();
    let good = br#"[{"sku": "A-1", "dimensions": [1, 1]}]"#;
    assert!(
        v.validate_response(&op, 200, Some("application/json"), Some(good))
            .is_empty()
    );
    let bad = br#"[{"sku": "A-1"}]"#;
    let got: Vec<_> = v
        .validate_response(&op, 200, Some("application/json"), Some(bad))
        .into_iter()
        .map(|v| (v.code, v.location))
        .collect();
    assert_eq!(
        got,
        vec![(codes::RESPONSE_BODY_INVALID, "body /0".to_owned())]
    );
    let got = v.validate_response(&op, 200, Some("text/html"), Some(b"<html>"));
    assert_eq!(got[0].code, codes::RESPONSE_CONTENT_TYPE_NOT_ALLOWED);
    let got = v.validate_response(&op, 500, Some("application/json"), Some(b"{}"));
    assert_eq!(
        (got[0].code, got[0].location.as_str()),
        (codes::RESPONSE_STATUS_UNDECLARED, "status")
    );
    assert!(
        v.validate_response(&op, 200, None, None).is_empty(),
        "no body: nothing to check"
    );
}
