//! Fixtures for tests of the built-in OAuth authorization server: a client (app credential)
//! approved for products with scopes and a token format, and the token and revocation calls.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use portcullis_store::{
    Actor, AppSpec, ApprovalType, Attributes, CatalogRepository, CredentialSpec, DeveloperSpec,
    ProductSpec,
};

use crate::{Reply, TestGateway, request};

/// An OAuth client: the consumer key and secret of an app credential.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// `client_id` (consumer key).
    pub id: String,
    /// `client_secret` (consumer secret).
    pub secret: String,
}

impl OAuthClient {
    /// `Authorization: Basic …` for `client_secret_basic`.
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.id, self.secret))
        )
    }
}

/// A product for OAuth tests: every path, these scopes, and the `token_format` attribute if
/// given (`jwt` / `opaque`).
pub fn oauth_product(scopes: &[&str], format: Option<&str>) -> ProductSpec {
    let mut attributes = Attributes::new();
    if let Some(f) = format {
        attributes.insert("token_format".into(), f.into());
    }
    ProductSpec {
        display_name: "p".into(),
        description: String::new(),
        apis: vec![],
        paths: vec!["/**".into()],
        methods: vec![],
        environments: vec![],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        quota: None,
        approval: ApprovalType::Auto,
        attributes,
    }
}

/// Creates a developer, an app, the `products` (name, spec) and a credential approved for all
/// of them; returns the client.
pub async fn provision_client(gw: &TestGateway, products: &[(&str, ProductSpec)]) -> OAuthClient {
    register_client(&gw.store().await, &[], products).await
}

/// [`provision_client`] on any store, for an app with `callbacks` as its redirect URIs.
pub async fn register_client(
    store: &dyn CatalogRepository,
    callbacks: &[&str],
    products: &[(&str, ProductSpec)],
) -> OAuthClient {
    let actor = Actor::system();
    store
        .create_developer(
            &actor,
            &DeveloperSpec {
                email: "dev@example.com".into(),
                name: "Dev".into(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    let app = store
        .create_app(
            &actor,
            "dev@example.com",
            &AppSpec {
                name: "shop".into(),
                callback_urls: callbacks.iter().map(|c| (*c).to_owned()).collect(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    for (name, spec) in products {
        store.create_product(&actor, name, spec).await.unwrap();
    }
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: products.iter().map(|(n, _)| (*n).to_owned()).collect(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    OAuthClient {
        id: issued.consumer_key.expose().to_owned(),
        secret: issued.consumer_secret.expose().to_owned(),
    }
}

/// `path` on the gateway's authorization server.
pub fn as_url(gw: &TestGateway, path: &str) -> String {
    format!(
        "http://{}{path}",
        gw.running
            .authorization_server
            .expect("authorization server bound")
    )
}

/// A form POST with `client_secret_basic`.
pub async fn post_form(url: &str, client: &OAuthClient, body: &str) -> Reply {
    let basic = client.basic();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", basic.as_str()),
    ];
    request(Method::POST, url, &headers, body.to_owned()).await
}

/// A `client_credentials` access token for `scope` (panics unless the server issues one).
pub async fn client_credentials(gw: &TestGateway, client: &OAuthClient, scope: &str) -> String {
    let r = post_form(
        &as_url(gw, "/oauth2/token"),
        client,
        &format!("grant_type=client_credentials&scope={scope}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// Revokes `token` (RFC 7009) as `client`.
pub async fn revoke(gw: &TestGateway, client: &OAuthClient, token: &str) {
    let r = post_form(
        &as_url(gw, "/oauth2/revoke"),
        client,
        &format!("token={token}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
