//! End-to-end behaviour of the data plane through an in-process gateway: routing, flows,
//! forwarding headers, policies, problem+json errors, the access log, HTTP/2 and WebSocket.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use portcullis_test_support::{Recorder, TestGateway, get, request};

/// One API at `/` in front of `up`, with `request_policies` (a YAML list) and the top-level
/// settings `top`.
fn root_api(up: &Recorder, top: &str, request_policies: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
{top}
apis:
  - name: x
    base_path: /
    upstream: {{ targets: ["{}"] }}
    policies: {{ request: {request_policies} }}
"#,
        up.url()
    )
}

fn config(a: &Recorder, b: &Recorder) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
hooks:
  pre_api: [ {{ access-control: {{ deny: ["192.0.2.0/24"] }} }} ]
apis:
  - name: orders
    base_path: /orders/v1
    upstream: {{ targets: ["{a}/svc"] }}
    policies:
      request:
        - verify-api-key: {{ header: x-api-key }}
      response:
        - set-headers: {{ remove: [server, x-powered-by], set: {{ x-served-by: portcullis }} }}
    flows:
      - name: create-order
        match: {{ method: POST, path: /orders }}
        policies: {{ request: [ {{ request-size-limit: {{ max: 16 }} }} ] }}
      - name: teapot
        match: {{ method: GET, path: /teapot/** }}
        policies: {{ request: [ {{ raise-fault: {{ status: 418, code: custom.teapot, title: "I'm a teapot" }} }} ] }}
  - name: public
    base_path: /
    upstream: {{ targets: ["{b}"] }}
"#,
        a = a.url(),
        b = b.url()
    )
}

#[tokio::test]
async fn routes_by_longest_base_path_and_strips_it() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b)).await;
    let key = gw.create_key("shop").await;

    let r = get(&gw.url("/orders/v1/orders/7?x=1"), &[("x-api-key", &key)]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["upstream"], "a");
    assert_eq!(r.json()["uri"], "/svc/orders/7?x=1");
    // Response policies ran: backend fingerprints removed, header set.
    assert!(r.header("server").is_none());
    assert!(r.header("x-powered-by").is_none());
    assert_eq!(r.header("x-served-by"), Some("portcullis"));
    assert!(r.header("x-request-id").is_some());

    let r = get(&gw.url("/other/thing"), &[]).await;
    assert_eq!(r.json()["upstream"], "b");
    assert_eq!(r.json()["uri"], "/other/thing");
    // `/orders/v10` is not under `/orders/v1`.
    assert_eq!(
        get(&gw.url("/orders/v10"), &[]).await.json()["upstream"],
        "b"
    );
    gw.stop().await;
}

#[tokio::test]
async fn api_key_is_required_and_hidden_from_the_backend() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b)).await;
    let key = gw.create_key("shop").await;

    let r = get(&gw.url("/orders/v1/x"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(
        r.header("www-authenticate"),
        Some("APIKey realm=\"portcullis\", header=\"x-api-key\"")
    );
    let body = r.json();
    assert_eq!(body["code"], "key.missing");
    assert_eq!(body["status"], 401);
    assert_eq!(body["request_id"], r.header("x-request-id").unwrap());

    let r = get(
        &gw.url("/orders/v1/x"),
        &[("x-api-key", "pcl_notAKeyNotAKeyNotAKeyNotAKey00")],
    )
    .await;
    assert_eq!(r.json()["code"], "key.invalid");
    assert_eq!(a.count(), 0, "refused requests never reach the upstream");

    let r = get(&gw.url("/orders/v1/x"), &[("x-api-key", &key)]).await;
    assert_eq!(r.status, 200);
    let seen = &a.requests()[0];
    assert!(
        seen.headers.get("x-api-key").is_none(),
        "key must not reach the backend"
    );

    // Revocation through another store handle (as the CLI would) takes effect quickly.
    let store = gw.store().await;
    use portcullis_store::KeyRepository;
    store.revoke_key(&key[..12]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let r = get(&gw.url("/orders/v1/x"), &[("x-api-key", &key)]).await;
        if r.status == 401 {
            assert_eq!(r.json()["code"], "key.revoked");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "revocation not seen within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn flows_match_method_and_path() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b)).await;
    let key = gw.create_key("shop").await;
    let url = gw.url("/orders/v1/orders");

    // The create-order flow limits bodies to 16 bytes; other methods on the path do not.
    let small = request(Method::POST, &url, &[("x-api-key", &key)], "0123456789").await;
    assert_eq!(small.status, 200);
    let big = request(Method::POST, &url, &[("x-api-key", &key)], "x".repeat(17)).await;
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["code"], "request.body_too_large");
    let put = request(Method::PUT, &url, &[("x-api-key", &key)], "x".repeat(17)).await;
    assert_eq!(put.status, 200);

    let tea = get(&gw.url("/orders/v1/teapot/a/b"), &[("x-api-key", &key)]).await;
    assert_eq!(tea.status, 418);
    assert_eq!(tea.json()["code"], "custom.teapot");
    // The flow ran after the API's policies: without a key the key check answers first.
    assert_eq!(get(&gw.url("/orders/v1/teapot/a"), &[]).await.status, 401);

    let lines = gw.wait_for_log_lines(5).await;
    assert!(
        lines
            .iter()
            .any(|l| l["flow"] == "create-order" && l["status"] == 413)
    );
    assert!(
        lines
            .iter()
            .any(|l| l["flow"] == "teapot" && l["code"] == "custom.teapot")
    );
    gw.stop().await;
}

#[tokio::test]
async fn access_log_has_one_line_per_request_with_identity() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b)).await;
    let key = gw.create_key("shop").await;
    let r = request(
        Method::POST,
        &gw.url("/orders/v1/things"),
        &[("x-api-key", &key)],
        "hello",
    )
    .await;
    assert_eq!(r.status, 200);
    let lines = gw.wait_for_log_lines(1).await;
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l["api"], "orders");
    assert_eq!(l["method"], "POST");
    assert_eq!(l["path"], "/orders/v1/things");
    assert_eq!(l["status"], 200);
    assert_eq!(l["bytes_in"], 5);
    assert_eq!(l["bytes_out"].as_u64().unwrap(), r.body.len() as u64);
    assert_eq!(l["client_ip"], "127.0.0.1");
    assert!(l["app_id"].as_str().unwrap().starts_with("app_"));
    assert!(l["upstream_ms"].as_f64().is_some());
    assert_eq!(l["request_id"], r.header("x-request-id").unwrap());
    let text = String::from_utf8_lossy(&serde_json::to_vec(&lines).unwrap()).into_owned();
    assert!(!text.contains(&key), "the key must never be logged");
    gw.stop().await;
}

/// A policy that reads the whole body (here json-threat-protection) must not change what the
/// access log counts: the body's bytes, once.
#[tokio::test]
async fn access_log_counts_a_buffered_body_once() {
    let up = Recorder::start("a").await;
    let yaml = root_api(&up, "", "[ { json-threat-protection: {} } ]");
    let gw = TestGateway::start(&yaml).await;
    let body = r#"{"order":{"id":7,"items":["a","b"]}}"#;
    let r = request(
        Method::POST,
        &gw.url("/orders"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let lines = gw.wait_for_log_lines(1).await;
    assert_eq!(lines[0]["bytes_in"], body.len());
    gw.stop().await;
}

/// Behind a trusted proxy, `access-control` judges the right-most untrusted hop; a client that
/// puts an allowed address to the left of an entry the walk cannot read is not let in.
#[tokio::test]
async fn the_client_ip_behind_a_trusted_proxy_cannot_be_chosen_by_the_client() {
    let a = Recorder::start("a").await;
    let yaml = root_api(
        &a,
        r#"trusted_proxies: ["127.0.0.0/8"]"#,
        r#"[ { access-control: { allow: ["192.0.2.0/24"] } } ]"#,
    );
    let gw = TestGateway::start(&yaml).await;
    for (chain, status) in [
        ("192.0.2.1", 200),
        ("198.51.100.4, 192.0.2.1", 200),
        ("192.0.2.1, 198.51.100.4", 403),
        ("192.0.2.1, 198.51.100.4:50123", 403),
        ("192.0.2.1, [2001:db8::4]:443", 403),
        ("192.0.2.1, unknown", 403),
    ] {
        let r = get(&gw.url("/x"), &[("x-forwarded-for", chain)]).await;
        assert_eq!(r.status, status, "{chain}");
    }
    gw.stop().await;
}

/// A client's `Connection` header names hop-by-hop headers of its own message: it cannot make
/// the gateway drop a header that a policy (or the gateway) adds for the upstream.
#[tokio::test]
async fn connection_cannot_remove_headers_the_gateway_adds() {
    let a = Recorder::start("a").await;
    let yaml = root_api(&a, "", "[ { set-headers: { set: { x-tier: basic } } } ]");
    let gw = TestGateway::start(&yaml).await;
    let r = get(
        &gw.url("/x"),
        &[
            ("x-tier", "gold"),
            ("x-drop-me", "1"),
            (
                "connection",
                "x-tier, x-forwarded-for, x-request-id, x-drop-me",
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = &a.requests()[0];
    assert_eq!(seen.headers["x-tier"], "basic");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert!(seen.headers.contains_key("x-request-id"));
    assert!(seen.headers.get("x-drop-me").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn forwarding_headers_are_set_and_client_spoofing_is_replaced() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b)).await;
    let r = get(
        &gw.url("/x"),
        &[
            ("x-forwarded-for", "203.0.113.50"),
            ("x-request-id", "spoofed"),
            ("connection", "x-drop-me"),
            ("x-drop-me", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = &b.requests()[0];
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert!(
        seen.headers["forwarded"]
            .to_str()
            .unwrap()
            .starts_with("for=127.0.0.1;proto=http")
    );
    assert_ne!(seen.headers["x-request-id"], "spoofed");
    assert!(
        seen.headers.get("x-drop-me").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(seen.headers["host"], b.addr.to_string());
    assert!(
        seen.headers.get("content-length").is_none(),
        "a GET without body gains no length"
    );
    gw.stop().await;
}

#[tokio::test]
async fn unknown_route_and_denied_ip_are_problems() {
    let a = Recorder::start("a").await;
    let yaml = format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: only
    base_path: /only
    upstream: {{ targets: ["{}"] }}
    policies: {{ request: [ {{ access-control: {{ allow: ["10.0.0.0/8"] }} }} ] }}
"#,
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let r = get(&gw.url("/elsewhere"), &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "route.not_found");
    let r = get(&gw.url("/only/x"), &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "access.denied");
    assert_eq!(a.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let a = Recorder::start("a").await;
    let yaml = format!(
        "listeners: [ {{ name: public, address: \"127.0.0.1:0\" }} ]\napis:\n  - {{ name: x, base_path: /, hosts: [\"127.0.0.1\"], upstream: {{ targets: [\"{}\"] }} }}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let req = http::Request::get(gw.url("/h2"))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let r = portcullis_test_support::send(req, true).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["uri"], "/h2");
    // HTTP/2 carries the host in :authority; routing by host and forwarding headers use it.
    let seen = &a.requests()[0];
    assert_eq!(seen.headers["x-forwarded-host"], gw.addr().to_string());
    gw.stop().await;
}

#[tokio::test]
async fn spike_arrest_answers_429_with_rate_limit_headers() {
    let a = Recorder::start("a").await;
    let yaml = root_api(&a, "", "[ { spike-arrest: { rate: 1/m } } ]");
    let gw = TestGateway::start(&yaml).await;
    let first = get(&gw.url("/a"), &[]).await;
    assert_eq!(first.status, 200);
    assert!(first.header("ratelimit-policy").is_some());
    let second = get(&gw.url("/a"), &[]).await;
    assert_eq!(second.status, 429);
    assert_eq!(second.json()["code"], "rate.exceeded");
    let retry: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(second.header("ratelimit").is_some());
    assert_eq!(a.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn routes_by_host_ignoring_case_and_port() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let yaml = format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - {{ name: named, base_path: /, hosts: ["api.example.com"], upstream: {{ targets: ["{a}"] }} }}
  - {{ name: other, base_path: /, upstream: {{ targets: ["{b}"] }} }}
"#,
        a = a.url(),
        b = b.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let wait = Duration::from_secs(5);
    for host in [
        "api.example.com",
        "API.Example.COM:8080",
        "api.example.com:443",
        "api.example.com.",
        "API.example.com.:8443",
    ] {
        let head = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let reply = portcullis_test_support::raw(gw.addr(), head.as_bytes(), wait).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{host}: {reply}");
        assert!(reply.contains(r#""upstream":"a""#), "{host}: {reply}");
    }
    let head = "GET /x HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n";
    let reply = portcullis_test_support::raw(gw.addr(), head.as_bytes(), wait).await;
    assert!(reply.contains(r#""upstream":"b""#), "{reply}");
    // An absolute-form target names the host; `Host` is ignored (RFC 9112 §3.2.2), for routing
    // and for what the upstream is told the client asked for alike.
    for (target, host, upstream) in [
        ("http://api.example.com/x", "www.example.com", (&a, "a")),
        ("http://www.example.com/x", "api.example.com", (&b, "b")),
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let reply = portcullis_test_support::raw(gw.addr(), head.as_bytes(), wait).await;
        assert!(
            reply.contains(&format!(r#""upstream":"{}""#, upstream.1)),
            "{target}: {reply}"
        );
        let seen = upstream.0.requests();
        let forwarded = &seen.last().expect("a request").headers["x-forwarded-host"];
        assert_eq!(forwarded, target.split('/').nth(2).unwrap(), "{target}");
    }
    gw.stop().await;
}
