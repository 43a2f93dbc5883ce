use portcullis_policy::{Pipeline, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, compile_in, entry, err, exchange, request_pipeline, run};

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn valid_config_compiles() {
    crate::test_util::assert_schema_documented::<SetHeadersConfig>();
    let config = json!({ "add": { "X-Via": "portcullis" }, "set": { "X-Env": "prod" }, "remove": ["Server"] });
    assert_eq!(entry("set-headers", config).policy.kind(), "set-headers");
}

#[test]
fn invalid_configs_give_exact_errors() {
    let errors = compile_errors(
        "set-headers",
        json!({
            "set": { "X-Foo": "bad\u{7}value", "Host": "example.com", "X-Dup": "1", "x-dup": "2" },
            "add": { "bad name": "v", "Transfer-Encoding": "chunked" },
            "remove": ["X-Ok", "Content-Length"],
        }),
    );
    assert_eq!(
        errors,
        [
            err(
                "remove[1]",
                "'content-length' is managed by the gateway and cannot be removed"
            ),
            err(
                "set.Host",
                "'host' is managed by the gateway and cannot be set"
            ),
            err(
                "set.X-Foo",
                "invalid header value: only visible ASCII, spaces and tabs are allowed"
            ),
            err(
                "set.x-dup",
                "duplicate header 'x-dup' (names are case-insensitive)"
            ),
            err(
                "add.Transfer-Encoding",
                "'transfer-encoding' is managed by the gateway and cannot be set"
            ),
            err("add.bad name", "invalid header name 'bad name'"),
        ]
    );
    assert_eq!(
        compile_errors("set-headers", json!({})),
        [err("", "nothing to do: give add, set or remove")]
    );
    assert_eq!(
        compile_errors("set-headers", json!({ "set": ["x"] }))[0].path,
        "set"
    );
}

#[tokio::test]
async fn request_list_changes_the_request_in_order_remove_set_add() {
    let p = request_pipeline(vec![entry(
        "set-headers",
        json!({
            "remove": ["x-internal", "x-replace"],
            "set": { "X-Replace": "new", "X-Env": "prod" },
            "add": { "X-Replace": "extra", "X-Forwarded-Api": "orders" },
        }),
    )]);
    let mut ex = exchange(
        "GET",
        "/",
        &[
            ("x-internal", "secret"),
            ("x-replace", "old"),
            ("x-env", "dev"),
            ("x-env", "test"),
        ],
    );
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    let h = &ex.request.headers;
    assert!(h.get("x-internal").is_none());
    assert_eq!(values(h, "x-replace"), ["new", "extra"]);
    assert_eq!(values(h, "x-env"), ["prod"]);
    assert_eq!(values(h, "x-forwarded-api"), ["orders"]);
    assert!(
        done.response.headers.get("x-env").is_none(),
        "the response is untouched"
    );
}

#[tokio::test]
async fn response_list_changes_the_response_only() {
    let policy = compile_in(
        "set-headers",
        json!({ "remove": ["server"], "set": { "X-Frame-Options": "DENY" } }),
        Phase::Response,
    )
    .unwrap();
    assert!(policy.policy.has_response_phase());
    let p = Pipeline::new(Vec::new(), vec![policy]);
    let mut ex = exchange("GET", "/", &[("x-frame-options", "request-side")]);
    let (_, ran) = p.run_request(&mut ex).await;
    let (mut head, ()) = http::Response::builder()
        .header("server", "nginx/1.0")
        .body(())
        .unwrap()
        .into_parts();
    head.status = http::StatusCode::OK;
    ex.response = Some(head);
    assert!(p.run_response(&mut ex, ran, true).await.is_none());
    let response = ex.response.unwrap();
    assert!(response.headers.get("server").is_none());
    assert_eq!(values(&response.headers, "x-frame-options"), ["DENY"]);
    assert_eq!(
        values(&ex.request.headers, "x-frame-options"),
        ["request-side"]
    );
}

#[tokio::test]
async fn monitor_mode_still_transforms_and_records_nothing() {
    // Monitor mode only softens blocking decisions; a pure transformation has none.
    let p = request_pipeline(vec![entry(
        "set-headers",
        json!({ "set": { "X-A": "1" }, "mode": "monitor" }),
    )]);
    let mut ex = exchange("GET", "/", &[]);
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(values(&ex.request.headers, "x-a"), ["1"]);
    assert!(ex.ctx.events.is_empty());
}
