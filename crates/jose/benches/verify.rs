//! Cost of verifying one access token (header checks, key lookup, signature, claims) against a
//! fixed key set, per algorithm. The gateway's `verify-jwt` pays this once per request.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_jose::{Algorithm, KeySet, Rules, Signer, hmac_key, jwk_set};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt_verify");
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::PS256,
        Algorithm::EdDSA,
    ] {
        let signer = Signer::generate("bench-key", alg).expect("key generation");
        // A second key in the set, as during a rotation.
        let other = Signer::generate("other-key", alg).expect("key generation");
        let keys = KeySet::from_jwk_set(&jwk_set([&signer, &other]));
        let claims = serde_json::json!({
            "iss": "https://idp.example.com/", "aud": "api://orders", "sub": "user-8271",
            "client_id": "shop-web", "scope": "orders:read orders:write",
            "iat": 1_700_000_000u64, "exp": 4_000_000_000u64, "jti": "b5a1c7e2-3d4f",
        });
        let token = signer.sign_with_type("at+jwt", &claims).expect("sign");
        let rules = Rules {
            algorithms: vec![alg],
            issuer: Some("https://idp.example.com/".into()),
            audiences: vec!["api://orders".into()],
            token_types: Some(vec!["at+jwt".into()]),
            reject_nonce: true,
            ..Rules::default()
        };
        rules
            .verify(&token, &keys, SystemTime::now())
            .expect("the benchmark token verifies");
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| {
                rules
                    .verify(black_box(&token), &keys, SystemTime::now())
                    .expect("verifies")
            })
        });
    }
    // HS256 with a shared secret: the fixed cost (size, base64, JSON header and claims, checks)
    // with nearly free crypto, to separate parsing from signature maths.
    let secret = b"0123456789abcdef0123456789abcdef";
    let claims = serde_json::json!({
        "iss": "https://idp.example.com/", "aud": "api://orders", "sub": "user-8271",
        "client_id": "shop-web", "scope": "orders:read orders:write",
        "iat": 1_700_000_000u64, "exp": 4_000_000_000u64, "jti": "b5a1c7e2-3d4f",
    });
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("sign");
    let rules = Rules {
        algorithms: vec![Algorithm::HS256],
        issuer: Some("https://idp.example.com/".into()),
        audiences: vec!["api://orders".into()],
        hmac_secret: Some(hmac_key(secret)),
        ..Rules::default()
    };
    let keys = KeySet::empty();
    rules
        .verify(&token, &keys, SystemTime::now())
        .expect("the HS256 token verifies");
    group.bench_function("HS256 (parsing + claims baseline)", |b| {
        b.iter(|| {
            rules
                .verify(black_box(&token), &keys, SystemTime::now())
                .expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
