//! Environments end to end: two listeners serving different environments route only to the APIs
//! deployed there; other APIs are invisible (the ordinary "no route" 404); the access log and
//! `/admin/v1/status` name each listener's environment; a reload can redeploy APIs but not move
//! a listener to another environment.

use portcullis_test_support::{Recorder, TestGateway, get};

fn config(a: &Recorder, b: &Recorder, reports_envs: &str, prod_listener_env: &str) -> String {
    format!(
        r#"
environments: [test, prod]
listeners:
  - {{ name: test-listener, address: "127.0.0.1:0", environment: test }}
  - {{ name: prod-listener, address: "127.0.0.1:0", environment: {prod_listener_env} }}
apis:
  - name: orders-test
    base_path: /orders
    environments: [test]
    upstream: {{ targets: ["{a}"] }}
  - name: orders-prod
    base_path: /orders
    environments: [prod]
    upstream: {{ targets: ["{b}"] }}
  - name: reports
    base_path: /reports
    environments: {reports_envs}
    upstream: {{ targets: ["{b}"] }}
  - name: everywhere
    base_path: /shared
    upstream: {{ targets: ["{a}"] }}
"#,
        a = a.url(),
        b = b.url()
    )
}

struct Urls {
    test: String,
    prod: String,
}

fn urls(gw: &TestGateway) -> Urls {
    let addr = |name: &str| {
        gw.running
            .addr(name)
            .unwrap_or_else(|| panic!("listener {name} is bound"))
    };
    Urls {
        test: format!("http://{}", addr("test-listener")),
        prod: format!("http://{}", addr("prod-listener")),
    }
}

#[tokio::test]
async fn each_listener_routes_only_to_apis_deployed_to_its_environment() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b, "[prod]", "prod")).await;
    let u = urls(&gw);

    // Same base path, one API per environment, different upstreams.
    let r = get(&format!("{}/orders/7", u.test), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["upstream"], "a");
    let r = get(&format!("{}/orders/7", u.prod), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["upstream"], "b");

    // Deployed to prod only: the test listener answers exactly as for a path no API serves.
    let hidden = get(&format!("{}/reports/q1", u.test), &[]).await;
    let unknown = get(&format!("{}/no-such-api", u.test), &[]).await;
    for r in [&hidden, &unknown] {
        assert_eq!(r.status, 404);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json()["code"], "route.not_found");
    }
    assert_eq!(hidden.json()["detail"], unknown.json()["detail"]);
    assert_eq!(hidden.json()["title"], unknown.json()["title"]);
    let r = get(&format!("{}/reports/q1", u.prod), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["uri"], "/q1");

    // No `environments`: deployed everywhere.
    for base in [&u.test, &u.prod] {
        let r = get(&format!("{base}/shared/x"), &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["upstream"], "a");
    }
    // Only the routed requests reached an upstream: a saw orders-test and shared twice.
    assert_eq!(a.count(), 3);
    assert_eq!(b.count(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn access_log_and_status_show_each_listeners_environment() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b, "[prod]", "prod")).await;
    let u = urls(&gw);
    assert_eq!(get(&format!("{}/orders/1", u.test), &[]).await.status, 200);
    assert_eq!(get(&format!("{}/orders/1", u.prod), &[]).await.status, 200);
    assert_eq!(get(&format!("{}/reports", u.test), &[]).await.status, 404);

    let lines = gw.wait_for_log_lines(3).await;
    let seen: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["listener"].as_str().unwrap_or_default().to_owned(),
                l["environment"].as_str().unwrap_or_default().to_owned(),
                l["api"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    for want in [
        ("test-listener", "test", "orders-test"),
        ("prod-listener", "prod", "orders-prod"),
        // Unrouted requests carry their listener's environment too.
        ("test-listener", "test", "-"),
    ] {
        let want = (want.0.to_owned(), want.1.to_owned(), want.2.to_owned());
        assert!(seen.contains(&want), "{want:?} not in {seen:?}");
    }

    let auth = gw.admin_auth().await;
    let status = get(
        &gw.admin_url("/admin/v1/status"),
        &[("authorization", &auth)],
    )
    .await
    .json();
    assert_eq!(status["environments"], serde_json::json!(["test", "prod"]));
    let listeners: Vec<(String, String)> = status["listeners"]
        .as_array()
        .expect("listeners in status")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or_default().to_owned(),
                l["environment"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listeners,
        [
            ("test-listener".to_owned(), "test".to_owned()),
            ("prod-listener".to_owned(), "prod".to_owned())
        ]
    );
    let api = |name: &str| {
        status["apis"]
            .as_array()
            .and_then(|apis| apis.iter().find(|x| x["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in status"))
    };
    assert_eq!(api("reports")["environments"], serde_json::json!(["prod"]));
    assert!(api("everywhere")["environments"].is_null());
    gw.stop().await;
}

#[tokio::test]
async fn reload_redeploys_apis_but_cannot_move_a_listener() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let gw = TestGateway::start(&config(&a, &b, "[prod]", "prod")).await;
    let u = urls(&gw);
    assert_eq!(get(&format!("{}/reports/x", u.test), &[]).await.status, 404);

    // Deploy `reports` to test as well.
    gw.write_config(&config(&a, &b, "[test, prod]", "prod"));
    gw.running
        .app
        .reload("test")
        .await
        .expect("redeploying an API reloads");
    assert_eq!(get(&format!("{}/reports/x", u.test), &[]).await.status, 200);

    // A listener's environment is a restart-only setting: the reload is refused whole.
    gw.write_config(&config(&a, &b, "[prod]", "test"));
    let errs = gw
        .running
        .app
        .reload("test")
        .await
        .expect_err("moving a listener needs a restart");
    assert!(errs.to_string().contains("restart"), "{errs}");
    assert_eq!(get(&format!("{}/reports/x", u.test), &[]).await.status, 200);
    let r = get(&format!("{}/orders/1", u.prod), &[]).await;
    assert_eq!(r.json()["upstream"], "b");
    gw.stop().await;
}

#[tokio::test]
async fn an_undeclared_environment_is_refused_with_its_field_path() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let err = TestGateway::start_with(&config(&a, &b, "[staging]", "prod"), None)
        .await
        .err()
        .expect("undeclared environment refused");
    assert!(
        err.contains(
            "apis[2].environments[0]: environment 'staging' is not declared in the top-level `environments` (test, prod)"
        ),
        "{err}"
    );
}
