//! Hot reload: 50 config changes under concurrent load with zero failed requests; broken configs
//! rejected with exact messages while the previous config keeps serving; file-watch reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::Method;
use portcullis_test_support::{Recorder, TestGateway, get, request};

fn config(up: &Recorder, generation: usize) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: x
    base_path: /api
    upstream: {{ targets: ["{}"] }}
    policies:
      response:
        - set-headers: {{ set: {{ x-generation: "{generation}" }} }}
"#,
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_drop_nothing() {
    let up = Recorder::start("up").await;
    let gw = Arc::new(TestGateway::start(&config(&up, 0)).await);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (gw, stop, ok, failed) = (gw.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = get(&gw.url("/api/x"), &[]).await;
                if r.status == 200 && r.header("x-generation").is_some() {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for generation in 1..=50 {
        gw.write_config(&config(&up, generation));
        let applied = gw
            .running
            .app
            .reload("test")
            .await
            .expect("valid config reloads");
        assert_eq!(applied, 1 + generation as u64);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "too little load: {}",
        ok.load(Ordering::Relaxed)
    );
    let r = get(&gw.url("/api/x"), &[]).await;
    assert_eq!(r.header("x-generation"), Some("50"));
}

#[tokio::test]
async fn broken_config_is_rejected_with_exact_errors_and_old_one_keeps_serving() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up, 1)).await;
    let broken = format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: x
    base_path: /api
    upstream: {{ targets: ["{}", "nope://bad"] }}
    policies:
      request:
        - spike-arrest: {{ rate: lots }}
"#,
        up.url()
    );
    gw.write_config(&broken);
    let auth = gw.admin_auth().await;
    let r = request(
        Method::POST,
        &gw.admin_url("/admin/v1/reload"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let body = r.json();
    assert_eq!(body["code"], "config.invalid");
    let errors = body["errors"].as_array().unwrap();
    let rendered: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}:{}: {}",
                e["line"],
                e["path"],
                e["message"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        rendered.contains(&"6:\"apis[0].upstream.targets[1]\": target 'nope://bad' must start with http:// or https://".to_string()),
        "{rendered:#?}"
    );
    assert!(
        rendered.iter().any(|e| e.starts_with(
            "9:\"apis[0].policies.request[0].spike-arrest.rate\": invalid rate 'lots'"
        )),
        "{rendered:#?}"
    );
    // Still serving generation 1.
    let ok = get(&gw.url("/api/x"), &[]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-generation"), Some("1"));
    assert_eq!(gw.running.app.generation(), 1);

    // Changing listeners needs a restart: refused, nothing applied.
    gw.write_config(&config(&up, 2).replace("127.0.0.1:0", "127.0.0.1:1"));
    let err = gw.running.app.reload("test").await.unwrap_err();
    assert!(err.to_string().contains("restart"), "{err}");
    assert_eq!(
        get(&gw.url("/api/x"), &[]).await.header("x-generation"),
        Some("1")
    );
    gw.stop().await;
}

#[tokio::test]
async fn file_change_is_picked_up_by_the_watcher() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start_with(&config(&up, 1), Some(Duration::from_millis(100)))
        .await
        .unwrap();
    gw.write_config(&config(&up, 2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if get(&gw.url("/api/x"), &[]).await.header("x-generation") == Some("2") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "file change not applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A broken file is ignored by the watcher too.
    gw.write_config("listeners: [ this is not valid");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        get(&gw.url("/api/x"), &[]).await.header("x-generation"),
        Some("2")
    );
    gw.stop().await;
}
