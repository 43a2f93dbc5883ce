//! Upstream failures as clients see them: refused → 502, hanging → 504 within the timeout,
//! resetting → 502 with POST never retried, and safe retries on another target.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::Method;
use portcullis_test_support::{
    Recorder, TestGateway, get, hanging_upstream, refused_address, request, resetting_upstream,
};

fn yaml(targets: &[String], request_timeout: &str) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: x
    base_path: /
    upstream:
      targets: [{}]
      timeouts: {{ connect: 500ms, request: {request_timeout} }}
      retries: 1
"#,
        list.join(", ")
    )
}

#[tokio::test]
async fn refused_upstream_is_502_without_internals() {
    let refused = refused_address().await;
    let gw = TestGateway::start(&yaml(&[format!("http://{refused}")], "2s")).await;
    let r = get(&gw.url("/a"), &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["code"], "upstream.unavailable");
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains(&refused.port().to_string()),
        "upstream address leaked: {text}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn hanging_upstream_is_504_within_the_timeout() {
    let (hang, _) = hanging_upstream().await;
    let gw = TestGateway::start(&yaml(&[format!("http://{hang}")], "300ms")).await;
    let started = Instant::now();
    let r = get(&gw.url("/a"), &[]).await;
    let took = started.elapsed();
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["code"], "upstream.timeout");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn resetting_upstream_post_is_never_retried() {
    let (reset, count) = resetting_upstream().await;
    let good = Recorder::start("good").await;
    let gw = TestGateway::start(&yaml(&[format!("http://{reset}"), good.url()], "2s")).await;
    // Round robin: send POSTs until one lands on the resetting target.
    let mut saw_502 = false;
    for _ in 0..4 {
        let r = request(Method::POST, &gw.url("/pay"), &[], "amount=10").await;
        if r.status == 502 {
            saw_502 = true;
            assert_eq!(r.json()["code"], "upstream.error");
        } else {
            assert_eq!(r.status, 200);
        }
    }
    assert!(saw_502, "the resetting target was never chosen");
    let resets = count.load(Ordering::SeqCst);
    let goods = good
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    // Every POST reached exactly one upstream: none was replayed on the other target.
    assert_eq!(resets + goods, 4, "resets={resets} goods={goods}");
    gw.stop().await;
}

#[tokio::test]
async fn idempotent_get_is_retried_on_another_target() {
    let (reset, count) = resetting_upstream().await;
    let good = Recorder::start("good").await;
    let gw = TestGateway::start(&yaml(&[format!("http://{reset}"), good.url()], "2s")).await;
    for _ in 0..4 {
        let r = get(&gw.url("/read"), &[]).await;
        assert_eq!(r.status, 200, "GET must be retried on the healthy target");
    }
    assert!(count.load(Ordering::SeqCst) >= 1);
    gw.stop().await;
}

#[tokio::test]
async fn connect_failure_is_retried_for_any_method() {
    let refused = refused_address().await;
    let good = Recorder::start("good").await;
    let gw = TestGateway::start(&yaml(&[format!("http://{refused}"), good.url()], "2s")).await;
    for _ in 0..4 {
        let r = request(Method::POST, &gw.url("/p"), &[], "x").await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(good.count(), 4);
    gw.stop().await;
}
