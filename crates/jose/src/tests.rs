//! Signing and verification: every algorithm round-trips (so a missing crypto backend fails CI),
//! and forged or invalid tokens are refused with the right kind.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;

const ISS: &str = "https://issuer.example";
const AUD: &str = "api://orders";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": now() + 300, "iat": now(),
           "scope": "orders:read orders:write", "client_id": "shop"})
}

fn rules(algorithms: &[Algorithm]) -> Rules {
    Rules {
        algorithms: algorithms.to_vec(),
        issuer: Some(ISS.into()),
        audiences: vec![AUD.into()],
        ..Rules::default()
    }
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// A token with an arbitrary header, claims and signature bytes.
fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// Splits a token into (header JSON, claims JSON, signature part).
fn split(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    let dec = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (dec(parts[0]), dec(parts[1]), parts[2].to_owned())
}

/// Signs `header.claims` (as given) with `signer`'s key: for tokens whose header we alter.
fn sign_raw(signer: &Signer, header: &Value, claims: &Value) -> String {
    let h = b64(header.to_string().as_bytes());
    let c = b64(claims.to_string().as_bytes());
    let message = format!("{h}.{c}");
    let sig = signer.sign_message(message.as_bytes()).unwrap();
    format!("{message}.{sig}")
}

fn verify(r: &Rules, signer: &Signer, token: &str) -> Result<Verified, VerifyError> {
    r.verify(token, &key_set([signer]), SystemTime::now())
}

#[test]
fn every_signing_algorithm_round_trips_through_its_jwk() {
    for &alg in SIGNING_ALGORITHMS {
        let signer = Signer::generate(format!("k-{alg:?}"), alg).unwrap();
        let token = signer.sign(&claims()).unwrap();
        // Through the published JWKS JSON, as a relying party would see it.
        let jwks = serde_json::to_vec(&jwk_set([&signer])).unwrap();
        let keys = KeySet::from_jwks_json(&jwks).unwrap();
        assert_eq!(keys.len(), 1, "{alg:?}");
        let v = rules(&[alg])
            .verify(&token, &keys, SystemTime::now())
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(v.subject(), Some("alice"));
        assert_eq!(v.kid.as_deref(), Some(signer.kid()));
        assert_eq!(v.alg, alg);
        // The private key survives a round trip through storage.
        let again = Signer::from_pkcs8_der("again", alg, signer.pkcs8_der()).unwrap();
        assert_eq!(
            again.public_jwk().algorithm,
            signer.public_jwk().algorithm,
            "{alg:?}"
        );
    }
}

#[test]
fn hmac_verifies_only_with_a_configured_secret() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims(),
        &key,
    )
    .unwrap();
    let mut r = rules(&[Algorithm::HS256]);
    assert_eq!(
        r.verify(&token, &KeySet::empty(), SystemTime::now())
            .unwrap_err(),
        VerifyError::DisallowedAlgorithm,
        "HS256 pinned but no secret configured"
    );
    r.hmac_secret = Some(hmac_key(secret));
    r.verify(&token, &KeySet::empty(), SystemTime::now())
        .unwrap();
    r.hmac_secret = Some(hmac_key(b"another secret another secret ok"));
    assert_eq!(
        r.verify(&token, &KeySet::empty(), SystemTime::now())
            .unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn claims_helpers_read_scopes_subject_and_client() {
    let signer = Signer::generate("k", Algorithm::ES256).unwrap();
    let mut c = claims();
    let v = verify(
        &rules(&[Algorithm::ES256]),
        &signer,
        &signer.sign(&c).unwrap(),
    )
    .unwrap();
    assert_eq!(v.scopes(), ["orders:read", "orders:write"]);
    assert_eq!(v.client_id(), Some("shop"));
    c["scope"] = Value::Null;
    c.as_object_mut().unwrap().remove("scope");
    c.as_object_mut().unwrap().remove("client_id");
    c["scp"] = json!(["a", "b"]);
    c["azp"] = json!("spa");
    let v = verify(
        &rules(&[Algorithm::ES256]),
        &signer,
        &signer.sign(&c).unwrap(),
    )
    .unwrap();
    assert_eq!(v.scopes(), ["a", "b"]);
    assert_eq!(v.client_id(), Some("spa"));
}

#[test]
fn forged_headers_are_refused_before_any_key_is_used() {
    let rsa = Signer::generate("rsa-1", Algorithm::RS256).unwrap();
    let r = rules(&[Algorithm::RS256]);
    let (header, body, sig) = split(&rsa.sign(&claims()).unwrap());
    for none in ["none", "None", "NONE", "nOnE"] {
        let mut h = header.clone();
        h["alg"] = json!(none);
        for signature in [&b""[..], b"x"] {
            let token = forge(&h, &body, signature);
            assert_eq!(
                verify(&r, &rsa, &token).unwrap_err(),
                VerifyError::DisallowedAlgorithm
            );
        }
        // Also with the signature part missing altogether ("header.claims.").
        let token = format!(
            "{}.{}.",
            b64(h.to_string().as_bytes()),
            b64(body.to_string().as_bytes())
        );
        assert_eq!(
            verify(&r, &rsa, &token).unwrap_err(),
            VerifyError::DisallowedAlgorithm
        );
    }
    // Stripped signature with the right alg.
    let stripped = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(body.to_string().as_bytes())
    );
    assert_eq!(
        verify(&r, &rsa, &stripped).unwrap_err(),
        VerifyError::BadSignature
    );
    // RS256 signature presented as PS256 and PS256 presented as RS256: wrong padding scheme.
    let both = rules(&[Algorithm::RS256, Algorithm::PS256]);
    let mut h = header.clone();
    h["alg"] = json!("PS256");
    let swapped = format!(
        "{}.{}.{sig}",
        b64(h.to_string().as_bytes()),
        b64(body.to_string().as_bytes())
    );
    assert_eq!(
        verify(&both, &rsa, &swapped).unwrap_err(),
        VerifyError::KeyMismatch,
        "the JWK says alg RS256, so it cannot verify PS256"
    );
    // HS256 "signed" with the RSA public key (PEM-ish and JWK bytes) as the secret.
    let jwk_bytes = serde_json::to_vec(rsa.public_jwk()).unwrap();
    let pem_bytes = rsa.public_key_pem().into_bytes();
    assert!(pem_bytes.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    for secret in [jwk_bytes, pem_bytes] {
        let key = jsonwebtoken::EncodingKey::from_secret(&secret);
        let mut hdr = jsonwebtoken::Header::new(Algorithm::HS256);
        hdr.kid = Some("rsa-1".into());
        let hs_token = jsonwebtoken::encode(&hdr, &body, &key).unwrap();
        assert_eq!(
            verify(&r, &rsa, &hs_token).unwrap_err(),
            VerifyError::DisallowedAlgorithm
        );
        assert_eq!(
            verify(
                &rules(&[Algorithm::RS256, Algorithm::HS256]),
                &rsa,
                &hs_token
            )
            .unwrap_err(),
            VerifyError::DisallowedAlgorithm,
            "HS256 pinned without a secret is still refused"
        );
    }
    // Unknown critical header, and malformed crit.
    for crit in [json!(["exp"]), json!(["b64"]), json!("nope"), json!([])] {
        let mut h = header.clone();
        h["crit"] = crit;
        let token = forge(&h, &body, b"sig");
        assert_eq!(
            verify(&r, &rsa, &token).unwrap_err(),
            VerifyError::UnsupportedCrit
        );
    }
}

#[test]
fn the_rsa_key_without_alg_still_refuses_a_pss_swap_signature() {
    // A JWKS key without `alg` may verify both RS256 and PS256, but a PKCS#1 v1.5 signature never
    // verifies as PSS (and vice versa).
    let rsa = Signer::generate("rsa-1", Algorithm::RS256).unwrap();
    let mut jwk = rsa.public_jwk().clone();
    jwk.common.key_algorithm = None;
    let keys = KeySet::from_jwk_set(&JwkSet { keys: vec![jwk] });
    let both = rules(&[Algorithm::RS256, Algorithm::PS256]);
    let (header, body, sig) = split(&rsa.sign(&claims()).unwrap());
    let mut h = header;
    h["alg"] = json!("PS256");
    let swapped = format!(
        "{}.{}.{sig}",
        b64(h.to_string().as_bytes()),
        b64(body.to_string().as_bytes())
    );
    assert_eq!(
        both.verify(&swapped, &keys, SystemTime::now()).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn es256_with_an_all_zero_signature_is_refused() {
    let ec = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let (header, body, _) = split(&ec.sign(&claims()).unwrap());
    let token = forge(&header, &body, &[0u8; 64]);
    assert_eq!(
        verify(&rules(&[Algorithm::ES256]), &ec, &token).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn kid_must_name_a_key_of_the_set() {
    let ec = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let r = rules(&[Algorithm::ES256]);
    let (header, body, _) = split(&ec.sign(&claims()).unwrap());
    for kid in [
        "ec-2",
        "../../../../etc/passwd",
        "' OR '1'='1",
        "ec-1\u{0}",
        "",
    ] {
        let mut h = header.clone();
        h["kid"] = json!(kid);
        let token = sign_raw(&ec, &h, &body);
        assert_eq!(
            verify(&r, &ec, &token).unwrap_err(),
            VerifyError::UnknownKid,
            "{kid:?}"
        );
    }
    let mut h = header.clone();
    h["kid"] = json!("x".repeat(MAX_KID_LEN + 1));
    assert!(matches!(
        verify(&r, &ec, &sign_raw(&ec, &h, &body)).unwrap_err(),
        VerifyError::Malformed(_)
    ));
    let mut h = header.clone();
    h["kid"] = json!(7);
    assert!(matches!(
        verify(&r, &ec, &sign_raw(&ec, &h, &body)).unwrap_err(),
        VerifyError::Malformed(_)
    ));
    // No kid: accepted only because the set holds exactly one ES256 key.
    let mut h = header;
    h.as_object_mut().unwrap().remove("kid");
    verify(&r, &ec, &sign_raw(&ec, &h, &body)).unwrap();
}

#[test]
fn embedded_keys_and_key_urls_in_the_header_are_ignored() {
    // The attacker signs with their own key and points at it in every way a header can.
    let ours = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let theirs = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let (mut header, body, _) = split(&theirs.sign(&claims()).unwrap());
    header["jwk"] = serde_json::to_value(theirs.public_jwk()).unwrap();
    header["jku"] = json!("http://127.0.0.1:9/jwks");
    header["x5u"] = json!("http://127.0.0.1:9/cert");
    header["x5c"] = json!(["MIIB"]);
    let token = sign_raw(&theirs, &header, &body);
    assert_eq!(
        verify(&rules(&[Algorithm::ES256]), &ours, &token).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn time_claims_are_checked_with_their_types_and_leeway() {
    let ec = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let r = rules(&[Algorithm::ES256]);
    let t = now();
    let case = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        verify(&r, &ec, &ec.sign(&c).unwrap())
    };
    assert_eq!(
        case(json!({"exp": null})).unwrap_err(),
        VerifyError::MissingClaim("exp".into())
    );
    assert_eq!(
        case(json!({"exp": t - 31})).unwrap_err(),
        VerifyError::Expired
    );
    case(json!({"exp": t - 20})).expect("within the 30 s leeway");
    case(json!({"exp": (t + 100) as f64 + 0.5})).expect("fractional NumericDate");
    // CVE-2026-25537: a wrong JSON type must not count as absent.
    for bad in [json!("9999999999"), json!(true), json!([1]), json!({})] {
        assert_eq!(
            case(json!({"exp": bad.clone()})).unwrap_err(),
            VerifyError::InvalidClaim("exp")
        );
        assert_eq!(
            case(json!({"nbf": bad.clone()})).unwrap_err(),
            VerifyError::InvalidClaim("nbf")
        );
        assert_eq!(
            case(json!({"iat": bad})).unwrap_err(),
            VerifyError::InvalidClaim("iat")
        );
    }
    assert_eq!(
        case(json!({"nbf": t + 3600})).unwrap_err(),
        VerifyError::NotYetValid
    );
    case(json!({"nbf": t + 10})).expect("within leeway");
    assert_eq!(
        case(json!({"iat": t + 3600})).unwrap_err(),
        VerifyError::NotYetValid
    );
    let mut capped = r.clone();
    capped.max_lifetime = Some(Duration::from_secs(3600));
    let mut c = claims();
    c["exp"] = json!(t + 10 * 365 * 86400);
    assert_eq!(
        verify(&capped, &ec, &ec.sign(&c).unwrap()).unwrap_err(),
        VerifyError::LifetimeTooLong
    );
    verify(&r, &ec, &ec.sign(&c).unwrap()).expect("no cap configured");
    let mut strict = r.clone();
    strict.leeway = Duration::ZERO;
    c["exp"] = json!(t - 1);
    assert_eq!(
        verify(&strict, &ec, &ec.sign(&c).unwrap()).unwrap_err(),
        VerifyError::Expired
    );
}

#[test]
fn issuer_audience_type_and_id_tokens() {
    let ec = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let mut r = rules(&[Algorithm::ES256]);
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        ec.sign(&c).unwrap()
    };
    assert_eq!(
        verify(&r, &ec, &with(json!({"iss": "https://evil"}))).unwrap_err(),
        VerifyError::WrongIssuer
    );
    assert_eq!(
        verify(&r, &ec, &with(json!({"iss": 1}))).unwrap_err(),
        VerifyError::InvalidClaim("iss")
    );
    assert_eq!(
        verify(&r, &ec, &with(json!({"aud": "api://other"}))).unwrap_err(),
        VerifyError::WrongAudience
    );
    verify(&r, &ec, &with(json!({"aud": ["api://other", AUD]}))).unwrap();
    assert_eq!(
        verify(&r, &ec, &with(json!({"aud": [AUD, 3]}))).unwrap_err(),
        VerifyError::InvalidClaim("aud")
    );
    assert_eq!(
        verify(&r, &ec, &with(json!({"sub": 42}))).unwrap_err(),
        VerifyError::InvalidClaim("sub")
    );

    // An ID token: nonce claim, typ JWT.
    let id_token = with(json!({"nonce": "n-0S6_WzA2Mj"}));
    verify(&r, &ec, &id_token).expect("no id-token rule configured yet");
    r.reject_nonce = true;
    assert_eq!(
        verify(&r, &ec, &id_token).unwrap_err(),
        VerifyError::IdToken
    );
    r.token_types = Some(vec!["at+jwt".into()]);
    let plain = ec.sign(&claims()).unwrap();
    assert_eq!(
        verify(&r, &ec, &plain).unwrap_err(),
        VerifyError::WrongType,
        "typ JWT"
    );
    verify(&r, &ec, &ec.sign_with_type("at+jwt", &claims()).unwrap()).unwrap();
    verify(
        &r,
        &ec,
        &ec.sign_with_type("application/AT+JWT", &claims()).unwrap(),
    )
    .unwrap();

    r.required_claims = vec!["tenant".into()];
    assert_eq!(
        verify(&r, &ec, &ec.sign_with_type("at+jwt", &claims()).unwrap()).unwrap_err(),
        VerifyError::MissingClaim("tenant".into())
    );
}

#[test]
fn size_and_structure() {
    let ec = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let r = rules(&[Algorithm::ES256]);
    let mut c = claims();
    c["pad"] = json!("x".repeat(DEFAULT_MAX_TOKEN_SIZE));
    assert_eq!(
        verify(&r, &ec, &ec.sign(&c).unwrap()).unwrap_err(),
        VerifyError::TooLarge
    );
    let good = ec.sign(&claims()).unwrap();
    for bad in [
        "",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        &format!("{good}="),
        &format!("{good}.x"),
        &good.replacen('.', ".\u{e9}", 1),
        &format!("{}.e30.x", b64(b"[1]")),
        &format!("{}.W10.x", b64(br#"{"alg":"ES256"}"#)),
    ] {
        assert!(
            matches!(
                verify(&r, &ec, bad).unwrap_err(),
                VerifyError::Malformed(_) | VerifyError::BadSignature
            ),
            "{bad:?}"
        );
    }
    // A nested JWT (cty: JWT) is not supported.
    let (mut h, body, _) = split(&good);
    h["cty"] = json!("JWT");
    assert!(matches!(
        verify(&r, &ec, &sign_raw(&ec, &h, &body)).unwrap_err(),
        VerifyError::Malformed(_)
    ));
}

#[test]
fn jwks_parsing_drops_unusable_keys() {
    let ec = Signer::generate("ec-1", Algorithm::ES256).unwrap();
    let rsa = Signer::generate("rsa-1", Algorithm::RS256).unwrap();
    let mut doc = serde_json::to_value(jwk_set([&ec, &rsa])).unwrap();
    let keys = doc["keys"].as_array_mut().unwrap();
    keys.push(json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
    keys.push(json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}));
    keys.push(
        json!({"kty": "EC", "kid": "bad-alg", "alg": "RS256", "crv": "P-256",
                     "x": "AA", "y": "AA"}),
    );
    keys.push(json!({"kty": "weird", "kid": "w"}));
    keys.push(json!("not an object"));
    let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.skipped(), 5);
    assert!(!set.contains_kid("hmac"));
    assert!(KeySet::from_jwks_json(b"{\"nokeys\":1}").is_err());
    assert!(KeySet::from_jwks_json(b"[]").is_err());
}

#[test]
fn signer_loads_pem_and_refuses_wrong_algorithm_keys() {
    let der = generate_pkcs8(Algorithm::ES256).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&*der)
    );
    let signer = Signer::from_pem("pem", Algorithm::ES256, pem.as_bytes()).unwrap();
    verify(
        &rules(&[Algorithm::ES256]),
        &signer,
        &signer.sign(&claims()).unwrap(),
    )
    .unwrap();
    assert!(Signer::from_pkcs8_der("x", Algorithm::RS256, &der).is_err());
    assert!(Signer::from_pkcs8_der("x", Algorithm::EdDSA, &der).is_err());
    assert!(Signer::generate("x", Algorithm::HS256).is_err());
    assert!(format!("{signer:?}").contains("pem") && !format!("{signer:?}").contains("BEGIN"));
}

#[test]
fn max_age_parsing() {
    assert_eq!(
        parse_max_age("public, max-age=600"),
        Some(Duration::from_secs(600))
    );
    assert_eq!(
        parse_max_age("max-age=\"60\""),
        Some(Duration::from_secs(60))
    );
    assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
    assert_eq!(parse_max_age("max-age=600, no-cache"), Some(Duration::ZERO));
    assert_eq!(parse_max_age("public"), None);
    assert_eq!(parse_max_age("max-age=-1"), None);
}
