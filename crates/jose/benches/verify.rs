//! Cost of verifying one access token (header checks, key lookup, signature, claims) against a
//! fixed key set, per algorithm. The gateway's `verify-jwt` pays this once per request.
//! Measured as per-thread CPU time (wall time is noise on the shared 2-core machine).

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use cpu_time::ThreadTime;
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use portcullis_jose::{Algorithm, KeySet, Rules, Signer, VerifiedCache, hmac_key, jwk_set};

/// Runs `f` `iters` times and reports this thread's CPU time (wall time if unavailable).
fn cpu<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let (cpu, wall) = (ThreadTime::try_now(), Instant::now());
        for _ in 0..iters {
            black_box(f());
        }
        cpu.and_then(|t| t.try_elapsed())
            .unwrap_or_else(|_| wall.elapsed())
    });
}

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
            cpu(b, || {
                rules
                    .verify(black_box(&token), &keys, SystemTime::now())
                    .expect("verifies")
            })
        });
        // The same token again through a cache of verified tokens (what the gateway pays for a
        // busy token): SHA-256 of the token, lookup, key check, time claims.
        let cache = VerifiedCache::new(1000);
        group.bench_function(format!("{alg:?} cached (hit)"), |b| {
            cpu(b, || {
                rules
                    .verify_cached(black_box(&token), &keys, SystemTime::now(), &cache, |_| ())
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
        cpu(b, || {
            rules
                .verify(black_box(&token), &keys, SystemTime::now())
                .expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
