//! Plain HTTP/1 keep-alive connections give hyper's state back while they idle
//! (`crates/proxy/src/server/plain.rs`) and take up serving again when the client returns:
//! raw-socket tests of what a client sees across those idle periods.

use std::time::Duration;

use portcullis_test_support::{Recorder, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longer than the time a connection lingers in hyper before its state is dropped (50 ms).
const PAST_LINGER: Duration = Duration::from_millis(600);

async fn gateway(limits: &str) -> (TestGateway, std::sync::Arc<Recorder>) {
    let up = Recorder::start("up").await;
    let yaml = format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
{limits}
apis:
  - name: public
    base_path: /public
    upstream: {{ targets: ["{u}"] }}
"#,
        u = up.url()
    );
    (TestGateway::start(&yaml).await, up)
}

/// A connection on which one `GET /public{path}` has been answered.
async fn served_once(gw: &TestGateway, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    let req = format!("GET /public{path} HTTP/1.1\r\nHost: a\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_responses(&mut s, 1).await;
    s
}

/// Reads until `n` complete responses (each with a Content-Length body) have arrived; panics
/// on EOF or after 5 s.
async fn read_responses(s: &mut TcpStream, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(responses) = split_responses(&data, n) {
            return responses;
        }
        let read = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("responses within 5 s")
            .expect("read");
        assert!(
            read > 0,
            "connection closed after {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..read]);
    }
}

fn split_responses(data: &[u8], n: usize) -> Option<Vec<String>> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest = &text[..];
    while out.len() < n {
        let head_end = rest.find("\r\n\r\n")? + 4;
        let len = rest[..head_end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if rest.len() < head_end + len {
            return None;
        }
        out.push(rest[..head_end + len].to_owned());
        rest = &rest[head_end + len..];
    }
    assert!(rest.is_empty(), "unexpected extra bytes: {rest:?}");
    Some(out)
}

/// Reads until EOF; panics if the peer keeps the connection open for `within`.
async fn expect_closed(s: &mut TcpStream, within: Duration, what: &str) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: connection still open after {within:?}"
    );
}

#[tokio::test]
async fn keep_alive_connection_serves_again_after_idling() {
    let (gw, up) = gateway("").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    for round in 0..3 {
        let req = format!("GET /public/r{round} HTTP/1.1\r\nHost: a\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let resp = read_responses(&mut s, 1).await;
        assert!(resp[0].starts_with("HTTP/1.1 200"), "{}", resp[0]);
        tokio::time::sleep(PAST_LINGER).await;
    }
    // A POST with a body, then two pipelined requests in one write, after another idle period.
    s.write_all(b"POST /public/p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let resp = read_responses(&mut s, 1).await;
    assert!(resp[0].starts_with("HTTP/1.1 200"), "{}", resp[0]);
    tokio::time::sleep(PAST_LINGER).await;
    s.write_all(
        b"GET /public/a HTTP/1.1\r\nHost: a\r\n\r\nGET /public/b HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let resp = read_responses(&mut s, 2).await;
    assert!(
        resp.iter().all(|r| r.starts_with("HTTP/1.1 200")),
        "{resp:?}"
    );
    let paths: Vec<String> = up.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(paths, ["/r0", "/r1", "/r2", "/p", "/a", "/b"]);
    assert_eq!(up.requests()[3].body, b"hello"[..]);
    gw.stop().await;
}

#[tokio::test]
async fn a_head_split_across_an_idle_period_is_reassembled() {
    let (gw, up) = gateway("").await;
    let mut s = served_once(&gw, "/one").await;
    tokio::time::sleep(PAST_LINGER).await;
    // The next head arrives in pieces, with pauses longer than the linger time between them.
    for piece in ["GET /public/two HT", "TP/1.1\r\nHost:", " a\r\n\r\n"] {
        s.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(PAST_LINGER).await;
    }
    let resp = read_responses(&mut s, 1).await;
    assert!(resp[0].starts_with("HTTP/1.1 200"), "{}", resp[0]);
    assert_eq!(up.requests()[1].uri, "/two");
    gw.stop().await;
}

#[tokio::test]
async fn smuggling_is_still_caught_after_an_idle_period() {
    let (gw, up) = gateway("").await;
    let mut s = served_once(&gw, "/ok").await;
    tokio::time::sleep(PAST_LINGER).await;
    s.write_all(b"POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n")
        .await
        .unwrap();
    let resp = read_responses(&mut s, 1).await;
    assert!(resp[0].starts_with("HTTP/1.1 400"), "{}", resp[0]);
    expect_closed(&mut s, Duration::from_secs(5), "kept").await;
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn idle_connections_close_at_the_header_read_timeout() {
    let (gw, up) = gateway("limits: { header_read_timeout: 700ms }").await;
    // Never sends a byte (hyper's own protocol detection would wait for ever).
    let mut silent = TcpStream::connect(gw.addr()).await.unwrap();
    // Idles after one request.
    let mut kept = served_once(&gw, "/x").await;
    expect_closed(&mut silent, Duration::from_secs(5), "silent").await;
    expect_closed(&mut kept, Duration::from_secs(5), "kept").await;
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn idle_connections_close_promptly_on_shutdown() {
    let (gw, _up) = gateway("limits: { header_read_timeout: 60s, shutdown_grace: 30s }").await;
    let mut s = served_once(&gw, "/x").await;
    tokio::time::sleep(PAST_LINGER).await;
    let mut silent = TcpStream::connect(gw.addr()).await.unwrap();
    // Shutdown does not wait out the 30 s grace period for idle connections.
    tokio::time::timeout(Duration::from_secs(10), gw.stop())
        .await
        .expect("drained without waiting for the grace period");
    expect_closed(&mut s, Duration::from_secs(5), "kept").await;
    expect_closed(&mut silent, Duration::from_secs(5), "silent").await;
}

#[tokio::test]
async fn lingering_connections_close_promptly_on_shutdown() {
    let (gw, _up) = gateway("limits: { header_read_timeout: 60s, shutdown_grace: 30s }").await;
    let mut s = served_once(&gw, "/x").await;
    // At once: the connection still lingers in hyper (no PAST_LINGER sleep).
    tokio::time::timeout(Duration::from_secs(10), gw.stop())
        .await
        .expect("drained without waiting for the grace period");
    expect_closed(&mut s, Duration::from_secs(5), "lingering").await;
}

#[tokio::test]
async fn a_request_in_flight_is_answered_during_shutdown() {
    let (gw, _up) = gateway("limits: { header_read_timeout: 60s, shutdown_grace: 30s }").await;
    let mut s = served_once(&gw, "/x").await;
    // The second request waits 300 ms at the upstream; shutdown starts meanwhile.
    s.write_all(b"GET /public/slow HTTP/1.1\r\nHost: a\r\nx-test-delay-ms: 300\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(gw.stop());
    let responses = read_responses(&mut s, 1).await;
    assert!(responses[0].starts_with("HTTP/1.1 200"), "{responses:?}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("drained once the request was answered")
        .expect("stop task");
    expect_closed(&mut s, Duration::from_secs(5), "answered").await;
}
