//! DPoP (RFC 9449) end to end: the built-in authorization server binds tokens to the key of the
//! proof sent to its token endpoint, and the gateway's `verify-oauth-token` accepts them only
//! with fresh proofs of that key for the exact request (opaque and JWT tokens, local store and
//! external introspection), refusing downgrade to Bearer, replays, other keys, other URLs and
//! methods, stale proofs; refresh of a bound family needs the same key. Plus an independent
//! implementation (Python jwcrypto) making proofs our server and gateway accept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use portcullis_jose::{Algorithm, Signer};
use portcullis_store::{Keyring, NewToken, OAuthRepository, TokenKind};
use portcullis_test_support::forge::{b64, claims_of, signed};
use portcullis_test_support::oauth::{OAuthClient, as_url, oauth_product, provision_client};
use portcullis_test_support::{
    Recorder, Reply, TestGateway, get, interop_python, request, run_interop_script, test_keyring,
};
use serde_json::json;

const ISSUER: &str = "http://127.0.0.1:1";
const TOKEN_HTU: &str = "http://127.0.0.1:1/oauth2/token";

fn config(upstream: &str, introspection: &str) -> String {
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
  - name: strict
    base_path: /strict
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{ dpop: {{ required: true, max_age: 30s }} }} }} ]
  - name: proxied
    base_path: /proxied
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{ dpop: {{ public_uri_base: "https://api.example.com/gw" }} }} }} ]
{introspection}"#
    )
}

/// A DPoP key holder (a client).
struct Holder(Signer);

impl Holder {
    fn new(alg: Algorithm) -> Self {
        Self(Signer::generate("dpop", alg).unwrap())
    }

    fn jkt(&self) -> String {
        let jwk = serde_json::to_value(self.0.public_jwk()).unwrap();
        portcullis_jose::dpop::thumbprint(jwk.as_object().unwrap()).unwrap()
    }

    /// A proof for `method url`, `iat` shifted by `age` seconds into the past.
    fn proof_aged(&self, method: &str, url: &str, token: Option<&str>, age: i64) -> String {
        let header = json!({
            "typ": "dpop+jwt",
            "alg": portcullis_jose::alg_name_of(self.0.alg()),
            "jwk": self.0.public_jwk(),
        });
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .cast_signed();
        let mut claims = json!({
            "jti": b64(&rand_bytes()),
            "htm": method,
            "htu": url,
            "iat": now - age,
        });
        if let Some(t) = token {
            claims["ath"] = json!(portcullis_jose::dpop::access_token_hash(t));
        }
        signed(&self.0, &header, &claims)
    }

    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        self.proof_aged(method, url, token, 0)
    }
}

fn rand_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

async fn token_request(gw: &TestGateway, c: &OAuthClient, dpop: Option<&str>, body: &str) -> Reply {
    let basic = c.basic();
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", basic.as_str()),
    ];
    if let Some(p) = dpop {
        headers.push(("dpop", p));
    }
    request(
        Method::POST,
        &as_url(gw, "/oauth2/token"),
        &headers,
        body.to_owned(),
    )
    .await
}

/// A DPoP-bound client_credentials token for `scope`.
async fn bound_token(gw: &TestGateway, c: &OAuthClient, key: &Holder, scope: &str) -> String {
    let r = token_request(
        gw,
        c,
        Some(&key.proof("POST", TOKEN_HTU, None)),
        &format!("grant_type=client_credentials&scope={scope}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["token_type"], "DPoP");
    r.json()["access_token"].as_str().unwrap().to_owned()
}

async fn call(
    gw: &TestGateway,
    method: Method,
    path: &str,
    auth: &str,
    proof: Option<&str>,
) -> Reply {
    let mut headers = vec![("authorization", auth)];
    if let Some(p) = proof {
        headers.push(("dpop", p));
    }
    request(method, &gw.url(path), &headers, "").await
}

fn assert_dpop_refusal(r: &Reply, reason: &str) {
    assert_eq!(
        r.status,
        401,
        "{reason}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["code"], "dpop.invalid_proof", "{reason}: {body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains("error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("algs=\"RS256 PS256 ES256 EdDSA\""),
        "{challenge}"
    );
}

async fn start() -> (std::sync::Arc<Recorder>, TestGateway, OAuthClient) {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url(), "")).await;
    let c = provision_client(
        &gw,
        &[
            ("orders", oauth_product(&["orders.read"], None)),
            ("reports", oauth_product(&["reports.read"], Some("jwt"))),
        ],
    )
    .await;
    (up, gw, c)
}

#[tokio::test]
async fn bound_tokens_work_only_with_fresh_proofs_of_their_key() {
    let (up, gw, c) = start().await;
    let key = Holder::new(Algorithm::ES256);
    let other = Holder::new(Algorithm::ES256);
    let url = gw.url("/orders/1");

    for scope in ["orders.read", "reports.read"] {
        let token = bound_token(&gw, &c, &key, scope).await;
        let auth = format!("DPoP {token}");
        if scope == "reports.read" {
            // JWT access token: cnf.jkt carries the binding.
            assert_eq!(claims_of(&token)["cnf"]["jkt"], key.jkt());
        } else {
            assert!(token.starts_with("pco_"), "{token}");
        }
        // Introspection reports the binding.
        let basic = c.basic();
        let intro = request(
            Method::POST,
            &as_url(&gw, "/oauth2/introspect"),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", basic.as_str()),
            ],
            format!("token={token}"),
        )
        .await
        .json();
        assert_eq!(intro["active"], true);
        assert_eq!(intro["token_type"], "DPoP");
        assert_eq!(intro["cnf"]["jkt"], key.jkt());

        // Fresh proofs, each used once: accepted; neither header reaches the upstream.
        for _ in 0..2 {
            let p = key.proof("GET", &url, Some(&token));
            let ok = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
            assert_eq!(
                ok.status,
                200,
                "{scope}: {}",
                String::from_utf8_lossy(&ok.body)
            );
            let seen = up.requests().last().unwrap().headers.clone();
            assert!(seen.get("authorization").is_none() && seen.get("dpop").is_none());
        }
        // Query strings are not part of htu; scheme/host case and default port are normalised.
        let q = key.proof("GET", &url.replace("http://", "HTTP://"), Some(&token));
        let ok = call(&gw, Method::GET, "/orders/1?page=2", &auth, Some(&q)).await;
        assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));

        // No proof.
        let r = call(&gw, Method::GET, "/orders/1", &auth, None).await;
        assert_dpop_refusal(&r, "missing");
        // Downgrade to Bearer (with or without a proof): refused with the Bearer challenge.
        let p = key.proof("GET", &url, Some(&token));
        let r = call(
            &gw,
            Method::GET,
            "/orders/1",
            &format!("Bearer {token}"),
            Some(&p),
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["code"], "token.invalid");
        assert_eq!(r.json()["reason"], "dpop_bound");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer "));
        // A proof by another key.
        let p = other.proof("GET", &url, Some(&token));
        let r = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "key_mismatch");
        // A replayed proof.
        let p = key.proof("GET", &url, Some(&token));
        assert_eq!(
            call(&gw, Method::GET, "/orders/1", &auth, Some(&p))
                .await
                .status,
            200
        );
        let r = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "replayed");
        // A proof for another URL, another method.
        let p = key.proof("GET", &gw.url("/orders/2"), Some(&token));
        let r = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "wrong_htu");
        let p = key.proof("GET", &url, Some(&token));
        let r = call(&gw, Method::DELETE, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "wrong_htm");
        // A stale proof (default window 60 s) and one from the future.
        let p = key.proof_aged("GET", &url, Some(&token), 120);
        let r = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "stale");
        let p = key.proof_aged("GET", &url, Some(&token), -120);
        let r = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "future");
        // A proof made for another access token (ath).
        let p = key.proof("GET", &url, Some("pco_other"));
        let r = call(&gw, Method::GET, "/orders/1", &auth, Some(&p)).await;
        assert_dpop_refusal(&r, "wrong_ath");
    }
    // An unknown token with the DPoP scheme: a token error, challenged as DPoP.
    let p = key.proof("GET", &url, Some("pco_unknown"));
    let r = call(&gw, Method::GET, "/orders/1", "DPoP pco_unknown", Some(&p)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "token.invalid");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn token_endpoint_refuses_invalid_proofs_and_advertises_dpop() {
    let (_up, gw, c) = start().await;
    let key = Holder::new(Algorithm::PS256);
    let body = "grant_type=client_credentials&scope=orders.read";
    let refused = |r: &Reply, what: &str| {
        assert_eq!(
            r.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["error"], "invalid_dpop_proof", "{what}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    };
    for (what, proof) in [
        (
            "htu",
            key.proof("POST", "http://127.0.0.1:1/oauth2/other", None),
        ),
        ("htm", key.proof("GET", TOKEN_HTU, None)),
        ("stale", key.proof_aged("POST", TOKEN_HTU, None, 300)),
        ("garbage", "not-a-jws".to_owned()),
    ] {
        refused(&token_request(&gw, &c, Some(&proof), body).await, what);
    }
    let once = key.proof("POST", TOKEN_HTU, None);
    assert_eq!(token_request(&gw, &c, Some(&once), body).await.status, 200);
    refused(&token_request(&gw, &c, Some(&once), body).await, "replay");
    // Without a proof: an ordinary Bearer token.
    let plain = token_request(&gw, &c, None, body).await;
    assert_eq!(plain.json()["token_type"], "Bearer");

    let meta = get(&as_url(&gw, "/.well-known/oauth-authorization-server"), &[])
        .await
        .json();
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn required_dpop_refuses_bearer_tokens_and_unbound_tokens_cannot_use_dpop() {
    let (_up, gw, c) = start().await;
    let key = Holder::new(Algorithm::EdDSA);
    let plain = token_request(
        &gw,
        &c,
        None,
        "grant_type=client_credentials&scope=orders.read",
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Optional DPoP: an unbound Bearer token works; presented as DPoP it has nothing to prove.
    let ok = call(
        &gw,
        Method::GET,
        "/orders/1",
        &format!("Bearer {plain}"),
        None,
    )
    .await;
    assert_eq!(ok.status, 200);
    let p = key.proof("GET", &gw.url("/orders/1"), Some(&plain));
    let r = call(
        &gw,
        Method::GET,
        "/orders/1",
        &format!("DPoP {plain}"),
        Some(&p),
    )
    .await;
    assert_dpop_refusal(&r, "unbound_token");

    // dpop.required: Bearer refused, no token challenged with DPoP.
    let r = call(
        &gw,
        Method::GET,
        "/strict/x",
        &format!("Bearer {plain}"),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "token.invalid");
    assert_eq!(r.json()["reason"], "dpop_required");
    assert!(r.header("www-authenticate").unwrap().starts_with("DPoP "));
    let r = get(&gw.url("/strict/x"), &[]).await;
    assert_eq!(r.json()["code"], "token.missing");
    assert!(r.header("www-authenticate").unwrap().starts_with("DPoP "));
    // A bound token with its proof passes; the configured 30 s window applies.
    let token = bound_token(&gw, &c, &key, "orders.read").await;
    let auth = format!("DPoP {token}");
    let p = key.proof("GET", &gw.url("/strict/x"), Some(&token));
    assert_eq!(
        call(&gw, Method::GET, "/strict/x", &auth, Some(&p))
            .await
            .status,
        200
    );
    let p = key.proof_aged("GET", &gw.url("/strict/x"), Some(&token), 45);
    assert_dpop_refusal(
        &call(&gw, Method::GET, "/strict/x", &auth, Some(&p)).await,
        "stale",
    );

    // Behind another proxy: htu is public_uri_base + path, not the listener's own URL.
    let p = key.proof("GET", "https://api.example.com/gw/proxied/a", Some(&token));
    let r = call(&gw, Method::GET, "/proxied/a", &auth, Some(&p)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let p = key.proof("GET", &gw.url("/proxied/a"), Some(&token));
    assert_dpop_refusal(
        &call(&gw, Method::GET, "/proxied/a", &auth, Some(&p)).await,
        "wrong_htu",
    );
}

/// Stores a refresh token bound to `jkt` for the client behind `access` (the authorization
/// code flow that would issue one is covered in oauth_authorization_code.rs).
async fn seed_bound_refresh_token(gw: &TestGateway, c: &OAuthClient, jkt: &str) -> String {
    // The credential id, as introspection reports it.
    let plain = token_request(
        gw,
        c,
        None,
        "grant_type=client_credentials&scope=orders.read",
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let basic = c.basic();
    let intro = request(
        Method::POST,
        &as_url(gw, "/oauth2/introspect"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", basic.as_str()),
        ],
        format!("token={plain}"),
    )
    .await
    .json();
    let credential_id = intro["client_id"].as_str().unwrap().to_owned();
    let refresh = format!("pcr_{}", b64(&rand_bytes()));
    let keyring: std::sync::Arc<Keyring> = test_keyring();
    let now = SystemTime::now();
    let store = gw.store().await;
    store
        .store_tokens(&[NewToken {
            id: format!("tok_{}", b64(&rand_bytes())),
            hash: keyring.hash_credential(&refresh),
            kind: TokenKind::Refresh,
            format: "opaque".into(),
            credential_id,
            subject: Some("user-1".into()),
            scopes: vec!["orders.read".into()],
            products: vec!["orders".into()],
            issued_at: now,
            expires_at: now + Duration::from_secs(3600),
            family_id: format!("fam_{}", b64(&rand_bytes())),
            parent_id: None,
            code_id: None,
            cnf_x5t: None,
            cnf_jkt: Some(jkt.to_owned()),
            claims: Default::default(),
        }])
        .await
        .unwrap();
    refresh
}

#[tokio::test]
async fn refreshing_a_bound_family_needs_a_proof_by_the_same_key() {
    let (_up, gw, c) = start().await;
    let key = Holder::new(Algorithm::ES256);
    let other = Holder::new(Algorithm::ES256);
    let refresh = seed_bound_refresh_token(&gw, &c, &key.jkt()).await;
    let body = format!("grant_type=refresh_token&refresh_token={refresh}");
    for (what, proof) in [
        ("no proof", None),
        ("another key", Some(other.proof("POST", TOKEN_HTU, None))),
    ] {
        let r = token_request(&gw, &c, proof.as_deref(), &body).await;
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(r.json()["error"], "invalid_dpop_proof", "{what}");
    }
    // The bound key: a new pair, still bound; the access token works with that key's proofs.
    let r = token_request(&gw, &c, Some(&key.proof("POST", TOKEN_HTU, None)), &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let json = r.json();
    assert_eq!(json["token_type"], "DPoP");
    let token = json["access_token"].as_str().unwrap();
    let p = key.proof("GET", &gw.url("/orders/1"), Some(token));
    let ok = call(
        &gw,
        Method::GET,
        "/orders/1",
        &format!("DPoP {token}"),
        Some(&p),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    // The rotated refresh token is bound too.
    let next = json["refresh_token"].as_str().unwrap();
    let body = format!("grant_type=refresh_token&refresh_token={next}");
    let r = token_request(&gw, &c, Some(&other.proof("POST", TOKEN_HTU, None)), &body).await;
    assert_eq!(r.json()["error"], "invalid_dpop_proof");
}

#[tokio::test]
async fn introspected_tokens_are_held_to_their_cnf_jkt() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url(), "")).await;
    let c = provision_client(&gw, &[("orders", oauth_product(&["orders.read"], None))]).await;
    let as_addr = gw.running.authorization_server.unwrap();
    let dir = gw.config_path.parent().unwrap();
    std::fs::write(dir.join("introspection.secret"), format!("{}\n", c.secret)).unwrap();
    // A fourth API resolving tokens through RFC 7662 (our own server, reached over HTTP).
    let external = format!(
        r#"  - name: external
    base_path: /external
    upstream: {{ targets: ["{}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{ introspection: {{ url: "http://{as_addr}/oauth2/introspect", client_id: "{}", client_secret_file: introspection.secret }} }} }} ]
"#,
        up.url(),
        c.id
    );
    gw.write_config(&config(&up.url(), &external));
    gw.running.app.reload("test").await.expect("reload");

    let key = Holder::new(Algorithm::ES256);
    let token = bound_token(&gw, &c, &key, "orders.read").await;
    let url = gw.url("/external/1");
    let auth = format!("DPoP {token}");
    let p = key.proof("GET", &url, Some(&token));
    let ok = call(&gw, Method::GET, "/external/1", &auth, Some(&p)).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let p = Holder::new(Algorithm::ES256).proof("GET", &url, Some(&token));
    assert_dpop_refusal(
        &call(&gw, Method::GET, "/external/1", &auth, Some(&p)).await,
        "key_mismatch",
    );
    let r = call(
        &gw,
        Method::GET,
        "/external/1",
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(r.json()["reason"], "dpop_bound");
}

/// An independent implementation: Python jwcrypto makes the proofs (ES256 and RS256) for the
/// token endpoint and the gateway. Skips without the venv unless PORTCULLIS_REQUIRE_INTEROP=1.
#[tokio::test]
async fn jwcrypto_proofs_are_accepted() {
    let Some(python) = interop_python("requests, jwcrypto").await else {
        return;
    };
    let (_up, gw, c) = start().await;
    run_interop_script(
        &python,
        "oauth_dpop.py",
        &[
            ("AS_BASE", &as_url(&gw, "")),
            ("TOKEN_HTU", TOKEN_HTU),
            ("CLIENT_ID", &*c.id),
            ("CLIENT_SECRET", &*c.secret),
            ("GATEWAY", &gw.url("/orders/1")),
        ],
    )
    .await;
}

#[tokio::test]
async fn dpop_config_errors_name_the_field() {
    let up = Recorder::start("orders").await;
    for (policy, field) in [
        (
            "{ dpop: { max_age: 10m } }",
            "verify-oauth-token.dpop.max_age:",
        ),
        (
            "{ dpop: { public_uri_base: \"api.example.com\" } }",
            "verify-oauth-token.dpop.public_uri_base:",
        ),
    ] {
        let yaml = format!(
            r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{}"] }}
    policies:
      request: [ {{ verify-oauth-token: {policy} }} ]
"#,
            up.url()
        );
        let err = TestGateway::start_with(&yaml, None)
            .await
            .err()
            .expect("invalid config refused");
        assert!(err.contains(field), "{field}: {err}");
    }
}
