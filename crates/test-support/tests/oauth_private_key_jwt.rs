//! private_key_jwt (RFC 7523) end to end: the authorization server and the gateway in process,
//! clients whose keys are registered inline (`jwks`) or at a `jwks_uri` served by a local HTTP
//! server; client_credentials tokens honoured by the gateway, introspection and revocation with
//! assertions, the refusals of the brief, and Python authlib's `PrivateKeyJWT` as an
//! independent client.

#[path = "interop/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use portcullis_jose::{Algorithm, Signer, jwk_set};
use portcullis_store::{
    Actor, AppSpec, Attributes, CatalogRepository, CredentialSpec, DeveloperSpec,
};
use portcullis_test_support::forge::{hs256, signed, unsigned};
use portcullis_test_support::oauth::{as_url, oauth_product};
use portcullis_test_support::{
    Recorder, Reply, TestGateway, get, interop_python, request, run_interop_script,
};
use serde_json::{Value, json};

const ISSUER: &str = "http://127.0.0.1:1";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn config(upstream: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
authorization_server:
  address: "127.0.0.1:0"
  issuer: "{ISSUER}"
  access_token: {{ lifetime: 10m }}
  signing: {{ algorithm: ES256 }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{}} }} ]
"#
    )
}

struct Client {
    id: String,
    secret: String,
    credential_id: String,
}

/// A developer (once), an app with `attributes` named `app`, and a credential approved for
/// the `orders` product.
async fn provision(gw: &TestGateway, app: &str, attributes: Attributes) -> Client {
    let store = gw.store().await;
    let actor = Actor::system();
    let _ = store
        .create_developer(
            &actor,
            &DeveloperSpec {
                email: "dev@example.com".into(),
                name: "Dev".into(),
                attributes: Default::default(),
            },
        )
        .await;
    let _ = store
        .create_product(&actor, "orders", &oauth_product(&["orders.read"], None))
        .await;
    let app = store
        .create_app(
            &actor,
            "dev@example.com",
            &AppSpec {
                name: app.into(),
                callback_urls: vec![],
                attributes,
            },
        )
        .await
        .unwrap();
    let issued = store
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
    Client {
        id: issued.consumer_key.expose().to_owned(),
        secret: issued.consumer_secret.expose().to_owned(),
        credential_id: issued.credential.key.id.clone(),
    }
}

fn attrs(pairs: &[(&str, String)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

static JTI: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn claims(client_id: &str) -> Value {
    let n = JTI.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now(),
           "exp": now() + 60, "jti": format!("it-{n}-{}", now())})
}

fn assertion(signer: &Signer, claims: &Value) -> String {
    let alg = portcullis_jose::alg_name_of(signer.alg());
    signed(
        signer,
        &json!({"alg": alg, "kid": signer.kid(), "typ": "JWT"}),
        claims,
    )
}

async fn post(url: &str, auth: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    request(Method::POST, url, &headers, body.to_owned()).await
}

async fn token_with(gw: &TestGateway, jwt: &str) -> Reply {
    post(
        &as_url(gw, "/oauth2/token"),
        None,
        &format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={jwt}"
        ),
    )
    .await
}

fn assert_invalid_client(r: &Reply, what: &str) {
    assert_eq!(
        r.status,
        401,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["error"], "invalid_client", "{what}");
    // The same fixed text whatever failed: nothing tells which check it was.
    assert_eq!(
        body["error_description"], "client authentication failed",
        "{what}"
    );
}

#[tokio::test]
async fn client_credentials_with_inline_keys_and_every_refusal() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let signer = Signer::generate("c1", Algorithm::ES256).unwrap();
    let jwks = serde_json::to_string(&jwk_set([&signer])).unwrap();
    let c = provision(
        &gw,
        "svc",
        attrs(&[
            ("token_endpoint_auth_method", "private_key_jwt".into()),
            ("jwks", jwks),
        ]),
    )
    .await;

    let first = assertion(&signer, &claims(&c.id));
    let r = token_with(&gw, &first).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        get(&gw.url("/orders/1"), &[("authorization", &bearer)])
            .await
            .status,
        200
    );

    // The token endpoint URL is accepted as aud too (RFC 7523 / OIDC Core clients).
    let mut c2 = claims(&c.id);
    c2["aud"] = json!(format!("{ISSUER}/oauth2/token"));
    assert_eq!(token_with(&gw, &assertion(&signer, &c2)).await.status, 200);

    // Introspection and revocation accept assertions as well.
    let intro = post(
        &as_url(&gw, "/oauth2/introspect"),
        None,
        &format!(
            "token={token}&client_assertion_type={ASSERTION_TYPE}&client_assertion={}",
            assertion(&signer, &claims(&c.id))
        ),
    )
    .await;
    assert_eq!(intro.status, 200);
    assert_eq!(intro.json()["active"], true);
    assert_eq!(intro.json()["client_id"], c.credential_id.as_str());
    let revoked = post(
        &as_url(&gw, "/oauth2/revoke"),
        None,
        &format!(
            "token={token}&client_assertion_type={ASSERTION_TYPE}&client_assertion={}",
            assertion(&signer, &claims(&c.id))
        ),
    )
    .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        get(&gw.url("/orders/1"), &[("authorization", &bearer)])
            .await
            .status,
        401
    );

    // Refusals, all the same invalid_client.
    assert_invalid_client(&token_with(&gw, &first).await, "replayed jti");
    let mut bad = claims(&c.id);
    bad["aud"] = json!("https://other.example");
    assert_invalid_client(
        &token_with(&gw, &assertion(&signer, &bad)).await,
        "wrong aud",
    );
    let mut bad = claims(&c.id);
    bad["exp"] = json!(now() - 120);
    assert_invalid_client(&token_with(&gw, &assertion(&signer, &bad)).await, "expired");
    let mut bad = claims(&c.id);
    bad.as_object_mut().unwrap().remove("jti");
    assert_invalid_client(&token_with(&gw, &assertion(&signer, &bad)).await, "no jti");
    let mut bad = claims(&c.id);
    bad["sub"] = json!("pcl_someone_else");
    assert_invalid_client(
        &token_with(&gw, &assertion(&signer, &bad)).await,
        "iss != sub",
    );
    let none = unsigned(&json!({"alg": "none"}), &claims(&c.id), b"");
    assert_invalid_client(&token_with(&gw, &none).await, "alg none");
    let public = serde_json::to_vec(signer.public_jwk()).unwrap();
    let forged = hs256("c1", "JWT", &claims(&c.id), &public);
    assert_invalid_client(&token_with(&gw, &forged).await, "HS256 with the public key");
    let stranger = Signer::generate("c1", Algorithm::ES256).unwrap();
    assert_invalid_client(
        &token_with(&gw, &assertion(&stranger, &claims(&c.id))).await,
        "key not registered",
    );

    // The client is registered for private_key_jwt only: its secret is refused.
    let r = post(
        &as_url(&gw, "/oauth2/token"),
        None,
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            c.id, c.secret
        ),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    // An assertion and a secret together: two methods.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", c.id, c.secret)
        )
    );
    let r = post(
        &as_url(&gw, "/oauth2/token"),
        Some(&basic),
        &format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={}",
            assertion(&signer, &claims(&c.id))
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");

    // A revoked credential: its next assertion (after the 2 s client cache) is refused.
    gw.store()
        .await
        .revoke_credential(&Actor::system(), &c.credential_id, None)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = token_with(&gw, &assertion(&signer, &claims(&c.id))).await;
        if r.status == 401 {
            assert_invalid_client(&r, "revoked credential");
            break;
        }
        assert_eq!(r.status, 200);
        assert!(std::time::Instant::now() < deadline, "still accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Discovery.
    let m = get(&as_url(&gw, "/.well-known/oauth-authorization-server"), &[])
        .await
        .json();
    for list in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert!(
            m[list]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == "private_key_jwt"),
            "{list}"
        );
    }
    assert_eq!(
        m["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn client_credentials_with_a_jwks_uri() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let signer = Signer::generate("r1", Algorithm::RS256).unwrap();
    let server =
        servers::JwksServer::start(&serde_json::to_value(jwk_set([&signer])).unwrap()).await;
    let c = provision(
        &gw,
        "remote",
        attrs(&[
            ("token_endpoint_auth_method", "private_key_jwt".into()),
            ("jwks_uri", server.url()),
        ]),
    )
    .await;
    for _ in 0..3 {
        let r = token_with(&gw, &assertion(&signer, &claims(&c.id))).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(server.fetches(), 1, "the JWKS is cached");
    let unknown = Signer::generate("r9", Algorithm::RS256).unwrap();
    let before = server.fetches();
    for _ in 0..5 {
        assert_invalid_client(
            &token_with(&gw, &assertion(&unknown, &claims(&c.id))).await,
            "unknown kid",
        );
    }
    assert!(
        server.fetches() <= before + 1,
        "unknown kids are rate-limited"
    );
}

/// Python authlib's `PrivateKeyJWT` client authentication performs client_credentials; the
/// token works at the gateway. In CI (PORTCULLIS_REQUIRE_INTEROP=1) a missing venv fails.
#[tokio::test]
async fn authlib_private_key_jwt_interoperates() {
    let Some(python) = interop_python("authlib, requests").await else {
        return;
    };
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let signer = Signer::generate("py1", Algorithm::RS256).unwrap();
    let c = provision(
        &gw,
        "py",
        attrs(&[
            ("token_endpoint_auth_method", "private_key_jwt".into()),
            ("jwks", serde_json::to_string(&jwk_set([&signer])).unwrap()),
        ]),
    )
    .await;
    let pem = pkcs8_pem(signer.pkcs8_der());
    run_interop_script(
        &python,
        "oauth_private_key_jwt.py",
        &[
            ("AS_BASE", &as_url(&gw, "")),
            ("ISSUER", ISSUER),
            ("CLIENT_ID", &*c.id),
            ("PRIVATE_KEY_PEM", &*pem),
            ("KID", "py1"),
            ("GATEWAY", &gw.url("/orders/1")),
        ],
    )
    .await;
}

fn pkcs8_pem(der: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}
