//! The built-in OAuth authorization server end to end, on its own listener next to the gateway:
//! client_credentials with both secret methods, scopes from approved products, opaque and JWT
//! access tokens, introspection, revocation, JWKS and metadata, the gateway's
//! `verify-oauth-token` / `require-scopes`, a database dump free of secrets, and an independent
//! client (Python authlib + PyJWT + jwcrypto) against our server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use portcullis_store::{
    Actor, AppSpec, ApprovalStatus, ApprovalType, Attributes, CatalogRepository, CredentialSpec,
    DeveloperSpec, ProductSpec,
};
use portcullis_test_support::{
    Recorder, Reply, TestGateway, get, interop_python, request, run_interop_script,
};

struct Client {
    id: String,
    secret: String,
}

fn config(upstream: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
authorization_server:
  address: "127.0.0.1:0"
  issuer: "http://127.0.0.1:1"
  access_token: {{ lifetime: 10m }}
  signing: {{ algorithm: ES256 }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{}} }} ]
    flows:
      - name: write
        match: {{ method: POST }}
        policies: {{ request: [ {{ require-scopes: {{ scopes: [orders.write] }} }} ] }}
"#
    )
}

fn product(scopes: &[&str], format: Option<&str>) -> ProductSpec {
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

/// A developer, an app, three products (one pending for this credential) and a credential.
async fn provision(gw: &TestGateway) -> Client {
    let store = gw.store().await;
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
                callback_urls: vec![],
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    for (name, spec) in [
        ("orders", product(&["orders.read", "orders.write"], None)),
        ("reports", product(&["reports.read"], Some("jwt"))),
        ("admin", product(&["admin"], None)),
    ] {
        store.create_product(&actor, name, &spec).await.unwrap();
    }
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec!["orders".into(), "reports".into(), "admin".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    // Associated but not approved: its scope must not be grantable.
    store
        .set_credential_product_status(
            &actor,
            &issued.credential.key.id,
            "admin",
            ApprovalStatus::Pending,
            None,
        )
        .await
        .unwrap();
    Client {
        id: issued.consumer_key.expose().to_owned(),
        secret: issued.consumer_secret.expose().to_owned(),
    }
}

fn as_url(gw: &TestGateway, path: &str) -> String {
    format!(
        "http://{}{path}",
        gw.running
            .authorization_server
            .expect("authorization server bound")
    )
}

fn basic(c: &Client) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.id, c.secret))
    )
}

async fn post_form(url: &str, auth: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    request(Method::POST, url, &headers, body.to_owned()).await
}

async fn token(gw: &TestGateway, c: &Client, scope: Option<&str>) -> Reply {
    let body = match scope {
        Some(s) => format!(
            "grant_type=client_credentials&scope={}",
            s.replace(' ', "+")
        ),
        None => "grant_type=client_credentials".into(),
    };
    post_form(&as_url(gw, "/oauth2/token"), Some(&basic(c)), &body).await
}

#[tokio::test]
async fn client_credentials_issue_scoped_tokens_the_gateway_honours() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;

    // client_secret_basic; no scope: every scope of the *approved* products.
    let r = token(&gw, &c, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "orders.read orders.write reports.read");
    assert!(body.get("refresh_token").is_none());

    // client_secret_post, narrower scope: an opaque token (the orders product sets no format).
    let r = post_form(
        &as_url(&gw, "/oauth2/token"),
        None,
        &format!(
            "grant_type=client_credentials&scope=orders.read&client_id={}&client_secret={}",
            c.id, c.secret
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let read_token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert!(read_token.starts_with("pco_"), "{read_token}");
    assert_eq!(r.json()["scope"], "orders.read");

    // At the gateway: GET needs only a valid token, POST needs orders.write.
    let bearer = format!("Bearer {read_token}");
    let ok = get(&gw.url("/orders/1"), &[("authorization", &bearer)]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        up.requests().last().unwrap().headers.get("authorization"),
        None
    );
    let denied = request(
        Method::POST,
        &gw.url("/orders"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["code"], "token.insufficient_scope");
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"orders.write\"")
    );
    let write = token(&gw, &c, Some("orders.read orders.write"))
        .await
        .json();
    let wbearer = format!("Bearer {}", write["access_token"].as_str().unwrap());
    let created = request(
        Method::POST,
        &gw.url("/orders"),
        &[("authorization", &wbearer)],
        "",
    )
    .await;
    assert_eq!(created.status, 200);

    // A scope the client lacks, or one of a product still pending: invalid_scope, not dropped.
    for scope in ["orders.read orders.delete", "admin"] {
        let r = token(&gw, &c, Some(scope)).await;
        assert_eq!(r.status, 400, "{scope}");
        assert_eq!(r.json()["error"], "invalid_scope");
    }

    // No or bad token at the gateway: 401 with the RFC 6750 challenge, problem+json.
    let none = get(&gw.url("/orders/1"), &[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["code"], "token.missing");
    assert_eq!(
        none.header("content-type"),
        Some("application/problem+json")
    );
    let bad = get(
        &gw.url("/orders/1"),
        &[("authorization", "Bearer pco_forged")],
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["code"], "token.invalid");
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    // Revocation (RFC 7009) applies at the gateway at once.
    let r = post_form(
        &as_url(&gw, "/oauth2/revoke"),
        Some(&basic(&c)),
        &format!("token={read_token}"),
    )
    .await;
    assert_eq!(r.status, 200);
    let after = get(&gw.url("/orders/1"), &[("authorization", &bearer)]).await;
    assert_eq!(after.status, 401);
    assert_eq!(after.json()["code"], "token.invalid");
}

#[tokio::test]
async fn client_authentication_failures_follow_rfc_6749() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    let url = as_url(&gw, "/oauth2/token");

    let wrong = Client {
        id: c.id.clone(),
        secret: "pcs_wrong".into(),
    };
    let r = token(&gw, &wrong, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let unknown = Client {
        id: "pcl_unknown".into(),
        secret: c.secret.clone(),
    };
    assert_eq!(
        token(&gw, &unknown, None).await.json()["error"],
        "invalid_client"
    );
    // The consumer key alone is not enough.
    let r = post_form(
        &url,
        None,
        &format!("grant_type=client_credentials&client_id={}", c.id),
    )
    .await;
    assert_eq!(r.status, 401);
    // Two methods at once, a repeated parameter, or a non-form body: invalid_request.
    let r = post_form(
        &url,
        Some(&basic(&c)),
        &format!("grant_type=client_credentials&client_secret={}", c.secret),
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_request");
    let r = post_form(
        &url,
        Some(&basic(&c)),
        "grant_type=client_credentials&grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_request");
    let r = request(
        Method::POST,
        &url,
        &[
            ("authorization", &basic(&c)),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_request");
    // No implicit or password grant (RFC 9700).
    let r = post_form(
        &url,
        Some(&basic(&c)),
        "grant_type=password&username=a&password=b",
    )
    .await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn jwt_tokens_introspection_jwks_and_metadata() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;

    // The reports product asks for JWT access tokens (product attribute token_format: jwt).
    let r = token(&gw, &c, Some("reports.read")).await.json();
    let jwt = r["access_token"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let kid = header["kid"].as_str().unwrap().to_owned();

    let jwks = get(&as_url(&gw, "/oauth2/jwks"), &[]).await;
    assert_eq!(jwks.status, 200);
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    assert_eq!(
        keys.len(),
        2,
        "the active key and the next one are published"
    );
    assert!(keys.iter().any(|k| k["kid"] == kid.as_str()));
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );

    let ok = get(
        &gw.url("/orders/x"),
        &[("authorization", &format!("Bearer {jwt}"))],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));

    // Introspection (RFC 7662) of the JWT and of an unknown token.
    let intro = as_url(&gw, "/oauth2/introspect");
    let r = post_form(&intro, Some(&basic(&c)), &format!("token={jwt}"))
        .await
        .json();
    assert_eq!(r["active"], true);
    assert_eq!(r["scope"], "reports.read");
    assert_eq!(r["iss"], "http://127.0.0.1:1");
    assert!(
        r["client_id"].as_str().unwrap().starts_with("key_"),
        "never the consumer key"
    );
    let r = post_form(&intro, Some(&basic(&c)), "token=pco_nothing")
        .await
        .json();
    assert_eq!(r, serde_json::json!({"active": false}));
    let r = post_form(&intro, None, &format!("token={jwt}")).await;
    assert_eq!(r.status, 401);

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m = get(&as_url(&gw, path), &[]).await.json();
        assert_eq!(m["issuer"], "http://127.0.0.1:1");
        assert_eq!(m["token_endpoint"], "http://127.0.0.1:1/oauth2/token");
        assert_eq!(m["jwks_uri"], "http://127.0.0.1:1/oauth2/jwks");
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }
}

#[tokio::test]
async fn the_database_holds_no_token_or_client_secret_in_plain_text() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    let mut secrets = vec![c.id.clone(), c.secret.clone()];
    for scope in ["orders.read", "reports.read"] {
        let t = token(&gw, &c, Some(scope)).await.json();
        let tok = t["access_token"].as_str().unwrap().to_owned();
        // JWTs: their signature part is what must not be stored.
        secrets.push(tok.rsplit('.').next().unwrap().to_owned());
    }
    // Everything SQLite wrote: the database and its write-ahead log.
    let mut dump = Vec::new();
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", gw.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            dump.extend_from_slice(&bytes);
        }
    }
    assert!(dump.len() > 4096);
    for s in &secrets {
        let needle = &s.as_bytes()[4..];
        assert!(
            !dump.windows(needle.len()).any(|w| w == needle),
            "a secret ({}…) is stored in plain text",
            &s[..8]
        );
    }
    // The sealed signing keys are there, but not their PKCS#8 DER (which starts 30 81 87 02 01 00
    // for P-256 keys).
    let pkcs8_p256 = [0x30u8, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13];
    assert!(!dump.windows(8).any(|w| w == pkcs8_p256));
}

/// The independent client: Python authlib performs client_credentials against our token
/// endpoint; PyJWT and jwcrypto verify our JWT with our JWKS. Runs whenever the project's
/// venv has the packages (.ci/run installs them); in CI their absence is a failure, not a skip.
#[tokio::test]
async fn authlib_pyjwt_and_jwcrypto_interoperate() {
    let Some(python) = interop_python("authlib, requests, jwt, jwcrypto").await else {
        return;
    };
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    run_interop_script(
        &python,
        "oauth_client_credentials.py",
        &[
            ("AS_BASE", &as_url(&gw, "")),
            ("ISSUER", "http://127.0.0.1:1"),
            ("CLIENT_ID", &*c.id),
            ("CLIENT_SECRET", &*c.secret),
            ("GATEWAY", &gw.url("/orders/1")),
        ],
    )
    .await;
}
