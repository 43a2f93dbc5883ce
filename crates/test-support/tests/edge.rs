//! Raw-socket tests of the edge: request smuggling, oversized heads, slow headers, and path
//! normalisation bypass attempts. These send bytes no well-behaved client would.

use std::time::{Duration, Instant};

use portcullis_test_support::{Recorder, TestGateway, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn gateway(limits: &str) -> (TestGateway, std::sync::Arc<Recorder>) {
    let up = Recorder::start("up").await;
    let yaml = format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
{limits}
apis:
  - name: admin
    base_path: /admin
    upstream: {{ targets: ["{u}"] }}
    policies: {{ request: [ {{ access-control: {{ allow: ["10.0.0.0/8"] }} }} ] }}
  - name: public
    base_path: /public
    upstream: {{ targets: ["{u}"] }}
"#,
        u = up.url()
    );
    (TestGateway::start(&yaml).await, up)
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

/// A client that never finishes its head: waits up to 20 ms for bytes, then sends `byte`, again
/// and again, for at most 3 s. Whether the gateway closed the connection, and what it sent.
async fn trickle(s: &mut tokio::net::TcpStream, byte: &[u8]) -> (bool, Vec<u8>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(3) {
        match tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (true, seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if s.write_all(byte).await.is_err() {
            return (true, seen);
        }
    }
    (false, seen)
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_rejected_and_closed() {
    let (gw, up) = gateway("").await;
    let smuggle = "POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: a\r\n\r\n";
    let resp = raw(gw.addr(), smuggle.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("application/problem+json"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("connection: close"),
        "{resp}"
    );
    // Exactly one response, then EOF: the smuggled second request was never parsed.
    assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{resp}");
    assert_eq!(up.count(), 0);

    // Same attack after a clean keep-alive request on the same connection (order of headers
    // reversed): the first request is served, the ambiguous one refused.
    let pipelined = "GET /public/ok HTTP/1.1\r\nHost: a\r\n\r\nPOST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n";
    let resp = raw(gw.addr(), pipelined.as_bytes(), Duration::from_secs(3)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1 400").count(), 1, "{resp}");
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

/// Requests the framing scanner must follow exactly as hyper frames them, each served with
/// 200: a chunked body without trailers, one with a trailer line holding a bare line feed (hyper
/// ends trailer lines only at CRLF), and a Content-Length sent twice.
const FRAMED_OPENERS: [&str; 3] = [
    "POST /public/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "POST /public/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nx-t: 1\n\nx-u: 2\r\n\r\n",
    "POST /public/a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
];

/// The ambiguity is refused on any request of a connection, whatever framing the requests
/// before it used, pipelined or one after the other.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_rejected_after_any_framing() {
    let (gw, up) = gateway("").await;
    let ambiguous = "POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let mut served = 0;
    for opener in FRAMED_OPENERS {
        let resp = raw(
            gw.addr(),
            format!("{opener}{ambiguous}").as_bytes(),
            Duration::from_secs(3),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{opener:?}: {resp}");
        assert_eq!(
            resp.matches("HTTP/1.1 400").count(),
            1,
            "{opener:?}: {resp}"
        );
        served += 1;
        assert_eq!(up.count(), served, "{opener:?}");

        let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(opener.as_bytes()).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{opener:?}");
        served += 1;
        s.write_all(ambiguous.as_bytes()).await.unwrap();
        let mut rest = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_string(&mut rest)).await;
        assert!(
            status_line(&rest).starts_with("HTTP/1.1 400"),
            "{opener:?}: {rest}"
        );
        assert_eq!(up.count(), served, "{opener:?}");
    }
    gw.stop().await;
}

/// A head longer than the scanner's default buffer, within a raised `max_header_bytes`: hyper
/// serves it, and the scanner follows it too, so the next request's ambiguity is still refused.
#[tokio::test]
async fn a_long_head_within_raised_limits_keeps_the_framing_checks_on() {
    let (gw, up) = gateway("limits: { max_header_bytes: 1MiB }").await;
    let long = format!(
        "GET /public/long HTTP/1.1\r\nHost: a\r\nx-big: {}\r\n\r\n",
        "b".repeat(300 * 1024)
    );
    let ambiguous = "POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let resp = raw(
        gw.addr(),
        format!("{long}{ambiguous}").as_bytes(),
        Duration::from_secs(3),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{}", status_line(&resp));
    assert_eq!(resp.matches("HTTP/1.1 400").count(), 1, "{resp}");
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn conflicting_content_lengths_are_rejected() {
    let (gw, up) = gateway("").await;
    let req =
        "POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde";
    let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(up.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn oversized_uri_and_headers_get_414_and_431() {
    let (gw, up) = gateway("").await;
    let long_uri = format!(
        "GET /public/{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let resp = raw(gw.addr(), long_uri.as_bytes(), Duration::from_secs(3)).await;
    assert!(
        status_line(&resp).starts_with("HTTP/1.1 414"),
        "{}",
        status_line(&resp)
    );
    assert!(resp.contains("request.uri_too_long"));

    let mut many = String::from("GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n");
    for i in 0..101 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let resp = raw(gw.addr(), many.as_bytes(), Duration::from_secs(3)).await;
    assert!(
        status_line(&resp).starts_with("HTTP/1.1 431"),
        "{}",
        status_line(&resp)
    );
    assert!(resp.contains("request.headers_too_large"));

    let big = format!(
        "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-big: {}\r\n\r\n",
        "b".repeat(65 * 1024)
    );
    let resp = raw(gw.addr(), big.as_bytes(), Duration::from_secs(3)).await;
    assert!(
        status_line(&resp).starts_with("HTTP/1.1 431"),
        "{}",
        status_line(&resp)
    );
    assert_eq!(up.count(), 0);
    gw.stop().await;
}

/// A head with more header lines than hyper's inline limit, sent in pieces and behind a clean
/// pipelined request: the clean one is served, the other refused with the gateway's own logged
/// problem+json 431 (not hyper's bare one), and nothing of it reaches the upstream.
#[tokio::test]
async fn heads_with_too_many_lines_are_refused_with_problem_json_in_any_pieces() {
    let (gw, up) = gateway("").await;
    let mut many = String::from("GET /public/ok HTTP/1.1\r\nHost: a\r\n\r\n");
    many.push_str("GET /public/many?q=1 HTTP/1.1\r\nHost: a\r\n");
    for i in 0..300 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    for piece in [usize::MAX, 7] {
        let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        for chunk in many.as_bytes().chunks(piece.min(many.len())) {
            s.write_all(chunk)
                .await
                .expect("the gateway reads what is sent after its refusal");
            if piece != usize::MAX {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let mut resp = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut resp))
            .await
            .expect("the gateway answers and closes")
            .unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let refusal = &resp[resp.find("HTTP/1.1 431").expect("a 431 follows")..];
        assert!(refusal.contains("application/problem+json"), "{refusal}");
        assert!(refusal.contains("request.headers_too_large"), "{refusal}");
        assert!(refusal.contains("more than 100 header fields"), "{refusal}");
        assert!(
            refusal.to_ascii_lowercase().contains("connection: close"),
            "{refusal}"
        );
    }
    assert_eq!(up.count(), 2, "only the clean requests went upstream");
    let lines = gw.wait_for_log_lines(4).await;
    let refused: Vec<_> = lines.iter().filter(|l| l["status"] == 431).collect();
    assert_eq!(refused.len(), 2, "{lines:?}");
    for line in refused {
        assert_eq!(line["code"], "request.headers_too_large");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["path"], "/public/many");
    }
    gw.stop().await;
}

/// RFC 9112 §3.2: exactly one valid `Host` in HTTP/1.1 (at most one in HTTP/1.0), else 400.
#[tokio::test]
async fn requests_without_exactly_one_valid_host_are_rejected() {
    let (gw, up) = gateway("").await;
    for head in [
        "GET /public/x HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /public/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        "GET /public/x HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET /public/x HTTP/1.1\r\nHost: evil@a\r\nConnection: close\r\n\r\n",
    ] {
        let resp = raw(gw.addr(), head.as_bytes(), Duration::from_secs(3)).await;
        let status = status_line(&resp).split(' ').nth(1);
        assert_eq!(status, Some("400"), "{head:?}: {resp}");
        assert!(resp.contains("request.invalid"), "{head:?}: {resp}");
    }
    assert_eq!(up.count(), 0);
    let resp = raw(
        gw.addr(),
        b"GET /public/x HTTP/1.0\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(status_line(&resp).split(' ').nth(1), Some("200"), "{resp}");
    gw.stop().await;
}

#[tokio::test]
async fn header_names_with_underscores_are_rejected() {
    let (gw, up) = gateway("").await;
    let req = "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX_Forwarded_For: 10.0.0.1\r\n\r\n";
    let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(up.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn method_overrides_are_refused_unless_allowed() {
    // `/public` takes anything; what matters is that the method judged is the method run.
    let (gw, up) = gateway("").await;
    let req = "POST /public/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
               X-HTTP-Method-Override: DELETE\r\nContent-Length: 0\r\n\r\n";
    let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("method override"), "{resp}");
    let param = "POST /public/x?_method=DELETE HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
                 Content-Length: 0\r\n\r\n";
    let resp = raw(gw.addr(), param.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("_method"), "{resp}");
    assert_eq!(up.count(), 0);
    gw.stop().await;
    let (gw, up) = gateway("limits: { allow_method_override: true }").await;
    let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(up.requests()[0].headers["x-http-method-override"], "DELETE");
    gw.stop().await;
}

#[tokio::test]
async fn path_override_headers_never_reach_the_upstream() {
    let (gw, up) = gateway("").await;
    // IIS's URL Rewrite and Symfony before CVE-2018-14773 serve `/admin` for this request.
    let req = "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
               X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n\r\n";
    let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 200"), "{resp}");
    let seen = &up.requests()[0];
    assert_eq!(seen.uri, "/x");
    assert!(
        !seen.headers.contains_key("x-original-url"),
        "{:?}",
        seen.headers
    );
    assert!(
        !seen.headers.contains_key("x-rewrite-url"),
        "{:?}",
        seen.headers
    );
    gw.stop().await;
}

#[tokio::test]
async fn segment_parameters_cannot_move_a_request_to_another_api_or_flow() {
    let up = Recorder::start("up").await;
    let yaml = format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: admin
    base_path: /admin
    upstream: {{ targets: ["{u}"] }}
    policies: {{ request: [ {{ access-control: {{ allow: ["10.0.0.0/8"] }} }} ] }}
  - name: rest
    base_path: /
    upstream: {{ targets: ["{u}"] }}
    flows:
      - name: orders
        match: {{ path: "/orders/{{id}}" }}
        policies: {{ request: [ {{ access-control: {{ allow: ["10.0.0.0/8"] }} }} ] }}
"#,
        u = up.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    // To Tomcat these are `/admin/secret` and `/orders/42`, whose policies deny this client;
    // without the check they went through the catch-all API and past the flow.
    for path in ["/admin;x/secret", "/orders;x/42"] {
        let resp = raw(gw.addr(), get(path).as_bytes(), Duration::from_secs(3)).await;
        assert!(
            status_line(&resp).starts_with("HTTP/1.1 400"),
            "{path}: {resp}"
        );
        assert!(resp.contains("segment parameters"), "{path}: {resp}");
    }
    // Parameters that leave the route as it is are data (`jsessionid`, matrix parameters).
    for (path, status) in [("/orders/42;jsessionid=1", "403"), ("/shop;v=2/x", "200")] {
        let resp = raw(gw.addr(), get(path).as_bytes(), Duration::from_secs(3)).await;
        assert!(
            status_line(&resp).starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {resp}"
        );
    }
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.requests()[0].uri, "/shop;v=2/x");
    gw.stop().await;
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let (gw, up) = gateway("limits: { header_read_timeout: 500ms }").await;
    let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /public/x HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // Trickle one header byte at a time, never finishing the head.
    let mut closed = false;
    for _ in 0..40 {
        if s.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await
        {
            // EOF or an error response: the gateway gave up on us.
            let _ = n;
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "slowloris connection still open after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut off too late: {:?}",
        started.elapsed()
    );
    assert_eq!(up.count(), 0);
    gw.stop().await;
}

/// The header read timeout holds for every head of a connection, not just its first: a client
/// that trickles a later head (fast enough to keep the connection busy), alone or pipelined
/// behind a served request, is cut off too.
#[tokio::test]
async fn slow_later_heads_are_cut_off() {
    let (gw, up) = gateway("limits: { header_read_timeout: 400ms }").await;
    let first = "GET /public/a HTTP/1.1\r\nHost: a\r\n\r\n";
    for pipelined in [false, true] {
        let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        let started = if pipelined {
            s.write_all(format!("{first}GET /public/b HTTP/1.1\r\nHost: a\r\n").as_bytes())
                .await
                .unwrap();
            Instant::now()
        } else {
            s.write_all(first.as_bytes()).await.unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            s.write_all(b"GET /public/b HTTP/1.1\r\nHost: a\r\n")
                .await
                .unwrap();
            Instant::now()
        };
        // One header byte every 20 ms (the connection never idles), never finishing the head.
        let (closed, seen) = trickle(&mut s, b"x").await;
        let waited = started.elapsed();
        assert!(closed, "pipelined {pipelined}: still open after {waited:?}");
        assert!(
            waited >= Duration::from_millis(350) && waited < Duration::from_millis(1500),
            "pipelined {pipelined}: cut off after {waited:?}"
        );
        let seen = String::from_utf8_lossy(&seen);
        assert!(
            pipelined == seen.starts_with("HTTP/1.1 200"),
            "pipelined {pipelined}: {seen}"
        );
    }
    assert_eq!(up.count(), 2, "only the complete heads went upstream");
    gw.stop().await;
}

/// The header read timeout still holds after requests whose framing the scanner must follow
/// as hyper does (see [`FRAMED_OPENERS`]).
#[tokio::test]
async fn slow_heads_are_cut_off_after_any_framing() {
    let (gw, up) = gateway("limits: { header_read_timeout: 400ms }").await;
    for opener in FRAMED_OPENERS {
        let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(opener.as_bytes()).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{opener:?}");
        s.write_all(b"GET /public/b HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let (closed, _) = trickle(&mut s, b"x").await;
        let waited = started.elapsed();
        assert!(closed, "{opener:?}: still open after {waited:?}");
        assert!(
            waited < Duration::from_millis(1500),
            "{opener:?}: cut off after {waited:?}"
        );
    }
    assert_eq!(up.count(), FRAMED_OPENERS.len());
    gw.stop().await;
}

/// CONNECT is not proxied: it is refused with 405 and the connection closes at once, whatever
/// the client sends next (a connection once kept open after a refused CONNECT went without a
/// header read timeout).
#[tokio::test]
async fn connect_is_refused_and_the_connection_closed() {
    let (gw, up) = gateway("limits: { header_read_timeout: 400ms }").await;
    for target in ["a.example:443", "/public/x"] {
        let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: a.example:443\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let started = Instant::now();
        // A slow next head, in case the connection stays open.
        let (closed, seen) = trickle(&mut s, b"G").await;
        let seen = String::from_utf8_lossy(&seen);
        assert!(
            status_line(&seen).starts_with("HTTP/1.1 405"),
            "{target}: {seen}"
        );
        assert!(
            seen.contains("request.method_not_allowed"),
            "{target}: {seen}"
        );
        assert!(closed, "{target}: still open after {:?}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{target}: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(up.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn path_normalisation_defeats_bypass_attempts() {
    let (gw, up) = gateway("").await;
    // Every one of these reaches the `admin` API (which denies us), never `public`.
    for path in [
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/public/%2E%2E/admin/x",
        "//admin/x",
        "/./admin/x",
        "/%61dmin/x",
        "/public/./../admin/x",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
        assert!(
            status_line(&resp).starts_with("HTTP/1.1 403"),
            "{path}: {}",
            status_line(&resp)
        );
        assert!(resp.contains("access.denied"), "{path}");
    }
    // `..;` is `..` to servlet containers (Tomcat strips `;` parameters first), and `%2F..%2F`
    // is `/../` to a back end that decodes slashes first: refused.
    for path in [
        "/public%2F..%2Fadmin/x",
        "/public/x%2F..%2F..%2Fadmin/x",
        "/public/%00/x",
        "/public/..%5cadmin",
        "/public/%zz",
        "/public/..;/admin/x",
        "/public/%2e%2e;x=1/admin/x",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
        assert!(
            status_line(&resp).starts_with("HTTP/1.1 400"),
            "{path}: {}",
            status_line(&resp)
        );
    }
    assert_eq!(up.count(), 0);
    // The normalised path is what the upstream receives.
    let req = "GET /public/a/./b/../c//d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let resp = raw(gw.addr(), req.as_bytes(), Duration::from_secs(3)).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(up.requests()[0].uri, "/a/c/d");
    gw.stop().await;
}
