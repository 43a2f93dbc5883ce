//! Every DPoP proof rule, with proofs signed by real keys of each allowed algorithm.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;
use crate::sign::Signer;
use crate::verify::alg_name_of;

const URI: &str = "https://api.example.com/orders/1";

fn now() -> SystemTime {
    SystemTime::now()
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn jwk_of(signer: &Signer) -> Value {
    serde_json::to_value(signer.public_jwk()).unwrap()
}

fn header(signer: &Signer) -> Value {
    json!({"typ": "dpop+jwt", "alg": alg_name_of(signer.alg()), "jwk": jwk_of(signer)})
}

fn claims(jti: &str) -> Value {
    json!({"jti": jti, "htm": "GET", "htu": URI, "iat": secs(now())})
}

/// Signs `header.claims` exactly as given with `signer`.
fn sign(signer: &Signer, header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = signer.sign_message(message.as_bytes()).unwrap();
    format!("{message}.{sig}")
}

fn verifier() -> DpopVerifier {
    DpopVerifier::new(DEFAULT_DPOP_MAX_AGE, Arc::new(ReplayCache::new(1000)))
}

fn get() -> ProofRequest<'static> {
    ProofRequest {
        method: "GET",
        uri: URI,
        access_token: None,
    }
}

fn es256() -> Signer {
    Signer::generate("k", Algorithm::ES256).unwrap()
}

#[test]
fn valid_proofs_of_every_allowed_algorithm_give_the_rfc7638_thumbprint() {
    let v = verifier();
    for &alg in DPOP_ALGORITHMS {
        let signer = Signer::generate("k", alg).unwrap();
        let proof = sign(&signer, &header(&signer), &claims(&format!("j-{alg:?}")));
        let got = v.verify(&proof, &get(), now()).unwrap();
        let expected = signer
            .public_jwk()
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(got.jkt, expected, "{alg:?}");
        assert_eq!(got.jti, format!("j-{alg:?}"));
    }
}

#[test]
fn thumbprint_matches_the_rfc7638_example() {
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn typ_must_be_dpop_jwt() {
    let signer = es256();
    for typ in [json!("JWT"), json!("at+jwt"), Value::Null] {
        let mut h = header(&signer);
        if typ.is_null() {
            h.as_object_mut().unwrap().remove("typ");
        } else {
            h["typ"] = typ;
        }
        let proof = sign(&signer, &h, &claims("j"));
        assert_eq!(
            verifier().verify(&proof, &get(), now()),
            Err(DpopError::WrongType)
        );
    }
}

#[test]
fn none_and_hmac_algorithms_are_refused() {
    let signer = es256();
    let c = claims("j");
    for alg in ["none", "None", "HS256", "ES384", "RS512"] {
        let mut h = header(&signer);
        h["alg"] = json!(alg);
        if alg == "HS256" {
            h["jwk"] = json!({"kty": "oct", "k": b64(b"secret")});
        }
        let unsigned = format!(
            "{}.{}.",
            b64(h.to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        );
        assert_eq!(
            verifier().verify(&unsigned, &get(), now()),
            Err(DpopError::DisallowedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn a_jwk_with_private_members_is_refused() {
    let signer = es256();
    let mut h = header(&signer);
    h["jwk"]["d"] = json!(b64(&[7u8; 32]));
    let proof = sign(&signer, &h, &claims("j"));
    assert_eq!(
        verifier().verify(&proof, &get(), now()),
        Err(DpopError::PrivateKey)
    );
}

#[test]
fn missing_symmetric_or_misfitting_keys_are_refused() {
    let signer = es256();
    let mut h = header(&signer);
    h.as_object_mut().unwrap().remove("jwk");
    let proof = sign(&signer, &h, &claims("j"));
    assert!(matches!(
        verifier().verify(&proof, &get(), now()),
        Err(DpopError::BadKey(_))
    ));
    // An RSA key under alg ES256.
    let rsa = Signer::generate("r", Algorithm::RS256).unwrap();
    let mut h = header(&signer);
    h["jwk"] = jwk_of(&rsa);
    let proof = sign(&signer, &h, &claims("j"));
    assert!(matches!(
        verifier().verify(&proof, &get(), now()),
        Err(DpopError::BadKey(_))
    ));
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let signer = es256();
    let other = es256();
    // Header names `signer`'s key, `other` signs.
    let proof = sign(&other, &header(&signer), &claims("j"));
    assert_eq!(
        verifier().verify(&proof, &get(), now()),
        Err(DpopError::BadSignature)
    );
    // A valid proof whose claims were altered after signing.
    let good = sign(&signer, &header(&signer), &claims("j"));
    let parts: Vec<&str> = good.split('.').collect();
    let mut c = claims("j");
    c["htm"] = json!("POST");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    let post = ProofRequest {
        method: "POST",
        ..get()
    };
    assert_eq!(
        verifier().verify(&tampered, &post, now()),
        Err(DpopError::BadSignature)
    );
}

#[test]
fn htm_must_be_the_request_method() {
    let signer = es256();
    let proof = sign(&signer, &header(&signer), &claims("j"));
    for method in ["POST", "get"] {
        let req = ProofRequest { method, ..get() };
        assert_eq!(
            verifier().verify(&proof, &req, now()),
            Err(DpopError::WrongMethod),
            "{method}"
        );
    }
}

#[test]
fn htu_is_compared_after_normalisation_without_query_and_fragment() {
    let signer = es256();
    let v = verifier();
    for (i, htu) in [
        "https://api.example.com/orders/1",
        "HTTPS://API.Example.COM:443/orders/1",
        "https://api.example.com/orders/1?page=2#frag",
        "https://api.example.com/orders/x/../1",
    ]
    .iter()
    .enumerate()
    {
        let mut c = claims(&format!("ok-{i}"));
        c["htu"] = json!(htu);
        let proof = sign(&signer, &header(&signer), &c);
        let req = ProofRequest {
            uri: "https://api.example.com/orders/1?other=1",
            ..get()
        };
        assert!(v.verify(&proof, &req, now()).is_ok(), "{htu}");
    }
    for (i, htu) in [
        "https://api.example.com/orders/2",
        "https://api.example.com/orders/1/",
        "http://api.example.com/orders/1",
        "https://api.example.com:8443/orders/1",
        "https://evil.example.com/orders/1",
        "https://api.example.com/Orders/1",
    ]
    .iter()
    .enumerate()
    {
        let mut c = claims(&format!("bad-{i}"));
        c["htu"] = json!(htu);
        let proof = sign(&signer, &header(&signer), &c);
        assert_eq!(
            v.verify(&proof, &get(), now()),
            Err(DpopError::WrongUri),
            "{htu}"
        );
    }
    for (i, htu) in [
        json!("/orders/1"),
        json!("ftp://api.example.com/x"),
        json!(7),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = claims(&format!("inv-{i}"));
        c["htu"] = htu.clone();
        let proof = sign(&signer, &header(&signer), &c);
        assert_eq!(
            v.verify(&proof, &get(), now()),
            Err(DpopError::InvalidClaim("htu")),
            "{htu}"
        );
    }
}

#[test]
fn iat_must_lie_within_the_window() {
    let signer = es256();
    let v = verifier();
    let at = |offset: i64, jti: &str| {
        let mut c = claims(jti);
        c["iat"] = json!(secs(now()).cast_signed() + offset);
        sign(&signer, &header(&signer), &c)
    };
    assert_eq!(
        v.verify(&at(-61, "a"), &get(), now()),
        Err(DpopError::Stale)
    );
    assert_eq!(
        v.verify(&at(61, "b"), &get(), now()),
        Err(DpopError::Future)
    );
    assert!(v.verify(&at(-50, "c"), &get(), now()).is_ok());
    assert!(v.verify(&at(50, "d"), &get(), now()).is_ok());
    // A shorter configured window.
    let strict = DpopVerifier::new(Duration::from_secs(10), Arc::new(ReplayCache::new(10)));
    assert_eq!(
        strict.verify(&at(-30, "e"), &get(), now()),
        Err(DpopError::Stale)
    );
    let mut c = claims("f");
    c["iat"] = json!("now");
    let proof = sign(&signer, &header(&signer), &c);
    assert_eq!(
        v.verify(&proof, &get(), now()),
        Err(DpopError::InvalidClaim("iat"))
    );
}

#[test]
fn required_claims_must_be_present() {
    let signer = es256();
    for (name, expected) in [
        ("jti", DpopError::InvalidClaim("jti")),
        ("htm", DpopError::InvalidClaim("htm")),
        ("htu", DpopError::InvalidClaim("htu")),
        ("iat", DpopError::InvalidClaim("iat")),
    ] {
        let mut c = claims("j");
        c.as_object_mut().unwrap().remove(name);
        let proof = sign(&signer, &header(&signer), &c);
        assert_eq!(verifier().verify(&proof, &get(), now()), Err(expected));
    }
}

#[test]
fn a_replayed_jti_is_refused_within_the_window_and_forgotten_after() {
    let signer = es256();
    let v = verifier();
    let proof = sign(&signer, &header(&signer), &claims("once"));
    let t = now();
    assert!(v.verify(&proof, &get(), t).is_ok());
    assert_eq!(v.verify(&proof, &get(), t), Err(DpopError::Replayed));
    // Another verifier sharing the cache (another policy on the same node) sees it too.
    let sibling = DpopVerifier::new(DEFAULT_DPOP_MAX_AGE, v.replay.clone());
    assert_eq!(sibling.verify(&proof, &get(), t), Err(DpopError::Replayed));
    // The same jti from another key is another proof.
    let other = es256();
    let theirs = sign(&other, &header(&other), &claims("once"));
    assert!(v.verify(&theirs, &get(), t).is_ok());
    // Past the window the proof is stale anyway, and its entry is purged.
    let later = t + Duration::from_secs(62);
    assert_eq!(v.verify(&proof, &get(), later), Err(DpopError::Stale));
    let mut fresh = claims("fresh");
    fresh["iat"] = json!(secs(later));
    let fresh = sign(&signer, &header(&signer), &fresh);
    assert!(v.verify(&fresh, &get(), later).is_ok());
}

#[test]
fn a_full_replay_cache_refuses_instead_of_forgetting() {
    let signer = es256();
    let v = DpopVerifier::new(DEFAULT_DPOP_MAX_AGE, Arc::new(ReplayCache::new(16)));
    let mut refused = 0;
    for i in 0..64 {
        let proof = sign(&signer, &header(&signer), &claims(&format!("j{i}")));
        match v.verify(&proof, &get(), now()) {
            Ok(_) => {}
            Err(DpopError::ReplayCacheFull) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused > 0);
    assert!(v.replay.len() <= 16);
    // Once the window has passed, entries are purged and proofs are accepted again.
    let later = now() + Duration::from_secs(200);
    let mut accepted = 0;
    for i in 0..64 {
        let mut c = claims(&format!("later{i}"));
        c["iat"] = json!(secs(later));
        let proof = sign(&signer, &header(&signer), &c);
        accepted += usize::from(v.verify(&proof, &get(), later).is_ok());
    }
    assert!(accepted > 0);
}

#[test]
fn ath_is_required_with_an_access_token_and_must_hash_it() {
    let signer = es256();
    let v = verifier();
    let token = "pco_abc";
    let req = ProofRequest {
        access_token: Some(token),
        ..get()
    };
    let with = |ath: Option<&str>, jti: &str| {
        let mut c = claims(jti);
        if let Some(a) = ath {
            c["ath"] = json!(a);
        }
        sign(&signer, &header(&signer), &c)
    };
    assert_eq!(
        v.verify(&with(None, "a"), &req, now()),
        Err(DpopError::WrongAth)
    );
    let wrong = access_token_hash("pco_other");
    assert_eq!(
        v.verify(&with(Some(&wrong), "b"), &req, now()),
        Err(DpopError::WrongAth)
    );
    let right = access_token_hash(token);
    assert!(v.verify(&with(Some(&right), "c"), &req, now()).is_ok());
    // RFC 9449 §7.1 example: ath of "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn oversized_and_malformed_proofs_are_refused_before_decoding() {
    let signer = es256();
    let mut c = claims("j");
    c["pad"] = json!("x".repeat(MAX_PROOF_SIZE));
    let proof = sign(&signer, &header(&signer), &c);
    assert_eq!(
        verifier().verify(&proof, &get(), now()),
        Err(DpopError::TooLarge)
    );
    for junk in ["", "a.b", "a.b.c.d", "!!.@@.##"] {
        assert!(matches!(
            verifier().verify(junk, &get(), now()),
            Err(DpopError::Malformed(_))
        ));
    }
}
