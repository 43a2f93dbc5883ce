//! The committed `docs/admin-openapi.json` must be exactly what the code serves at
//! `/admin/v1/openapi.json`. Regenerate with
//! `UPDATE_DOCS=1 cargo test -p portcullis-admin --test openapi_up_to_date`.

use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/admin-openapi.json");
const REGENERATE: &str = "UPDATE_DOCS=1 cargo test -p portcullis-admin --test openapi_up_to_date";

#[test]
fn committed_document_is_up_to_date() {
    let generated = portcullis_admin::openapi_json();
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(COMMITTED, &generated).expect("write docs/admin-openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "docs/admin-openapi.json is out of date (first difference at line {}).\n\
             Regenerate it with:\n\n    {REGENERATE}\n",
            line + 1
        );
    }
}

#[test]
fn document_is_openapi_3_1_with_bearer_auth_everywhere_but_login() {
    let doc: Value = serde_json::from_str(&portcullis_admin::openapi_json()).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(path.starts_with("/admin/v1/"), "{path}");
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            if path == "/admin/v1/login" {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{}]),
                    "login is anonymous"
                );
                assert!(responses.contains_key("429"), "login documents throttling");
            } else {
                assert!(
                    op.get("security").is_none(),
                    "{method} {path} overrides security"
                );
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} documents 401"
                );
                assert!(
                    responses.contains_key("403"),
                    "{method} {path} documents 403"
                );
            }
            assert!(
                responses.contains_key("503"),
                "{method} {path} documents 503"
            );
            if op.get("requestBody").is_some() {
                assert!(
                    responses.contains_key("422"),
                    "{method} {path} documents 422"
                );
            }
        }
    }
    // Request bodies refuse unknown fields, as the server does.
    for name in ["CreateDeveloper", "CreateProduct", "Login", "Quota"] {
        assert_eq!(
            doc["components"]["schemas"][name]["additionalProperties"], false,
            "{name}"
        );
    }
}
