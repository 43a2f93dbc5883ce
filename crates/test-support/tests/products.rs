//! API products end to end through the proxy: which environment, API, resource path and method a
//! key opens is decided by the products it is approved for (Apigee's wildcards `/`, `/*`,
//! `/**`), with a distinct problem code per refusal; a credential approved for `test` does not
//! open `prod`; pending associations open nothing until approved; the access log names app,
//! developer and product, never the key.

use http::Method;
use portcullis_store::{Actor, ApprovalStatus, ApprovalType, CatalogRepository, SqliteStore};
use portcullis_test_support::{Recorder, Reply, TestGateway, product_spec, request};

fn config(up: &Recorder) -> String {
    format!(
        r#"
listeners:
  - {{ name: test, address: "127.0.0.1:0", environment: test }}
  - {{ name: prod, address: "127.0.0.1:0", environment: prod }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{up}"] }}
    policies: {{ request: [ {{ verify-api-key: {{}} }} ] }}
  - name: billing
    base_path: /billing
    upstream: {{ targets: ["{up}"] }}
    policies: {{ request: [ {{ verify-api-key: {{}} }} ] }}
"#,
        up = up.url()
    )
}

/// Products of the table: what each opens.
async fn create_products(store: &SqliteStore) {
    let actor = Actor::system();
    for (name, spec) in [
        // GET anything below /orders/items, in test only.
        (
            "orders-read-test",
            product_spec(&["orders"], &["/items/**"], &["GET"], &["test"]),
        ),
        // Everything of orders (the base path itself included), in prod only.
        (
            "orders-all-prod",
            product_spec(&["orders"], &["/"], &[], &["prod"]),
        ),
        // One level below /billing/invoices, GET and POST, every environment.
        (
            "invoices",
            product_spec(&["billing"], &["/invoices/*"], &["GET", "POST"], &[]),
        ),
    ] {
        store.create_product(&actor, name, &spec).await.unwrap();
    }
    let mut manual = product_spec(&[], &[], &[], &[]);
    manual.approval = ApprovalType::Manual;
    store
        .create_product(&actor, "manual-all", &manual)
        .await
        .unwrap();
}

/// Listener, key, method, path, and the product that admits the call or the refusal's code.
type Row<'a> = (&'a str, &'a str, Method, &'a str, Result<&'a str, &'a str>);

/// A GET with `key`.
async fn get(url: &str, key: &str) -> Reply {
    request(Method::GET, url, &[("x-api-key", key)], "").await
}

#[tokio::test]
async fn products_decide_environment_api_path_and_method_through_the_proxy() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let store = gw.store().await;
    // The gateway created the environments its listeners serve at boot.
    let envs: Vec<String> = store
        .list_environments()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(envs, ["prod", "test"]);
    create_products(&store).await;
    let reader = gw
        .issue_key(&store, "reader", &["orders-read-test"])
        .await
        .key;
    let biller = gw
        .issue_key(&store, "biller", &["orders-read-test", "invoices"])
        .await
        .key;
    let prod_all = gw
        .issue_key(&store, "prod-all", &["orders-all-prod"])
        .await
        .key;
    let pending = gw.issue_key(&store, "pending", &["manual-all"]).await.key;
    let legacy = gw.issue_key(&store, "legacy", &[]).await.key;

    let ok = |product: &'static str| Ok::<_, &str>(product);
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("test", &reader, Method::GET, "/orders/items/7", ok("orders-read-test")),
        ("test", &reader, Method::GET, "/orders/items/7/lines/2", ok("orders-read-test")),
        ("test", &reader, Method::GET, "/orders/items/7/", ok("orders-read-test")),
        ("test", &reader, Method::GET, "/orders/items", Err("product.path_not_allowed")),
        ("test", &reader, Method::GET, "/orders", Err("product.path_not_allowed")),
        ("test", &reader, Method::GET, "/orders/users/1", Err("product.path_not_allowed")),
        ("test", &reader, Method::POST, "/orders/items/7", Err("product.method_not_allowed")),
        ("test", &reader, Method::HEAD, "/orders/items/7", Err("product.method_not_allowed")),
        // Approved for test: prod stays closed.
        ("prod", &reader, Method::GET, "/orders/items/7", Err("product.environment_not_allowed")),
        ("test", &reader, Method::GET, "/billing/invoices/1", Err("product.api_not_allowed")),
        // Several products: the first covering one (by name) wins; misses report the closest.
        ("test", &biller, Method::GET, "/billing/invoices/1", ok("invoices")),
        ("prod", &biller, Method::POST, "/billing/invoices/1", ok("invoices")),
        ("prod", &biller, Method::GET, "/billing/invoices/1/lines", Err("product.path_not_allowed")),
        ("prod", &biller, Method::DELETE, "/billing/invoices/1", Err("product.method_not_allowed")),
        ("test", &biller, Method::GET, "/orders/items/1", ok("orders-read-test")),
        ("prod", &prod_all, Method::DELETE, "/orders/any/depth/at/all", ok("orders-all-prod")),
        ("prod", &prod_all, Method::GET, "/orders", ok("orders-all-prod")),
        ("test", &prod_all, Method::GET, "/orders", Err("product.environment_not_allowed")),
        ("prod", &prod_all, Method::GET, "/billing/invoices/1", Err("product.api_not_allowed")),
        // Pending associations and keys without products open nothing.
        ("test", &pending, Method::GET, "/orders/items/1", Err("key.not_approved")),
        ("prod", &legacy, Method::GET, "/orders/items/1", Err("key.not_approved")),
    ];
    let mut forwarded = 0;
    for (listener, key, method, path, want) in &table {
        let url = format!("http://{}{path}", gw.running.addr(listener).unwrap());
        let reply = request(method.clone(), &url, &[("x-api-key", key)], "").await;
        let case = format!("{listener} {method} {path} with {}", &key[..12]);
        match want {
            Ok(_) => {
                assert_eq!(reply.status, 200, "{case}: {:?}", reply.body);
                forwarded += 1;
            }
            Err(code) => {
                assert_eq!(reply.status, 401, "{case}");
                assert_eq!(
                    reply.header("content-type"),
                    Some("application/problem+json"),
                    "{case}"
                );
                if *method != Method::HEAD {
                    assert_eq!(reply.json()["code"], *code, "{case}");
                }
                assert!(reply.header("www-authenticate").is_some(), "{case}");
            }
        }
    }
    assert_eq!(
        up.count(),
        forwarded,
        "refused calls never reach the upstream"
    );

    // The access log names app, developer and product of admitted calls, and the code of
    // refused ones, and never a key.
    let lines = gw.wait_for_log_lines(table.len()).await;
    assert_eq!(lines.len(), table.len());
    for (line, (_, _, _, _, want)) in lines.iter().zip(&table) {
        match want {
            Ok(product) => {
                assert_eq!(line["product"], *product, "{line}");
                assert!(line["app_id"].as_str().unwrap().starts_with("app_"));
                assert!(line["developer_id"].as_str().unwrap().starts_with("dev_"));
            }
            Err(code) if line["method"] != "HEAD" => {
                assert_eq!(line["code"], *code, "{line}");
                assert!(line["product"].is_null(), "{line}");
            }
            Err(_) => assert!(line["product"].is_null(), "{line}"),
        }
        let text = line.to_string();
        for key in [&reader, &biller, &prod_all, &pending, &legacy] {
            assert!(!text.contains(key.as_str()), "key in access log: {text}");
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn approving_a_pending_association_opens_the_key_and_revoking_it_closes_it() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let store = gw.store().await;
    create_products(&store).await;
    let issued = gw.issue_key(&store, "shop", &["manual-all"]).await;
    let url = format!("http://{}/orders/x", gw.running.addr("prod").unwrap());
    let call = || get(&url, &issued.key);
    assert_eq!(call().await.json()["code"], "key.not_approved");

    let set = |status| {
        let store = &store;
        let prefix = issued.prefix.clone();
        async move {
            store
                .set_credential_product_status(
                    &Actor::system(),
                    &prefix,
                    "manual-all",
                    status,
                    None,
                )
                .await
                .unwrap();
        }
    };
    set(ApprovalStatus::Approved).await;
    gw.caught_up(&store).await;
    assert_eq!(call().await.status, 200);
    set(ApprovalStatus::Revoked).await;
    gw.caught_up(&store).await;
    assert_eq!(call().await.json()["code"], "key.not_approved");
    gw.stop().await;
}

#[tokio::test]
async fn a_product_change_reaches_the_gateway() {
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let store = gw.store().await;
    create_products(&store).await;
    let key = gw.issue_key(&store, "shop", &["invoices"]).await.key;
    let url = format!(
        "http://{}/billing/invoices/9/pdf",
        gw.running.addr("test").unwrap()
    );
    let call = || get(&url, &key);
    assert_eq!(call().await.json()["code"], "product.path_not_allowed");
    // Widening the product's resource path to any depth opens the deeper path at once.
    let product = store.get_product("invoices").await.unwrap();
    let mut spec = product.spec.clone();
    spec.paths = vec!["/invoices/**".into()];
    store
        .update_product(&Actor::system(), "invoices", &spec, Some(product.version))
        .await
        .unwrap();
    gw.caught_up(&store).await;
    assert_eq!(call().await.status, 200);
    gw.stop().await;
}
