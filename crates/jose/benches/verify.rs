//! Cost of verifying one access token (header checks, key lookup, signature, claims) against a
//! fixed key set, per algorithm. The gateway's `verify-jwt` pays this once per request.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_jose::{Algorithm, KeySet, Rules, Signer, jwk_set};

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
            "iat": 1_900_000_000u64, "exp": 4_000_000_000u64, "jti": "b5a1c7e2-3d4f",
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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
