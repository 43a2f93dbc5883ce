//! `verify-oauth-token` with an external RFC 7662 introspection endpoint: the gateway resolves
//! opaque tokens by asking another authorization server (here our own, reached over HTTP like
//! any third party), caches the answers, and refuses revoked tokens once the cache entry ends.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use portcullis_store::{
    Actor, AppSpec, CatalogRepository, CredentialSpec, DeveloperSpec, ProductSpec,
};
use portcullis_test_support::oauth::oauth_product;
use portcullis_test_support::{Recorder, TestGateway, get, request};

fn config(upstream: &str, policy: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
authorization_server: {{ address: "127.0.0.1:0", issuer: "http://127.0.0.1:1" }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {policy} }} ]
"#
    )
}

#[tokio::test]
async fn opaque_tokens_are_resolved_through_an_introspection_endpoint() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url(), "{}")).await;
    let store = gw.store().await;
    let actor = Actor::system();
    store
        .create_developer(
            &actor,
            &DeveloperSpec {
                email: "rs@example.com".into(),
                name: "RS".into(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    let app = store
        .create_app(
            &actor,
            "rs@example.com",
            &AppSpec {
                name: "resource-server".into(),
                callback_urls: vec![],
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    store
        .create_product(
            &actor,
            "orders",
            &ProductSpec {
                display_name: "Orders".into(),
                ..oauth_product(&["orders.read"], None)
            },
        )
        .await
        .unwrap();
    let c = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec!["orders".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let (id, secret) = (c.consumer_key.expose(), c.consumer_secret.expose());
    let as_addr = gw.running.authorization_server.unwrap();

    // The secret comes from a file next to the config, never from the config itself.
    let dir = gw.config_path.parent().unwrap();
    std::fs::write(dir.join("introspection.secret"), format!("{secret}\n")).unwrap();
    let policy = format!(
        "{{ introspection: {{ url: \"http://{as_addr}/oauth2/introspect\", client_id: \"{id}\", \
         client_secret_file: introspection.secret, cache_ttl: 1s }} }}"
    );
    gw.write_config(&config(&up.url(), &policy));
    gw.running.app.reload("test").await.expect("reload");

    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let token = request(
        Method::POST,
        &format!("http://{as_addr}/oauth2/token"),
        &[
            ("authorization", basic.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "grant_type=client_credentials",
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {token}");
    let ok = get(&gw.url("/orders/1"), &[("authorization", &bearer)]).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let bad = get(
        &gw.url("/orders/1"),
        &[("authorization", "Bearer pco_unknown")],
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["code"], "token.invalid");

    // Revoked at the authorization server: refused once the 1 s cache entry has ended.
    let r = request(
        Method::POST,
        &format!("http://{as_addr}/oauth2/revoke"),
        &[
            ("authorization", basic.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        format!("token={token}"),
    )
    .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let after = get(&gw.url("/orders/1"), &[("authorization", &bearer)]).await;
    assert_eq!(after.status, 401);
}

#[tokio::test]
async fn introspection_config_errors_name_the_field() {
    let up = Recorder::start("orders").await;
    for (policy, field) in [
        (
            "{ introspection: { url: \"http://example.com/i\", client_id: a, client_secret_file: s } }",
            "verify-oauth-token.introspection.url:",
        ),
        (
            "{ introspection: { url: \"https://example.com/i\", client_id: a } }",
            "verify-oauth-token.introspection: set exactly one",
        ),
        (
            "{ introspection: { url: \"https://example.com/i\", client_id: a, client_secret_file: missing.secret } }",
            "verify-oauth-token.introspection.client_secret_file:",
        ),
    ] {
        let err = TestGateway::start_with(&config(&up.url(), policy), None)
            .await
            .err()
            .expect("invalid config refused");
        assert!(err.contains(field), "{field}: {err}");
    }
}
