//! Load-time behaviour: broken documents are refused with the location of the problem,
//! remote references are never followed, and reference loops neither hang nor crash.

use http::HeaderMap;
use portcullis_threat::openapi::{LoadError, OpenApiOptions, OpenApiValidator, RequestView};

fn load(doc: &str) -> Result<OpenApiValidator, LoadError> {
    OpenApiValidator::load(doc, &OpenApiOptions::default())
}

fn load_err(doc: &str) -> String {
    load(doc)
        .expect_err("document should be refused")
        .to_string()
}

/// A minimal 3.0 document with one `POST /things` whose body schema is `schema` and with
/// `components` spliced in.
fn doc_with(schema: &str, components: &str) -> String {
    format!(
        r#"{{"openapi": "3.0.3", "info": {{"title": "t", "version": "1"}},
            "paths": {{"/things": {{"post": {{
                "requestBody": {{"content": {{"application/json": {{"schema": {schema}}}}}}},
                "responses": {{"200": {{"description": "ok"}}}}}}}}}},
            "components": {components}}}"#
    )
}

#[test]
fn send_sync_for_sharing_across_workers() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<OpenApiValidator>();
    assert_send_sync::<portcullis_threat::openapi::MatchedOperation>();
}

#[test]
fn syntax_and_version_errors() {
    assert!(load_err("{\"openapi\": ").starts_with("OpenAPI document does not parse as JSON"));
    assert!(
        load_err("openapi: 3.0.0\npaths: [unclosed")
            .starts_with("OpenAPI document does not parse as YAML")
    );
    assert_eq!(
        load_err("swagger: '2.0'\npaths: {}"),
        "unsupported OpenAPI version none: expected 3.0.x or 3.1.x in the `openapi` field"
    );
    assert!(load_err("openapi: 4.0.0\npaths: {}").contains("unsupported OpenAPI version 4.0.0"));
    assert_eq!(
        load_err("openapi: 3.0.0\ninfo: {}"),
        "invalid OpenAPI document at #: missing required field `paths`"
    );
    assert!(
        load("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n").is_ok(),
        "3.1 may omit paths"
    );
}

#[test]
fn structural_errors_name_the_location() {
    let bad_in = r#"
openapi: 3.0.3
paths:
  /pets:
    get:
      parameters:
        - name: limit
          in: body
          schema: {type: integer}
      responses: {'200': {description: ok}}
"#;
    assert_eq!(
        load_err(bad_in),
        "invalid OpenAPI document at #/paths/~1pets/get/parameters/0/in: `in` must be path, query, header or cookie, found Some(\"body\")"
    );
    let undeclared = "openapi: 3.0.3\npaths:\n  /pets/{id}:\n    get:\n      parameters:\n        - {name: idx, in: path, required: true, schema: {type: string}}\n      responses: {}\n";
    assert!(
        load_err(undeclared)
            .contains("#/paths/~1pets~1{id}/get: path parameter \"idx\" does not appear")
    );
    let ambiguous = "openapi: 3.0.3\npaths:\n  /pets/{id}: {get: {responses: {}}}\n  /pets/{name}: {get: {responses: {}}}\n";
    assert!(load_err(ambiguous).contains("equivalent to \"/pets/{id}\""));
    let bad_status =
        "openapi: 3.0.3\npaths:\n  /p: {get: {responses: {'2X0': {description: x}}}}\n";
    assert!(load_err(bad_status).contains("#/paths/~1p/get/responses: response key \"2X0\""));
    let no_schema = "openapi: 3.0.3\npaths:\n  /p: {get: {parameters: [{name: q, in: query}], responses: {}}}\n";
    assert!(
        load_err(no_schema)
            .contains("#/paths/~1p/get/parameters/0: a parameter needs `schema` or `content`")
    );
    let bad_base = OpenApiValidator::load(
        "openapi: 3.1.0\n",
        &OpenApiOptions {
            base_path: Some("v1".to_owned()),
            ..OpenApiOptions::default()
        },
    );
    assert_eq!(bad_base.unwrap_err(), LoadError::BasePath("v1".to_owned()));
}

#[test]
fn invalid_schemas_are_refused_with_their_location() {
    let err = load_err(&doc_with(
        r##"{"$ref": "#/components/schemas/Thing"}"##,
        r#"{"schemas": {"Thing": {"type": "strin"}}}"#,
    ));
    assert!(
        err.starts_with("invalid schema at #/components/schemas/Thing"),
        "{err}"
    );
    let err = load_err(&doc_with(
        r#"{"type": "object", "properties": {"a": {"minLength": -1}}}"#,
        "{}",
    ));
    assert!(
        err.starts_with("invalid schema at #/paths/~1things/post/requestBody/content/application~1json/schema/properties/a/minLength"),
        "{err}"
    );
    let err = load_err(&doc_with(
        r#"{"type": "string", "pattern": "(?=lookahead)"}"#,
        "{}",
    ));
    assert!(
        err.starts_with("invalid schema at #/paths/~1things/post"),
        "backtracking-only regex refused: {err}"
    );
}

#[test]
fn remote_and_dangling_refs_are_refused() {
    let err = load_err(&doc_with(
        r#"{"$ref": "https://evil.example/schema.json"}"#,
        "{}",
    ));
    assert_eq!(
        err,
        "remote $ref \"https://evil.example/schema.json\" at #/paths/~1things/post/requestBody/content/application~1json/schema/$ref is not supported: only local references (`#/...`) are resolved"
    );
    let err = load_err(&doc_with(r#"{"$ref": "common.yaml#/Thing"}"#, "{}"));
    assert!(
        err.starts_with("remote $ref \"common.yaml#/Thing\""),
        "{err}"
    );
    let err = load_err(&doc_with(
        r##"{"$ref": "#/components/schemas/Missing"}"##,
        r#"{"schemas": {}}"#,
    ));
    assert!(
        err.starts_with("unresolvable $ref \"#/components/schemas/Missing\" at #/paths/~1things"),
        "{err}"
    );
}

#[test]
fn ref_cycles_are_refused_without_hanging() {
    let pure = doc_with(
        r##"{"$ref": "#/components/schemas/A"}"##,
        r##"{"schemas": {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}}"##,
    );
    let err = load_err(&pure);
    assert!(err.starts_with("$ref cycle at"), "{err}");
    assert!(
        err.contains("#/components/schemas/A -> #/components/schemas/B"),
        "{err}"
    );

    let in_place = doc_with(
        r##"{"$ref": "#/components/schemas/A"}"##,
        r##"{"schemas": {"A": {"type": "object", "allOf": [{"$ref": "#/components/schemas/B"}]},
                          "B": {"anyOf": [{"$ref": "#/components/schemas/A"}]}}}"##,
    );
    let err = load_err(&in_place);
    assert!(err.starts_with("$ref cycle at"), "{err}");

    let params = r##"{"openapi": "3.0.3", "paths": {"/p": {"get": {
        "parameters": [{"$ref": "#/components/parameters/a"}], "responses": {}}}},
        "components": {"parameters": {"a": {"$ref": "#/components/parameters/b"}, "b": {"$ref": "#/components/parameters/a"}}}}"##;
    let err = load_err(params);
    assert!(err.starts_with("$ref cycle at"), "{err}");
    assert!(
        err.contains("#/components/parameters/a -> #/components/parameters/b"),
        "{err}"
    );
}

#[test]
fn recursion_through_properties_is_fine() {
    let doc = doc_with(
        r##"{"$ref": "#/components/schemas/Node"}"##,
        r##"{"schemas": {"Node": {"type": "object", "properties": {
            "next": {"allOf": [{"$ref": "#/components/schemas/Node"}]},
            "kids": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}},
            "additionalProperties": false}}}"##,
    );
    let v = load(&doc).expect("recursive schema loads");
    let h = HeaderMap::new();
    let deep = format!("{}{{}}{}", r#"{"next": "#.repeat(100), "}".repeat(100));
    let req = |body: &'static [u8]| RequestView {
        method: "POST",
        path: "/things",
        query: None,
        headers: &h,
        content_type: Some("application/json"),
        body: Some(body),
    };
    let deep: &'static [u8] = deep.into_bytes().leak();
    v.validate_request(&req(deep)).unwrap();
    let err = v
        .validate_request(&req(br#"{"kids": [{"next": {"oops": 1}}]}"#))
        .unwrap_err();
    assert_eq!(err[0].location, "body /kids/0/next");
}

#[test]
fn backtracking_patterns_are_opt_in() {
    let doc = doc_with(
        r#"{"type": "object", "properties": {"pw": {"type": "string", "pattern": "^(?=.*[0-9]).{8,}$"}}}"#,
        "{}",
    );
    assert!(
        load(&doc).is_err(),
        "look-ahead needs the backtracking engine"
    );
    let v = OpenApiValidator::load(
        &doc,
        &OpenApiOptions {
            backtracking_patterns: true,
            ..OpenApiOptions::default()
        },
    )
    .expect("loads with backtracking patterns");
    let h = HeaderMap::new();
    let req = |body: &'static [u8]| RequestView {
        method: "POST",
        path: "/things",
        query: None,
        headers: &h,
        content_type: Some("application/json"),
        body: Some(body),
    };
    v.validate_request(&req(br#"{"pw": "abcdefg1"}"#)).unwrap();
    let err = v
        .validate_request(&req(br#"{"pw": "abcdefgh"}"#))
        .unwrap_err();
    assert_eq!(err[0].location, "body /pw");
}
