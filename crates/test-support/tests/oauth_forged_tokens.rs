//! `verify-oauth-token` against forged and misused access tokens: the built-in authorization
//! server and the gateway in one process, once with RS256 and once with ES256 signing keys.
//! Every entry of the matrix must be a 401 problem+json with `WWW-Authenticate: Bearer …
//! error="invalid_token"` that never reaches the upstream, and no URL named in a token header
//! (`jku`, `x5u`) may be contacted. Positive controls (the real token, and its claims re-signed
//! with the server's own key) pass first, so each refusal is caused by the one forged detail.

#[path = "interop/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_jose::{Algorithm, Signer};
use portcullis_store::{OAuthRepository, SigningKeyState};
use portcullis_test_support::forge::{
    b64, claims_of, header_of, hs256, patched, signed, swap_alg, unsigned,
};
use portcullis_test_support::oauth::{
    OAuthClient, client_credentials, oauth_product, provision_client, revoke,
};
use portcullis_test_support::{Recorder, TestGateway, get};
use serde_json::{Value, json};
use servers::Trap;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config(alg: &str, upstream: &Recorder, backend: &Recorder) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
authorization_server:
  address: "127.0.0.1:0"
  issuer: "http://127.0.0.1:1"
  access_token: {{ lifetime: 10m }}
  signing: {{ algorithm: {alg} }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{up}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{ realm: orders }} }} ]
  - name: phantom
    base_path: /phantom
    upstream: {{ targets: ["{backend}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{}} }}, {{ phantom-token: {{}} }} ]
"#,
        up = upstream.url(),
        backend = backend.url(),
    )
}

async fn call(gw: &TestGateway, path: &str, token: &str) -> portcullis_test_support::Reply {
    let auth = format!("Bearer {token}");
    get(&gw.url(path), &[("authorization", &auth)]).await
}

/// The server's active signing key, read back from the store (the test plays an insider who
/// holds it, to build tokens that differ from a real one in exactly one claim or header).
async fn active_key(gw: &TestGateway) -> Signer {
    let store = gw.store().await;
    let record = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.state == SigningKeyState::Active)
        .expect("an active key");
    let alg: Algorithm = record.alg.parse().unwrap();
    Signer::from_pkcs8_der(record.kid.clone(), alg, &record.private_pkcs8).unwrap()
}

struct Setup {
    gw: TestGateway,
    upstream: std::sync::Arc<Recorder>,
    backend: std::sync::Arc<Recorder>,
    client: OAuthClient,
    key: Signer,
    jwt: String,
    opaque: String,
}

async fn setup(alg: &str) -> Setup {
    let upstream = Recorder::start("orders").await;
    let backend = Recorder::start("backend").await;
    let gw = TestGateway::start(&config(alg, &upstream, &backend)).await;
    let client = provision_client(
        &gw,
        &[
            ("orders", oauth_product(&["orders.read"], Some("jwt"))),
            ("legacy", oauth_product(&["legacy.read"], Some("opaque"))),
        ],
    )
    .await;
    let jwt = client_credentials(&gw, &client, "orders.read").await;
    let opaque = client_credentials(&gw, &client, "legacy.read").await;
    assert!(opaque.starts_with("pco_"), "{opaque}");
    let key = active_key(&gw).await;
    assert_eq!(format!("{:?}", key.alg()), alg);
    Setup {
        gw,
        upstream,
        backend,
        client,
        key,
        jwt,
        opaque,
    }
}

/// Builds the matrix: (name, token).
fn jwt_cases(s: &Setup, trap: &Trap, phantom: &str) -> Vec<(String, String)> {
    let key = &s.key;
    let kid = key.kid();
    let real = claims_of(&s.jwt);
    let with = |patch: Value| patched(&real, patch);
    let ours = header_of(key, "at+jwt");
    let attacker = Signer::generate(kid, key.alg()).unwrap();
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut case = |name: &str, token: String| cases.push((name.to_owned(), token));

    for none in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": none, "kid": kid, "typ": "at+jwt"});
        case(&format!("alg {none}"), unsigned(&h, &real, b""));
        case(
            &format!("alg {none} + junk sig"),
            unsigned(&h, &real, b"sig"),
        );
    }
    let (head, body, sig) = {
        let mut p = s.jwt.split('.');
        (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
    };
    case("stripped signature", format!("{head}.{body}."));
    case("no signature part", format!("{head}.{body}"));
    // HS256 keyed with our public key, as PEM and as JWK JSON (algorithm confusion).
    let jwk_json = serde_json::to_vec(key.public_jwk()).unwrap();
    for (what, secret) in [
        ("PEM", key.public_key_pem().into_bytes()),
        ("JWK", jwk_json),
    ] {
        case(
            &format!("HS256 keyed with our public key ({what})"),
            hs256(kid, "at+jwt", &real, &secret),
        );
    }
    match key.alg() {
        Algorithm::RS256 => {
            // A valid RS256 signature presented as PS256, and a genuine PSS signature by our
            // own RSA key: the key is pinned to RS256.
            case("RS256 presented as PS256", swap_alg(&s.jwt, "PS256"));
            let pss = Signer::from_pkcs8_der(kid, Algorithm::PS256, key.pkcs8_der()).unwrap();
            case(
                "PS256 signed with our RS256 key",
                signed(&pss, &header_of(&pss, "at+jwt"), &real),
            );
            case(
                "ES256 all-zero signature, RSA kid",
                unsigned(
                    &json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"}),
                    &real,
                    &[0; 64],
                ),
            );
        }
        _ => {
            case("ES256 presented as ES384", swap_alg(&s.jwt, "ES384"));
            case("ES256 presented as RS256", swap_alg(&s.jwt, "RS256"));
        }
    }
    case(
        "ES256 all-zero signature",
        unsigned(
            &json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"}),
            &real,
            &[0; 64],
        ),
    );
    case(
        "signature of an attacker key with our kid",
        signed(&attacker, &ours, &real),
    );
    for bad_kid in [
        "nope".to_owned(),
        String::new(),
        "../../../../etc/passwd".to_owned(),
        "/dev/null".to_owned(),
        "..%2f..%2fkeys".to_owned(),
        "' OR '1'='1' --".to_owned(),
        "x'; DROP TABLE oauth_signing_keys;--".to_owned(),
        "k".repeat(4096),
    ] {
        let mut h = ours.clone();
        h["kid"] = json!(bad_kid);
        let label: String = bad_kid.chars().take(40).collect();
        case(&format!("kid {label:?}"), signed(key, &h, &real));
    }
    // Key-location headers pointing at the trap, with the attacker's key.
    let mut h = ours.clone();
    h["jku"] = json!(trap.url("/jwks.json"));
    case("jku to attacker", signed(&attacker, &h, &real));
    let mut h = ours.clone();
    h["x5u"] = json!(trap.url("/cert.pem"));
    case("x5u to attacker", signed(&attacker, &h, &real));
    let mut h = ours.clone();
    h["jwk"] = serde_json::to_value(attacker.public_jwk()).unwrap();
    case("embedded jwk of attacker", signed(&attacker, &h, &real));
    let mut h = json!({"alg": format!("{:?}", key.alg()), "kid": "attacker-kid", "typ": "at+jwt"});
    h["jku"] = json!(trap.url("/jwks.json"));
    h["x5u"] = json!(trap.url("/x5u"));
    h["jwk"] = serde_json::to_value(attacker.public_jwk()).unwrap();
    case(
        "unknown kid + jku + x5u + jwk",
        signed(&attacker, &h, &real),
    );
    // Signed by our real key, but wrong in one detail.
    let mut h = ours.clone();
    h["crit"] = json!(["urn:example:unknown"]);
    h["urn:example:unknown"] = json!(true);
    case("unknown crit", signed(key, &h, &real));
    case(
        "missing exp",
        signed(key, &ours, &with(json!({"exp": null}))),
    );
    case(
        "expired",
        signed(key, &ours, &with(json!({"exp": now() - 3600}))),
    );
    case(
        "exp as string",
        signed(key, &ours, &with(json!({"exp": (now() + 300).to_string()}))),
    );
    case(
        "future nbf",
        signed(key, &ours, &with(json!({"nbf": now() + 3600}))),
    );
    case(
        "future iat",
        signed(key, &ours, &with(json!({"iat": now() + 3600}))),
    );
    case(
        "wrong iss",
        signed(key, &ours, &with(json!({"iss": "https://evil.example"}))),
    );
    case(
        "iss with trailing slash",
        signed(key, &ours, &with(json!({"iss": "http://127.0.0.1:1/"}))),
    );
    case(
        "missing iss",
        signed(key, &ours, &with(json!({"iss": null}))),
    );
    case(
        "missing jti",
        signed(key, &ours, &with(json!({"jti": null}))),
    );
    case(
        "missing client_id",
        signed(key, &ours, &with(json!({"client_id": null}))),
    );
    for typ in ["JWT", "jwt", "at+JWT+x", "application/jwt"] {
        let mut h = ours.clone();
        h["typ"] = json!(typ);
        case(&format!("typ {typ}"), signed(key, &h, &real));
    }
    let mut h = ours.clone();
    h.as_object_mut().unwrap().remove("typ");
    case("no typ", signed(key, &h, &real));
    // An ID token as the server mints them (typ JWT, aud and azp = the client, nonce), and the
    // same claims under an access-token typ.
    let id_claims = json!({
        "iss": real["iss"], "sub": "pairwise-subject", "aud": s.client.id, "azp": s.client.id,
        "iat": now(), "exp": now() + 300, "auth_time": now(), "nonce": "n-0S6_WzA2Mj",
    });
    case(
        "id_token (typ JWT)",
        signed(key, &header_of(key, "JWT"), &id_claims),
    );
    case(
        "id_token claims under typ at+jwt",
        signed(
            key,
            &ours,
            &patched(&id_claims, json!({"jti": "x", "client_id": s.client.id})),
        ),
    );
    case(
        "access token claims plus a nonce",
        signed(key, &ours, &with(json!({"nonce": "abc"}))),
    );
    case("phantom-token JWT (typ JWT)", phantom.to_owned());
    // The real token, altered.
    let tampered = b64(with(json!({"scope": "orders.read admin"}))
        .to_string()
        .as_bytes());
    case("payload changed", format!("{head}.{tampered}.{sig}"));
    case("trailing garbage", format!("{}x", s.jwt));
    case("trailing dot part", format!("{}.e30", s.jwt));
    case("trailing space junk", format!("{} junk", s.jwt));
    case("padding added", format!("{}==", s.jwt));
    case(
        "oversized, signed",
        signed(key, &ours, &with(json!({"pad": "x".repeat(9 * 1024)}))),
    );
    case(
        "oversized junk",
        format!(
            "{}.{}.{}",
            "a".repeat(20_000),
            "b".repeat(20_000),
            "c".repeat(20_000)
        ),
    );
    cases
}

fn opaque_cases(opaque: &str) -> Vec<(String, String)> {
    let body = opaque.strip_prefix("pco_").unwrap();
    vec![
        ("opaque unknown".into(), format!("pco_{}", "A".repeat(43))),
        ("opaque wrong prefix (pcr_)".into(), format!("pcr_{body}")),
        ("opaque wrong prefix (PCO_)".into(), format!("PCO_{body}")),
        ("opaque without prefix".into(), body.to_owned()),
        ("opaque + trailing garbage".into(), format!("{opaque}x")),
        (
            "opaque truncated".into(),
            opaque[..opaque.len() - 1].to_owned(),
        ),
        (
            "opaque huge".into(),
            format!("pco_{}", "A".repeat(9 * 1024)),
        ),
        (
            "opaque very huge".into(),
            format!("pco_{}", "A".repeat(60_000)),
        ),
    ]
}

async fn matrix(alg: &str) {
    let s = setup(alg).await;
    let trap = Trap::start().await;
    // Positive controls: the real tokens, and the JWT's claims re-signed with our key.
    assert_eq!(call(&s.gw, "/orders/1", &s.jwt).await.status, 200);
    let resigned = signed(&s.key, &header_of(&s.key, "at+jwt"), &claims_of(&s.jwt));
    assert_eq!(call(&s.gw, "/orders/1", &resigned).await.status, 200);
    assert_eq!(call(&s.gw, "/orders/1", &s.opaque).await.status, 200);
    let r = call(&s.gw, "/phantom/1", &s.opaque).await;
    assert_eq!(r.status, 200);
    let forwarded = s.backend.requests().pop().unwrap();
    let phantom = forwarded.headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    assert_eq!(
        claims_of(&phantom)["client_id"],
        claims_of(&s.jwt)["client_id"]
    );
    // Then revoked: the opaque token joins the matrix.
    revoke(&s.gw, &s.client, &s.opaque).await;
    let served = s.upstream.count();

    let mut cases = jwt_cases(&s, &trap, &phantom);
    cases.extend(opaque_cases(&s.opaque));
    cases.push(("opaque revoked".into(), s.opaque.clone()));
    assert!(cases.len() >= 60, "{}", cases.len());
    for (name, token) in &cases {
        let r = call(&s.gw, "/orders/1", token).await;
        assert_eq!(r.status, 401, "{alg} {name}: {:?}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{alg} {name}"
        );
        let body = r.json();
        let code = body["code"].as_str().unwrap_or_default();
        assert!(
            code == "token.invalid" || (code == "token.expired" && name == "expired"),
            "{alg} {name}: {body}"
        );
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with(r#"Bearer realm="orders", error="invalid_token""#),
            "{alg} {name}: {challenge}"
        );
    }
    assert_eq!(
        s.upstream.count(),
        served,
        "{alg}: no forged token reached the upstream"
    );
    assert_eq!(
        trap.connections(),
        0,
        "{alg}: jku/x5u/jwk are never fetched"
    );
    // The real JWT still works after all that (nothing was poisoned).
    assert_eq!(call(&s.gw, "/orders/1", &s.jwt).await.status, 200);
    s.gw.stop().await;
}

#[tokio::test]
async fn forged_rs256_access_tokens_are_refused() {
    matrix("RS256").await;
}

#[tokio::test]
async fn forged_es256_access_tokens_are_refused() {
    matrix("ES256").await;
}
