//! OpenAPI 3.0 behaviour against a Petstore-like document: accepted requests, each violation
//! kind with its exact code and location, and several violations reported together.

use http::{HeaderMap, HeaderValue};
use portcullis_threat::openapi::{OpenApiOptions, OpenApiValidator, RequestView, Violation, codes};

const DOC: &str = include_str!("data/openapi/petstore-3.0.yaml");

fn validator(opts: &OpenApiOptions) -> OpenApiValidator {
    OpenApiValidator::load(DOC, opts).expect("petstore document loads")
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_str(v).unwrap());
    }
    map
}

fn view<'a>(
    method: &'a str,
    target: &'a str,
    headers: &'a HeaderMap,
    ct: Option<&'a str>,
    body: Option<&'a [u8]>,
) -> RequestView<'a> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    RequestView {
        method,
        path,
        query,
        headers,
        content_type: ct,
        body,
    }
}

fn violations(v: &OpenApiValidator, req: &RequestView<'_>) -> Vec<(&'static str, String)> {
    match v.validate_request(req) {
        Ok(op) => panic!(
            "expected violations, request matched {:?}",
            op.operation_id()
        ),
        Err(list) => list
            .into_iter()
            .map(|Violation { code, location, .. }| (code, location))
            .collect(),
    }
}

fn pairs(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    list.iter().map(|(c, l)| (*c, (*l).to_owned())).collect()
}

#[test]
fn valid_requests_are_accepted_and_expose_the_operation() {
    let v = validator(&OpenApiOptions::default());
    let h = headers(&[
        ("x-rate", "9.5"),
        ("cookie", "theme=dark; session=deadbeef"),
    ]);
    let op = v
        .validate_request(&view(
            "GET",
            "/pets?limit=10&tags=a&tags=b&status=available,sold",
            &h,
            None,
            None,
        ))
        .unwrap();
    assert_eq!(op.operation_id(), Some("listPets"));
    assert_eq!(op.path_template(), "/pets");
    let security = op.security().unwrap();
    assert_eq!(security[0].schemes[0].name, "api_key");

    let empty = HeaderMap::new();
    let op = v
        .validate_request(&view("GET", "/pets/42", &empty, None, None))
        .unwrap();
    assert_eq!(op.operation_id(), Some("showPetById"));
    assert_eq!(op.path_params(), &[("petId".to_owned(), "42".to_owned())]);

    let mine = v
        .validate_request(&view("GET", "/pets/mine", &empty, None, None))
        .unwrap();
    assert_eq!(
        mine.operation_id(),
        Some("listMyPets"),
        "literal segment wins over {{petId}}"
    );
    assert_eq!(mine.security(), Some(&[][..]), "explicit `security: []`");

    let body = br#"{"name": "Rex", "tag": null, "age": 3, "owner": null}"#;
    let op = v
        .validate_request(&view(
            "POST",
            "/pets",
            &empty,
            Some("application/json; charset=utf-8"),
            Some(body),
        ))
        .unwrap();
    assert_eq!(
        op.security().unwrap()[0].schemes[0].scopes,
        vec!["pets:write".to_owned()]
    );

    let form = b"name=Rex&age=2";
    v.validate_request(&view(
        "POST",
        "/pets",
        &empty,
        Some("application/x-www-form-urlencoded"),
        Some(form),
    ))
    .unwrap();

    let h = headers(&[("x-request-id", "6f1c1a52-1b1e-4c89-9e43-3d1c7c1f0a11")]);
    v.validate_request(&view(
        "PUT",
        "/pets/7?dryRun=true",
        &h,
        Some("application/vnd.pet+json"),
        Some(br#"{"name":"Tom"}"#),
    ))
    .unwrap();
    let head = v
        .validate_request(&view("HEAD", "/pets/7", &empty, None, None))
        .unwrap();
    assert_eq!(head.method(), "GET");
}

#[test]
fn path_and_method_violations() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    assert_eq!(
        violations(&v, &view("GET", "/unicorns", &h, None, None)),
        pairs(&[(codes::PATH_NOT_FOUND, "path")])
    );
    assert_eq!(
        violations(&v, &view("GET", "/pets/1/2", &h, None, None)),
        pairs(&[(codes::PATH_NOT_FOUND, "path")])
    );
    let err = v
        .validate_request(&view("PATCH", "/pets/1", &h, None, None))
        .unwrap_err();
    assert_eq!(
        (err[0].code, err[0].location.as_str()),
        (codes::METHOD_NOT_ALLOWED, "method")
    );
    assert!(
        err[0].message.contains("GET, PUT, DELETE, HEAD"),
        "{}",
        err[0].message
    );
    assert_eq!(v.allowed_methods("/pets/1"), Some("GET, PUT, DELETE, HEAD"));
    assert_eq!(v.allowed_methods("/nope"), None);
}

#[test]
fn parameter_violations_have_exact_codes_and_locations() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    assert_eq!(
        violations(&v, &view("GET", "/pets/abc", &h, None, None)),
        pairs(&[(codes::PARAMETER_INVALID, "path.petId")])
    );
    assert_eq!(
        violations(&v, &view("GET", "/pets/0", &h, None, None)),
        pairs(&[(codes::PARAMETER_INVALID, "path.petId")])
    );
    assert_eq!(
        violations(&v, &view("GET", "/pets?limit=101", &h, None, None)),
        pairs(&[(codes::PARAMETER_INVALID, "query.limit")])
    );
    assert_eq!(
        violations(&v, &view("GET", "/pets?limit=1&limit=100", &h, None, None)),
        pairs(&[(codes::PARAMETER_INVALID, "query.limit")]),
        "parameter pollution"
    );
    assert_eq!(
        violations(
            &v,
            &view("GET", "/pets?status=available,lost", &h, None, None)
        ),
        pairs(&[(codes::PARAMETER_INVALID, "query.status /1")])
    );
    let rate = headers(&[("x-rate", "10")]);
    assert_eq!(
        violations(&v, &view("GET", "/pets", &rate, None, None)),
        pairs(&[(codes::PARAMETER_INVALID, "header.x-rate")]),
        "3.0 boolean exclusiveMaximum"
    );
    let cookie = headers(&[("cookie", "session=NOTHEX!!")]);
    assert_eq!(
        violations(&v, &view("GET", "/pets", &cookie, None, None)),
        pairs(&[(codes::PARAMETER_INVALID, "cookie.session")])
    );
    let bad_uuid = headers(&[("x-request-id", "not-a-uuid")]);
    assert_eq!(
        violations(
            &v,
            &view("PUT", "/pets/1?dryRun=maybe", &bad_uuid, None, None)
        ),
        pairs(&[
            (codes::PARAMETER_INVALID, "header.x-request-id"),
            (codes::PARAMETER_INVALID, "query.dryRun")
        ])
    );
    assert_eq!(
        violations(&v, &view("PUT", "/pets/1", &h, None, None)),
        pairs(&[(codes::PARAMETER_MISSING, "header.x-request-id")])
    );
}

#[test]
fn unknown_query_parameters_are_rejected_only_when_asked() {
    let h = HeaderMap::new();
    let lenient = validator(&OpenApiOptions::default());
    lenient
        .validate_request(&view("GET", "/pets?cachebuster=1", &h, None, None))
        .unwrap();
    let strict = validator(&OpenApiOptions {
        reject_unknown_query_params: true,
        ..OpenApiOptions::default()
    });
    assert_eq!(
        violations(
            &strict,
            &view("GET", "/pets?limit=5&debug=1&debug=2", &h, None, None)
        ),
        pairs(&[(codes::QUERY_PARAM_UNKNOWN, "query.debug")])
    );
}

#[test]
fn body_violations() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    assert_eq!(
        violations(&v, &view("POST", "/pets", &h, None, None)),
        pairs(&[(codes::BODY_REQUIRED, "body")])
    );
    assert_eq!(
        violations(
            &v,
            &view("POST", "/pets", &h, Some("text/plain"), Some(b"name=Rex"))
        ),
        pairs(&[(codes::CONTENT_TYPE_NOT_ALLOWED, "content-type")])
    );
    assert_eq!(
        violations(&v, &view("POST", "/pets", &h, None, Some(b"{}"))),
        pairs(&[(codes::CONTENT_TYPE_NOT_ALLOWED, "content-type")])
    );
    assert_eq!(
        violations(
            &v,
            &view(
                "POST",
                "/pets",
                &h,
                Some("application/json"),
                Some(b"{\"name\": ")
            )
        ),
        pairs(&[(codes::BODY_INVALID, "body")])
    );
    assert_eq!(
        violations(
            &v,
            &view(
                "POST",
                "/pets",
                &h,
                Some("application/json"),
                Some(br#"{"name": "Rex", "age": 0}"#)
            )
        ),
        pairs(&[(codes::BODY_INVALID, "body /age")]),
        "3.0 exclusiveMinimum: true excludes 0"
    );
    // A repeated member name is refused even when the last value (the one `serde_json` and the
    // schema see) is valid: a back end that keeps the first one would act on `age: 0`.
    assert_eq!(
        violations(
            &v,
            &view(
                "POST",
                "/pets",
                &h,
                Some("application/json"),
                Some(br#"{"name": "Rex", "age": 0, "age": 3}"#)
            )
        ),
        pairs(&[(codes::BODY_INVALID, "body")])
    );
    assert_eq!(
        violations(
            &v,
            &view(
                "DELETE",
                "/pets/1",
                &h,
                Some("application/json"),
                Some(b"{}")
            )
        ),
        pairs(&[(codes::BODY_NOT_ALLOWED, "body")])
    );
    let lenient = validator(&OpenApiOptions {
        reject_undeclared_body: false,
        ..OpenApiOptions::default()
    });
    lenient
        .validate_request(&view(
            "DELETE",
            "/pets/1",
            &h,
            Some("application/json"),
            Some(b"{}"),
        ))
        .unwrap();
}

#[test]
fn nullable_is_understood() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    let ok = br#"{"name": "Rex", "tag": null, "owner": null}"#;
    v.validate_request(&view(
        "POST",
        "/pets",
        &h,
        Some("application/json"),
        Some(ok),
    ))
    .unwrap();
    let bad = br#"{"name": null, "tag": 5, "owner": {"email": "a@example.com"}}"#;
    assert_eq!(
        violations(
            &v,
            &view("POST", "/pets", &h, Some("application/json"), Some(bad))
        ),
        pairs(&[
            (codes::BODY_INVALID, "body /name"),
            (codes::BODY_INVALID, "body /tag")
        ])
    );
}

#[test]
fn all_violations_are_reported_together() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    let body = br#"{"items": [{"sku": "ABC-1234", "qty": 2}, {"sku": "bad", "qty": 0, "extra": 1}], "note": 5}"#;
    let mut got = violations(
        &v,
        &view("POST", "/orders", &h, Some("application/json"), Some(body)),
    );
    got.sort();
    let mut want = pairs(&[
        (codes::BODY_INVALID, "body /items/1"),
        (codes::BODY_INVALID, "body /items/1/qty"),
        (codes::BODY_INVALID, "body /items/1/sku"),
        (codes::BODY_INVALID, "body /note"),
    ]);
    want.sort();
    assert_eq!(got, want);

    let rate = headers(&[("x-rate", "-1")]);
    let got = violations(
        &v,
        &view(
            "GET",
            "/pets?limit=0&tags=waytoolongforthetagslimit",
            &rate,
            None,
            None,
        ),
    );
    assert_eq!(
        got,
        pairs(&[
            (codes::PARAMETER_INVALID, "query.limit"),
            (codes::PARAMETER_INVALID, "query.tags /0"),
            (codes::PARAMETER_INVALID, "header.x-rate"),
        ])
    );
}

#[test]
fn violations_are_capped() {
    let v = validator(&OpenApiOptions {
        max_violations: 3,
        ..OpenApiOptions::default()
    });
    let items: Vec<String> = (0..50)
        .map(|_| r#"{"sku": "x", "qty": 0}"#.to_owned())
        .collect();
    let body = format!(r#"{{"items": [{}]}}"#, items.join(","));
    let h = HeaderMap::new();
    let err = v
        .validate_request(&view(
            "POST",
            "/orders",
            &h,
            Some("application/json"),
            Some(body.as_bytes()),
        ))
        .unwrap_err();
    assert_eq!(err.len(), 3);
}

#[test]
fn recursive_schemas_validate_without_hanging() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    let op = v
        .validate_request(&view("GET", "/categories/root", &h, None, None))
        .unwrap();
    let tree = br#"{"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}"#;
    assert!(
        v.validate_response(&op, 200, Some("application/json"), Some(tree))
            .is_empty()
    );
    let bad = br#"{"name": "a", "children": [{"children": [{"name": 1}]}]}"#;
    let got: Vec<String> = v
        .validate_response(&op, 200, Some("application/json"), Some(bad))
        .into_iter()
        .map(|v| v.location)
        .collect();
    assert_eq!(
        got,
        vec![
            "body /children/0".to_owned(),
            "body /children/0/children/0/name".to_owned()
        ]
    );
}

#[test]
fn base_path_is_stripped_when_configured() {
    let v = validator(&OpenApiOptions {
        base_path: Some("/v1/".to_owned()),
        ..OpenApiOptions::default()
    });
    let h = HeaderMap::new();
    v.validate_request(&view("GET", "/v1/pets/3", &h, None, None))
        .unwrap();
    assert_eq!(
        violations(&v, &view("GET", "/pets/3", &h, None, None)),
        pairs(&[(codes::PATH_NOT_FOUND, "path")])
    );
    assert_eq!(
        violations(&v, &view("GET", "/v1pets/3", &h, None, None)),
        pairs(&[(codes::PATH_NOT_FOUND, "path")])
    );
}

#[test]
fn a_preparsed_body_is_validated_instead_of_the_bytes() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    let bytes = br#"{"items": [{"sku": "ABC-1234", "qty": 1}]}"#;
    let req = view("POST", "/orders", &h, Some("application/json"), Some(bytes));
    v.validate_request_with_json(&req, &serde_json::from_slice(bytes).unwrap())
        .unwrap();
    let other = serde_json::json!({"items": []});
    let err = v.validate_request_with_json(&req, &other).unwrap_err();
    assert_eq!(
        (err[0].code, err[0].location.as_str()),
        (codes::BODY_INVALID, "body /items")
    );
}

#[test]
fn read_only_and_write_only_properties_are_required_in_one_direction_only() {
    let v = validator(&OpenApiOptions::default());
    let h = HeaderMap::new();
    let create = br#"{"login": "ann", "password": "correct horse battery"}"#;
    let op = v
        .validate_request(&view(
            "POST",
            "/users",
            &h,
            Some("application/json"),
            Some(create),
        ))
        .expect("readOnly id is not required in a request");
    let missing_password = br#"{"login": "ann"}"#;
    assert_eq!(
        violations(
            &v,
            &view(
                "POST",
                "/users",
                &h,
                Some("application/json"),
                Some(missing_password)
            )
        ),
        pairs(&[(codes::BODY_INVALID, "body")])
    );
    let created = br#"{"id": 7, "login": "ann"}"#;
    assert!(
        v.validate_response(&op, 201, Some("application/json"), Some(created))
            .is_empty()
    );
    let no_id = br#"{"login": "ann"}"#;
    let got = v.validate_response(&op, 201, Some("application/json"), Some(no_id));
    assert_eq!((got.len(), got[0].code), (1, codes::RESPONSE_BODY_INVALID));
}
