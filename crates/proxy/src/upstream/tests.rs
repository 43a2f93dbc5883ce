//! Behaviour of upstream groups against real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use portcullis_config::{HealthSpec, TargetSpec, UpstreamSpec};
use portcullis_policy::Body;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{UpstreamError, UpstreamGroup, Upstreams};

mod fault;

use fault::{HangingServer, HttpServer, ResettingServer, TlsServer, refused_addr};

fn target(addr: SocketAddr, base_path: &str) -> TargetSpec {
    TargetSpec {
        scheme: Scheme::HTTP,
        authority: addr.to_string().parse().unwrap(),
        base_path: base_path.to_owned(),
    }
}

fn spec(addrs: &[SocketAddr]) -> UpstreamSpec {
    UpstreamSpec {
        targets: addrs.iter().map(|a| target(*a, "")).collect(),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        health: None,
        eject_after_failures: 2,
        ejection: Duration::from_secs(30),
        retries: 1,
        max_idle_per_target: 8,
    }
}

fn health(interval_ms: u64) -> HealthSpec {
    HealthSpec {
        path: "/healthz".to_owned(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(200),
        unhealthy_threshold: 2,
        healthy_threshold: 2,
    }
}

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn full(data: &'static str) -> Body {
    Full::new(Bytes::from_static(data.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn request(method: Method, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .unwrap()
}

async fn get_text(group: &UpstreamGroup, path: &str) -> Result<String, UpstreamError> {
    let response = group
        .send(request(Method::GET, path, empty()), None)
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8(body.to_vec()).unwrap())
}

/// Polls `cond` every 10 ms for at most `limit`.
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test]
async fn round_robin_alternates_between_targets() {
    let (a, b) = (HttpServer::start("a").await, HttpServer::start("b").await);
    let group = Upstreams::new().group(&Arc::new(spec(&[a.addr, b.addr])));
    let mut served = Vec::new();
    for _ in 0..4 {
        served.push(get_text(&group, "/x").await.unwrap());
    }
    assert_eq!(served, ["a", "b", "a", "b"]);
    assert_eq!((a.requests(), b.requests()), (2, 2));
}

#[tokio::test]
async fn uri_gets_target_base_path_and_host_gets_target_authority() {
    let server = HttpServer::start("a").await;
    let mut upstream = spec(&[server.addr]);
    upstream.targets[0].base_path = "/base".to_owned();
    let group = Upstreams::new().group(&Arc::new(upstream));
    get_text(&group, "/p/q?x=1&y=2").await.unwrap();
    get_text(&group, "/").await.unwrap();
    get_text(&group, "/?z=3").await.unwrap();
    let seen = server.counters.seen.lock().clone();
    let paths: Vec<_> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(paths, ["/base/p/q?x=1&y=2", "/base", "/base?z=3"]);
    assert!(seen.iter().all(|s| s.host == server.addr.to_string()));
}

#[tokio::test]
async fn refused_target_is_retried_on_the_other_and_then_ejected() {
    let ok = HttpServer::start("ok").await;
    let refused = refused_addr();
    let upstreams = Upstreams::new();
    let group = upstreams.group(&Arc::new(spec(&[refused, ok.addr])));
    for _ in 0..4 {
        assert_eq!(get_text(&group, "/").await.unwrap(), "ok");
    }
    let health = group.health();
    assert!(health[0].ejected, "{health:?}");
    assert!(!health[1].ejected);
    assert_eq!(ok.requests(), 4);

    // Without retries, only the ejection keeps requests off the refusing target; the state is
    // shared with this second group because the origins are the same.
    let mut no_retry = spec(&[refused, ok.addr]);
    no_retry.retries = 0;
    let no_retry = upstreams.group(&Arc::new(no_retry));
    for _ in 0..4 {
        assert_eq!(get_text(&no_retry, "/").await.unwrap(), "ok");
    }
}

#[tokio::test]
async fn connect_failure_retries_even_a_post_with_a_streaming_body() {
    let ok = HttpServer::start("ok").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[refused_addr(), ok.addr])));
    let response = group
        .send(request(Method::POST, "/orders", full("payload")), None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = ok.counters.seen.lock().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].body, Bytes::from_static(b"payload"));
}

#[tokio::test]
async fn all_targets_refused_is_unavailable() {
    let group = Upstreams::new().group(&Arc::new(spec(&[refused_addr(), refused_addr()])));
    let err = get_text(&group, "/").await.unwrap_err();
    assert_eq!(err, UpstreamError::Unavailable);
    let gateway = err.to_gateway_error();
    assert_eq!(gateway.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(gateway.code(), "upstream.unavailable");
    assert_eq!(gateway.detail(), None);
}

#[tokio::test]
async fn hanging_upstream_times_out_within_the_request_timeout() {
    let hanging = HangingServer::start().await;
    let mut upstream = spec(&[hanging.addr]);
    upstream.request_timeout = Duration::from_millis(300);
    let group = Upstreams::new().group(&Arc::new(upstream));
    let started = Instant::now();
    let err = get_text(&group, "/").await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err, UpstreamError::Timeout);
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");
    assert_eq!(err.to_gateway_error().status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn reset_post_is_never_retried_even_with_a_replayable_body() {
    let resetting = ResettingServer::start().await;
    let ok = HttpServer::start("ok").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[resetting.addr, ok.addr])));
    // Round robin starts at the first target, the resetting one.
    let replay = Bytes::from_static(b"charge card");
    let err = group
        .send(
            request(Method::POST, "/pay", full("charge card")),
            Some(replay),
        )
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Failed);
    assert_eq!(err.to_gateway_error().code(), "upstream.error");
    assert_eq!(resetting.requests(), 1);
    assert_eq!(ok.requests(), 0);
}

#[tokio::test]
async fn reset_get_with_a_streaming_body_is_not_retried() {
    let resetting = ResettingServer::start().await;
    let ok = HttpServer::start("ok").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[resetting.addr, ok.addr])));
    let err = group
        .send(request(Method::PUT, "/doc", full("v2")), None)
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Failed);
    assert_eq!(resetting.requests(), 1);
    assert_eq!(ok.requests(), 0);
}

#[tokio::test]
async fn reset_get_is_retried_on_the_next_target() {
    let resetting = ResettingServer::start().await;
    let ok = HttpServer::start("ok").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[resetting.addr, ok.addr])));
    assert_eq!(get_text(&group, "/items").await.unwrap(), "ok");
    assert_eq!(resetting.requests(), 1);
    assert_eq!(ok.requests(), 1);
}

#[tokio::test]
async fn health_checks_mark_a_target_down_then_up() {
    let server = HttpServer::start("a").await;
    let mut upstream = spec(&[server.addr]);
    upstream.health = Some(health(50));
    // Health checks run as long as the `Upstreams` that started them lives.
    let upstreams = Upstreams::new();
    let group = upstreams.group(&Arc::new(upstream));
    assert!(group.health()[0].healthy);

    server.counters.healthy.store(false, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(2), || !group.health()[0].healthy).await);
    // Panic mode: with every target down, requests are still tried.
    assert_eq!(get_text(&group, "/").await.unwrap(), "a");

    server.counters.healthy.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(2), || group.health()[0].healthy).await);
}

#[tokio::test]
async fn unhealthy_target_gets_no_traffic() {
    let (sick, well) = (
        HttpServer::start("sick").await,
        HttpServer::start("well").await,
    );
    sick.counters.healthy.store(false, Ordering::SeqCst);
    let mut upstream = spec(&[sick.addr, well.addr]);
    upstream.health = Some(health(50));
    // Health checks run as long as the `Upstreams` that started them lives.
    let upstreams = Upstreams::new();
    let group = upstreams.group(&Arc::new(upstream));
    assert!(wait_until(Duration::from_secs(2), || !group.health()[0].healthy).await);
    for _ in 0..4 {
        assert_eq!(get_text(&group, "/").await.unwrap(), "well");
    }
    assert_eq!(sick.requests(), 0);
}

#[tokio::test]
async fn a_reload_keeps_ejection_state() {
    let ok = HttpServer::start("ok").await;
    let upstreams = Upstreams::new();
    let before = Arc::new(spec(&[refused_addr(), ok.addr]));
    let group = upstreams.group(&before);
    for _ in 0..4 {
        get_text(&group, "/").await.unwrap();
    }
    assert!(group.health()[0].ejected);

    let reloaded = Arc::new((*before).clone());
    upstreams.retain(std::slice::from_ref(&reloaded));
    let group = upstreams.group(&reloaded);
    assert!(group.health()[0].ejected);
}

#[tokio::test]
async fn retain_stops_health_checks_no_longer_used() {
    let server = HttpServer::start("a").await;
    let mut upstream = spec(&[server.addr]);
    upstream.health = Some(health(20));
    let upstream = Arc::new(upstream);
    let upstreams = Upstreams::new();
    let _group = upstreams.group(&upstream);
    // A reload with the same spec keeps one checker, not two.
    let _again = upstreams.group(&Arc::new((*upstream).clone()));
    assert_eq!(upstreams.health_checks(), 1);
    assert!(wait_until(Duration::from_secs(2), || server.probes() >= 2).await);

    upstreams.retain(&[]);
    assert_eq!(upstreams.health_checks(), 0);
    // An in-flight probe may still land; after that, none.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopped_at = server.probes();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(server.probes(), stopped_at);
}

/// A request asking the test server to switch to its echo protocol.
fn upgrade_request() -> Request<Body> {
    let mut req = request(Method::GET, "/ws", empty());
    req.headers_mut()
        .insert(header::CONNECTION, "upgrade".parse().unwrap());
    req.headers_mut()
        .insert(header::UPGRADE, "echo".parse().unwrap());
    req
}

#[tokio::test]
async fn upgrade_responses_can_be_taken_over() {
    let server = HttpServer::start("a").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[server.addr])));
    let response = group.send(upgrade_request(), None).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    io.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn a_connection_is_reused_once_its_response_body_ended() {
    let server = HttpServer::start("a").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[server.addr])));
    for _ in 0..3 {
        assert_eq!(get_text(&group, "/x").await.unwrap(), "a");
    }
    assert_eq!(server.requests(), 3);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_response_dropped_before_its_end_does_not_return_its_connection() {
    let server = HttpServer::start("a").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[server.addr])));
    let unread = group
        .send(request(Method::GET, "/x", empty()), None)
        .await
        .unwrap();
    drop(unread);
    assert_eq!(get_text(&group, "/x").await.unwrap(), "a");
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn an_upgraded_connection_is_never_pooled() {
    let server = HttpServer::start("a").await;
    let group = Upstreams::new().group(&Arc::new(spec(&[server.addr])));
    let response = group.send(upgrade_request(), None).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let _upgraded = hyper::upgrade::on(response).await.unwrap();
    assert_eq!(get_text(&group, "/x").await.unwrap(), "a");
    assert_eq!(server.connections(), 2);
}

fn https_target(server: &TlsServer) -> UpstreamSpec {
    let mut upstream = spec(&[server.addr]);
    upstream.targets[0] = TargetSpec {
        scheme: Scheme::HTTPS,
        authority: format!("localhost:{}", server.addr.port()).parse().unwrap(),
        base_path: String::new(),
    };
    upstream
}

#[tokio::test]
async fn https_target_with_a_trusted_certificate_is_reached() {
    let server = TlsServer::start("tls").await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.cert.clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let group = Upstreams::with_tls_config(tls).group(&Arc::new(https_target(&server)));
    assert_eq!(get_text(&group, "/secure").await.unwrap(), "tls");
    let seen = server.counters.seen.lock().clone();
    assert_eq!(seen[0].host, format!("localhost:{}", server.addr.port()));
}

#[tokio::test]
async fn https_target_with_an_untrusted_certificate_is_refused() {
    let server = TlsServer::start("tls").await;
    // Default roots (webpki) do not include the self-signed certificate.
    let group = Upstreams::new().group(&Arc::new(https_target(&server)));
    assert_eq!(
        get_text(&group, "/").await.unwrap_err(),
        UpstreamError::Unavailable
    );
    assert_eq!(server.counters.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn errors_map_to_stable_codes() {
    let cases = [
        (UpstreamError::Unavailable, 502, "upstream.unavailable"),
        (UpstreamError::Timeout, 504, "upstream.timeout"),
        (UpstreamError::Failed, 502, "upstream.error"),
    ];
    for (err, status, code) in cases {
        let gateway = err.to_gateway_error();
        assert_eq!(gateway.status().as_u16(), status);
        assert_eq!(gateway.code(), code);
        assert_eq!(gateway.detail(), None);
    }
}
