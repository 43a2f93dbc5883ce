//! `verify-jwt` end to end: a real in-process gateway, a JWKS served by a local HTTP server, and
//! the forged-token matrix (every entry must be a 401 that never reaches the upstream and never
//! makes the gateway contact a URL named in the token). Plus JWKS refresh limits, key rotation,
//! and interoperability with jwcrypto / PyJWT (Python, from PyPI).

#[path = "interop/python.rs"]
mod python;
#[path = "interop/servers.rs"]
mod servers;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jose::{Algorithm, Signer, jwk_set};
use portcullis_test_support::forge::{b64, header_of, hs256, patched, signed, swap_alg, unsigned};
use portcullis_test_support::{Recorder, TestGateway, get};
use serde_json::{Value, json};
use servers::{JwksServer, Trap};

const ISS: &str = "https://idp.test/";
const AUD: &str = "api://orders";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "client_id": "shop-web",
           "scope": "orders:read", "iat": now(), "exp": now() + 300})
}

/// The issuer's keys, one per algorithm, published with their `alg`.
struct Keys {
    rsa: Signer,
    pss: Signer,
    ec: Signer,
    ed: Signer,
}

impl Keys {
    fn new() -> Self {
        Self {
            rsa: Signer::generate("rsa-1", Algorithm::RS256).unwrap(),
            pss: Signer::generate("pss-1", Algorithm::PS256).unwrap(),
            ec: Signer::generate("ec-1", Algorithm::ES256).unwrap(),
            ed: Signer::generate("ed-1", Algorithm::EdDSA).unwrap(),
        }
    }

    fn jwks(&self) -> Value {
        serde_json::to_value(jwk_set([&self.rsa, &self.pss, &self.ec, &self.ed])).unwrap()
    }
}

fn header(signer: &Signer) -> Value {
    header_of(signer, "at+jwt")
}

fn with(patch: Value) -> Value {
    patched(&claims(), patch)
}

fn config(upstream: &Recorder, jwks_url: &str, refresh_interval: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request:
        - verify-jwt:
            issuer: "{ISS}"
            jwks_url: "{jwks_url}"
            audiences: ["{AUD}"]
            algorithms: [RS256, PS256, ES256, EdDSA]
            token_types: [at+jwt]
            max_lifetime: 1h
            realm: orders
            claims_to_headers: {{ sub: x-user, scope: x-scopes }}
            jwks_cache: {{ refresh_interval: {refresh_interval} }}
"#,
        upstream = upstream.url()
    )
}

async fn call(gw: &TestGateway, token: Option<&str>) -> portcullis_test_support::Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("x-user", "mallory")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    get(&gw.url("/orders/items"), &headers).await
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_pass_with_claims_for_the_upstream() {
    let keys = Keys::new();
    let jwks = JwksServer::start(&keys.jwks()).await;
    let upstream = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&upstream, &jwks.url(), "60s")).await;
    for signer in [&keys.rsa, &keys.pss, &keys.ec, &keys.ed] {
        let token = signer.sign_with_type("at+jwt", &claims()).unwrap();
        let r = call(&gw, Some(&token)).await;
        assert_eq!(r.status, 200, "{:?}: {:?}", signer.alg(), r.body);
    }
    assert_eq!(upstream.count(), 4);
    let seen = &upstream.requests()[0];
    assert_eq!(
        seen.headers.get("x-user").unwrap(),
        "alice",
        "spoofed value replaced"
    );
    assert_eq!(seen.headers.get_all("x-user").iter().count(), 1);
    assert_eq!(seen.headers.get("x-scopes").unwrap(), "orders:read");
    assert_eq!(jwks.fetches(), 1, "one fetch serves every later request");
    let lines = gw.wait_for_log_lines(4).await;
    assert_eq!(lines[0]["app_id"], "shop-web", "{}", lines[0]);
    gw.stop().await;
}

#[tokio::test]
async fn forged_token_matrix_is_refused_with_401() {
    let keys = Keys::new();
    let jwks = JwksServer::start(&keys.jwks()).await;
    let trap = Trap::start().await;
    let upstream = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&upstream, &jwks.url(), "60s")).await;
    // Warm the JWKS cache: every refusal below happens with keys at hand.
    let good = keys.rsa.sign_with_type("at+jwt", &claims()).unwrap();
    assert_eq!(call(&gw, Some(&good)).await.status, 200);
    let served = upstream.count();

    let rs = header(&keys.rsa);
    let ec = header(&keys.ec);
    let attacker = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let mut cases: Vec<(String, String, &str)> = Vec::new();
    let mut case = |name: &str, token: String, reason: &'static str| {
        cases.push((name.to_owned(), token, reason));
    };

    for none in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": none, "kid": "rsa-1", "typ": "at+jwt"});
        case(
            &format!("alg {none}"),
            unsigned(&h, &claims(), b""),
            "disallowed_algorithm",
        );
        case(
            &format!("alg {none} + junk sig"),
            unsigned(&h, &claims(), b"sig"),
            "disallowed_algorithm",
        );
    }
    let body = b64(claims().to_string().as_bytes());
    let head = b64(rs.to_string().as_bytes());
    case(
        "stripped signature",
        format!("{head}.{body}."),
        "bad_signature",
    );
    case("no signature part", format!("{head}.{body}"), "malformed");
    // HS256 keyed with our RSA public key, as PEM and as JWK JSON.
    let jwk_json = serde_json::to_vec(keys.rsa.public_jwk()).unwrap();
    for (what, secret) in [
        ("PEM", keys.rsa.public_key_pem().into_bytes()),
        ("JWK", jwk_json),
    ] {
        case(
            &format!("HS256 with RSA public key ({what})"),
            hs256("rsa-1", "at+jwt", &claims(), &secret),
            "disallowed_algorithm",
        );
    }
    // RS↔PS swap: a valid signature presented under the other padding scheme.
    for (from, to) in [(&keys.rsa, "PS256"), (&keys.pss, "RS256")] {
        let real = from.sign_with_type("at+jwt", &claims()).unwrap();
        case(
            &format!("{:?} presented as {to}", from.alg()),
            swap_alg(&real, to),
            "key_mismatch",
        );
    }
    case(
        "ES256 all-zero signature",
        unsigned(&ec, &claims(), &[0; 64]),
        "bad_signature",
    );
    for kid in [
        "ec-2",
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1' --",
        "x'; DROP TABLE keys;--",
        "%2e%2e%2f",
    ] {
        let mut h = ec.clone();
        h["kid"] = json!(kid);
        case(
            &format!("kid {kid:?}"),
            signed(&keys.ec, &h, &claims()),
            "unknown_kid",
        );
    }
    // Key-location headers: the attacker's key, pointed at in every way; never fetched or used.
    let mut h = ec.clone();
    h["jku"] = json!(trap.url("/jwks.json"));
    case(
        "jku to attacker",
        signed(&attacker, &h, &claims()),
        "bad_signature",
    );
    let mut h = ec.clone();
    h["x5u"] = json!(trap.url("/cert.pem"));
    case(
        "x5u to attacker",
        signed(&attacker, &h, &claims()),
        "bad_signature",
    );
    let mut h = ec.clone();
    h["jwk"] = serde_json::to_value(attacker.public_jwk()).unwrap();
    case(
        "embedded jwk",
        signed(&attacker, &h, &claims()),
        "bad_signature",
    );
    let mut h = json!({"alg": "ES256", "kid": "attacker-kid", "typ": "at+jwt"});
    h["jku"] = json!(trap.url("/jwks.json"));
    h["x5u"] = json!(trap.url("/x5u"));
    case(
        "unknown kid + jku",
        signed(&attacker, &h, &claims()),
        "unknown_kid",
    );
    let mut h = ec.clone();
    h["crit"] = json!(["exp"]);
    h["exp"] = json!(now() + 60);
    case(
        "unknown crit",
        signed(&keys.ec, &h, &claims()),
        "unsupported_crit",
    );
    // Time claims.
    case(
        "missing exp",
        signed(&keys.ec, &ec, &with(json!({"exp": null}))),
        "missing_claim",
    );
    case(
        "expired",
        signed(&keys.ec, &ec, &with(json!({"exp": now() - 3600}))),
        "expired",
    );
    case(
        "exp as string",
        signed(&keys.ec, &ec, &with(json!({"exp": "99999999999"}))),
        "invalid_claim",
    );
    case(
        "exp far in the future",
        signed(
            &keys.ec,
            &ec,
            &with(json!({"exp": now() + 10 * 365 * 86400})),
        ),
        "lifetime_too_long",
    );
    case(
        "future nbf",
        signed(&keys.ec, &ec, &with(json!({"nbf": now() + 3600}))),
        "not_yet_valid",
    );
    case(
        "nbf as string",
        signed(&keys.ec, &ec, &with(json!({"nbf": "0"}))),
        "invalid_claim",
    );
    // Issuer and audience.
    case(
        "wrong iss",
        signed(&keys.ec, &ec, &with(json!({"iss": "https://evil.test/"}))),
        "wrong_issuer",
    );
    case(
        "missing iss",
        signed(&keys.ec, &ec, &with(json!({"iss": null}))),
        "missing_claim",
    );
    case(
        "wrong aud",
        signed(&keys.ec, &ec, &with(json!({"aud": "api://other"}))),
        "wrong_audience",
    );
    case(
        "missing aud",
        signed(&keys.ec, &ec, &with(json!({"aud": null}))),
        "missing_claim",
    );
    // An ID token (audience = the client, nonce, typ JWT) used as an access token.
    let id_claims =
        with(json!({"aud": [AUD, "shop-web"], "nonce": "n-0S6_WzA2Mj", "azp": "shop-web"}));
    let mut id_header = ec.clone();
    id_header["typ"] = json!("JWT");
    case(
        "id_token (typ JWT)",
        signed(&keys.ec, &id_header, &id_claims),
        "wrong_type",
    );
    case(
        "id_token (no typ)",
        signed(
            &keys.ec,
            &json!({"alg": "ES256", "kid": "ec-1"}),
            &id_claims,
        ),
        "wrong_type",
    );
    case(
        "id_token (nonce)",
        signed(&keys.ec, &ec, &id_claims),
        "id_token",
    );
    // Oversized: a correctly signed 9 KiB token, and 60 KiB of junk.
    case(
        "oversized signed",
        signed(&keys.ec, &ec, &with(json!({"pad": "x".repeat(9 * 1024)}))),
        "too_large",
    );
    case(
        "oversized junk",
        format!(
            "{}.{}.{}",
            "a".repeat(20_000),
            "b".repeat(20_000),
            "c".repeat(20_000)
        ),
        "too_large",
    );

    for (name, token, reason) in &cases {
        let r = call(&gw, Some(token)).await;
        assert_eq!(r.status, 401, "{name}: {:?}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{name}"
        );
        let body = r.json();
        assert_eq!(body["reason"], *reason, "{name}: {body}");
        let code = if *reason == "expired" {
            "token.expired"
        } else {
            "token.invalid"
        };
        assert_eq!(body["code"], code, "{name}");
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with(r#"Bearer realm="orders", error="invalid_token""#),
            "{name}: {challenge}"
        );
    }
    let r = call(&gw, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "token.missing");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="orders""#)
    );

    assert_eq!(
        upstream.count(),
        served,
        "no forged token reached the upstream"
    );
    assert_eq!(trap.connections(), 0, "jku/x5u/jwk are never fetched");
    assert_eq!(
        jwks.fetches(),
        1,
        "forged tokens cause no fetch within the refresh interval"
    );
    gw.stop().await;
}

#[tokio::test]
async fn unknown_kids_refresh_the_jwks_at_most_once_per_interval() {
    let keys = Keys::new();
    let jwks = JwksServer::start(&keys.jwks()).await;
    let upstream = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&upstream, &jwks.url(), "1s")).await;
    let good = keys.ec.sign_with_type("at+jwt", &claims()).unwrap();
    assert_eq!(call(&gw, Some(&good)).await.status, 200);
    assert_eq!(jwks.fetches(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let spray = |round: usize| {
        let url = gw.url("/orders/items");
        let tokens: Vec<String> = (0..25)
            .map(|i| {
                let h =
                    json!({"alg": "ES256", "kid": format!("spray-{round}-{i}"), "typ": "at+jwt"});
                signed(&keys.ec, &h, &claims())
            })
            .collect();
        async move {
            let calls = tokens.into_iter().map(|t| {
                let url = url.clone();
                tokio::spawn(async move {
                    get(&url, &[("authorization", &format!("Bearer {t}"))])
                        .await
                        .status
                })
            });
            for c in calls {
                assert_eq!(c.await.unwrap(), 401);
            }
        }
    };
    spray(1).await;
    assert_eq!(
        jwks.fetches(),
        2,
        "25 concurrent unknown kids after the interval: one refetch"
    );
    spray(2).await;
    assert_eq!(jwks.fetches(), 2, "and none within the interval");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    spray(3).await;
    assert_eq!(jwks.fetches(), 3);
    assert_eq!(
        call(&gw, Some(&good)).await.status,
        200,
        "known keys keep working"
    );
    gw.stop().await;
}

#[tokio::test]
async fn key_rotation_at_the_issuer_is_picked_up() {
    let keys = Keys::new();
    let jwks = JwksServer::start(&keys.jwks()).await;
    let upstream = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&upstream, &jwks.url(), "1s")).await;
    let old = keys.ec.sign_with_type("at+jwt", &claims()).unwrap();
    assert_eq!(call(&gw, Some(&old)).await.status, 200);

    // The issuer publishes a new key and retires the old one.
    let next = Signer::generate("ec-2", Algorithm::ES256).unwrap();
    jwks.publish(&serde_json::to_value(jwk_set([&next])).unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let new = next.sign_with_type("at+jwt", &claims()).unwrap();
    assert_eq!(
        call(&gw, Some(&new)).await.status,
        200,
        "new kid fetched on first sight"
    );
    assert_eq!(jwks.fetches(), 2);
    let r = call(&gw, Some(&old)).await;
    assert_eq!(r.status, 401, "retired key no longer accepted");
    assert_eq!(r.json()["reason"], "unknown_kid");
    gw.stop().await;
}

#[tokio::test]
async fn tokens_minted_by_jwcrypto_are_accepted() {
    let Some(python) = python::python().await else {
        return;
    };
    let (ok, out, err) = python::run(&python, &["mint", ISS, AUD], None).await;
    assert!(ok, "mint failed: {err}");
    let minted: Value = serde_json::from_str(&out).unwrap();
    let jwks = JwksServer::start(&minted["jwks"]).await;
    let upstream = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&upstream, &jwks.url(), "60s")).await;
    let tokens = minted["tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), 4, "{tokens:?}");
    for (alg, token) in tokens {
        let token = token.as_str().unwrap();
        let r = call(&gw, Some(token)).await;
        assert_eq!(r.status, 200, "jwcrypto {alg} token refused: {:?}", r.body);
        let seen = upstream.requests().pop().unwrap();
        assert_eq!(
            seen.headers.get("x-user").unwrap(),
            &format!("python-{alg}")
        );
        // The same token with one claim changed must fail.
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("admin");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        );
        let r = call(&gw, Some(&tampered)).await;
        assert_eq!(r.status, 401, "{alg}");
        assert_eq!(r.json()["reason"], "bad_signature", "{alg}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn our_tokens_verify_with_pyjwt_and_jwcrypto() {
    let Some(python) = python::python().await else {
        return;
    };
    let signers = [
        Signer::generate("rs", Algorithm::RS256).unwrap(),
        Signer::generate("ps", Algorithm::PS256).unwrap(),
        Signer::generate("es", Algorithm::ES256).unwrap(),
        Signer::generate("ed", Algorithm::EdDSA).unwrap(),
    ];
    let tokens: serde_json::Map<String, Value> = signers
        .iter()
        .map(|s| {
            (
                format!("{:?}", s.alg()),
                json!(s.sign_with_type("at+jwt", &claims()).unwrap()),
            )
        })
        .collect();
    let input =
        json!({"jwks": jwk_set(&signers), "issuer": ISS, "audience": AUD, "tokens": tokens});
    let (ok, out, err) = python::run(&python, &["verify"], Some(&input.to_string())).await;
    assert!(ok, "Python refused our tokens: {out}\n{err}");
    let results: Value = serde_json::from_str(&out).unwrap();
    for s in &signers {
        let alg = format!("{:?}", s.alg());
        for lib in ["pyjwt", "jwcrypto"] {
            assert_eq!(
                results[&alg][lib]["sub"], "alice",
                "{lib} {alg}: {}",
                results[&alg][lib]
            );
        }
    }
    // And a negative control: a tampered token fails in Python too.
    let mut bad = tokens.clone();
    let t = bad["ES256"].as_str().unwrap().to_owned();
    let flipped: String = {
        let (rest, sig) = t.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[10] ^= 1;
        format!("{rest}.{}", b64(&sig))
    };
    bad["ES256"] = json!(flipped);
    let input = json!({"jwks": jwk_set(&signers), "issuer": ISS, "audience": AUD, "tokens": bad});
    let (ok, out, _) = python::run(&python, &["verify"], Some(&input.to_string())).await;
    assert!(!ok, "tampered token accepted by Python: {out}");
}
