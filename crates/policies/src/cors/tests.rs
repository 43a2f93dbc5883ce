use portcullis_policy::{Mode, Pipeline, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{
    Done, compile_errors, compile_in, entry, err, exchange, request_pipeline, run,
};

const APP: &str = "https://app.example.com";

fn cors(config: serde_json::Value) -> Pipeline {
    request_pipeline(vec![entry("cors", config)])
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Exchange {
    let mut h = vec![
        ("origin", origin),
        ("access-control-request-method", method),
    ];
    h.extend(headers.map(|v| ("access-control-request-headers", v)));
    exchange("OPTIONS", "/orders", &h)
}

fn actual(origin: Option<&str>) -> Exchange {
    let h: Vec<_> = origin.map(|o| ("origin", o)).into_iter().collect();
    exchange("GET", "/orders", &h)
}

fn reply_of(done: &Done) -> &Reply {
    match &done.outcome {
        RequestOutcome::Respond(reply) => reply,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn valid_config_compiles() {
    crate::test_util::assert_schema_documented::<CorsConfig>();
    let e = entry(
        "cors",
        json!({ "allow_origins": [APP, "https://*.example.org"], "allow_credentials": true, "max_age": "1h" }),
    );
    assert_eq!(e.policy.kind(), "cors");
    assert!(e.policy.has_response_phase());
}

#[test]
fn invalid_configs_give_exact_errors() {
    assert_eq!(
        compile_errors(
            "cors",
            json!({ "allow_origins": ["*"], "allow_credentials": true })
        ),
        [err(
            "allow_credentials",
            "cannot be true when allow_origins contains '*': list the trusted origins instead"
        )]
    );
    assert_eq!(
        compile_errors(
            "cors",
            json!({ "allow_origins": [APP, "app.example.com", "null"] })
        ),
        [
            err(
                "allow_origins[1]",
                "invalid origin 'app.example.com': expected scheme://host[:port] with no path, '*', or a pattern like https://*.example.com"
            ),
            err(
                "allow_origins[2]",
                "'null' must not be allowed: sandboxed documents and file: URLs all send it"
            ),
        ]
    );
    assert_eq!(
        compile_errors(
            "cors",
            json!({ "allow_origins": [], "allow_methods": ["GET", "BAD METHOD"], "allow_headers": ["x-ok", "bad header"] })
        ),
        [
            err("allow_origins", "list at least one origin"),
            err("allow_methods[1]", "invalid name 'BAD METHOD'"),
            err("allow_headers[1]", "invalid name 'bad header'"),
        ]
    );
    assert_eq!(
        compile_errors(
            "cors",
            json!({ "allow_origins": [APP], "allow_credentials": true, "expose_headers": ["*"] })
        ),
        [err(
            "expose_headers",
            "'*' is taken literally by browsers when allow_credentials is true: list the headers"
        )]
    );
    assert_eq!(
        compile_errors("cors", json!({ "allow_origins": [APP], "max_age": "soon" }))[0].path,
        "max_age"
    );
    assert_eq!(
        compile_errors("cors", json!({ "allow_origin": [APP] }))[0].path,
        "allow_origin"
    );
    let in_response = compile_in("cors", json!({ "allow_origins": [APP] }), Phase::Response);
    assert_eq!(
        in_response.unwrap_err(),
        [err(
            "",
            "cors answers preflight requests; place it in a request list"
        )]
    );
}

#[tokio::test]
async fn allowed_preflight_is_answered_with_exact_headers() {
    let p = cors(json!({ "allow_origins": [APP], "expose_headers": ["x-request-id"] }));
    let done = run(
        &p,
        &mut preflight(APP, "PUT", Some("Content-Type, X-Api-Key")),
        200,
    )
    .await;
    let reply = reply_of(&done);
    assert_eq!(reply.status(), 204);
    let mut headers: Vec<_> = reply
        .headers()
        .iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect();
    headers.sort();
    assert_eq!(
        headers,
        [
            "access-control-allow-headers: content-type, authorization, x-api-key",
            "access-control-allow-methods: GET, HEAD, POST, PUT, PATCH, DELETE",
            "access-control-allow-origin: https://app.example.com",
            "access-control-max-age: 600",
            "vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ]
    );
    // The response phase leaves the preflight answer alone.
    assert_eq!(done.header("access-control-expose-headers"), "");
    assert_eq!(done.header("vary"), PREFLIGHT_VARY);
}

#[tokio::test]
async fn disallowed_preflights_are_rejected() {
    let p = cors(json!({ "allow_origins": [APP, "https://*.example.org"] }));
    for (origin, method, headers, why) in [
        (
            "https://evil.example.net",
            "GET",
            None,
            "origin not allowed",
        ),
        (APP, "TRACE", None, "method not allowed"),
        (
            APP,
            "POST",
            Some("content-type, x-secret"),
            "request headers not allowed",
        ),
    ] {
        let done = run(&p, &mut preflight(origin, method, headers), 200).await;
        let RequestOutcome::Fail(e) = &done.outcome else {
            panic!("{done:?}")
        };
        assert_eq!((e.code(), e.detail()), ("cors.rejected", Some(why)));
        assert_eq!(done.response.status, 403);
    }
    let ok = run(
        &p,
        &mut preflight("https://a.example.org", "DELETE", Some("authorization")),
        200,
    )
    .await;
    assert_eq!(reply_of(&ok).status(), 204);
}

#[tokio::test]
async fn wildcards_with_credentials_reflect_the_request() {
    let p = cors(
        json!({ "allow_origins": ["https://*.example.com"], "allow_methods": ["*"], "allow_headers": ["*"], "allow_credentials": true }),
    );
    let done = run(&p, &mut preflight(APP, "PROPFIND", Some("x-anything")), 200).await;
    let h = reply_of(&done).headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "PROPFIND");
    assert_eq!(h["access-control-allow-headers"], "x-anything");
    let open =
        cors(json!({ "allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"] }));
    let done = run(
        &open,
        &mut preflight(APP, "PROPFIND", Some("x-anything")),
        200,
    )
    .await;
    let h = reply_of(&done).headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-methods"], "*");
    assert_eq!(h["access-control-allow-headers"], "*");
}

#[tokio::test]
async fn actual_requests_get_cors_headers_on_the_response() {
    let p = cors(
        json!({ "allow_origins": [APP], "allow_credentials": true, "expose_headers": ["x-request-id", "ETag"] }),
    );
    let done = run(&p, &mut actual(Some(APP)), 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(done.header("access-control-allow-origin"), APP);
    assert_eq!(done.header("access-control-allow-credentials"), "true");
    assert_eq!(
        done.header("access-control-expose-headers"),
        "x-request-id, etag"
    );
    assert_eq!(done.header("vary"), "Origin");

    let done = run(&p, &mut actual(Some("https://evil.example.net")), 200).await;
    assert!(
        matches!(done.outcome, RequestOutcome::Forward),
        "still proxied"
    );
    assert_eq!(done.header("access-control-allow-origin"), "");
    assert_eq!(done.header("access-control-allow-credentials"), "");
    assert_eq!(
        done.header("vary"),
        "Origin",
        "caches must still key on Origin"
    );

    let star = cors(json!({ "allow_origins": ["*"] }));
    let done = run(&star, &mut actual(Some(APP)), 200).await;
    assert_eq!(done.header("access-control-allow-origin"), "*");
    assert_eq!(done.header("vary"), "", "a constant '*' does not vary");
}

#[tokio::test]
async fn upstream_cors_headers_are_replaced_and_vary_is_merged() {
    let policy = entry("cors", json!({ "allow_origins": [APP] }));
    let mut ex = actual(Some("https://evil.example.net"));
    let p = request_pipeline(vec![policy]);
    let (_, ran) = p.run_request(&mut ex).await;
    let (mut head, ()) = http::Response::builder()
        .header("access-control-allow-origin", "*")
        .header("vary", "Accept-Encoding")
        .body(())
        .unwrap()
        .into_parts();
    head.status = StatusCode::OK;
    ex.response = Some(head);
    assert!(p.run_response(&mut ex, ran, true).await.is_none());
    let h = &ex.response.as_ref().unwrap().headers;
    assert!(
        h.get("access-control-allow-origin").is_none(),
        "a permissive upstream cannot widen the policy"
    );
    let vary: Vec<_> = h
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
}

#[tokio::test]
async fn errors_from_later_policies_carry_cors_headers() {
    let p = request_pipeline(vec![
        entry("cors", json!({ "allow_origins": [APP] })),
        entry("access-control", json!({ "deny": ["192.0.2.0/24"] })),
    ]);
    let done = run(&p, &mut actual(Some(APP)), 200).await;
    assert_eq!(done.code(), Some("access.denied"));
    assert_eq!(done.header("access-control-allow-origin"), APP);
}

#[tokio::test]
async fn monitor_mode_proxies_a_rejected_preflight_and_records_it() {
    let p = cors(json!({ "allow_origins": [APP], "mode": "monitor" }));
    let mut ex = preflight("https://evil.example.net", "GET", None);
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(ex.ctx.events.len(), 1);
    assert_eq!(
        (ex.ctx.events[0].code, ex.ctx.events[0].mode),
        ("cors.rejected", Mode::Monitor)
    );
}
