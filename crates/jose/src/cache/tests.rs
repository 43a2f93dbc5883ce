//! The verified-token cache serves only what full verification would accept at that moment.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::{Algorithm, KeySet, Rules, Signer, VerifiedCache, VerifyError, key_set};

const ISS: &str = "https://issuer.example";

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(now: SystemTime, extra: Value) -> Value {
    let mut c = json!({"iss": ISS, "sub": "alice", "iat": secs(now), "exp": secs(now) + 300});
    let Value::Object(extra) = extra else {
        panic!("extra claims are an object")
    };
    for (k, v) in extra {
        c[k] = v;
    }
    c
}

fn rules(leeway: Duration) -> Rules {
    Rules {
        algorithms: vec![Algorithm::ES256, Algorithm::RS256],
        issuer: Some(ISS.into()),
        leeway,
        ..Rules::default()
    }
}

/// Verifies through the cache, counting how often the value had to be derived (= full
/// verifications that succeeded).
fn check(
    rules: &Rules,
    token: &str,
    keys: &KeySet,
    now: SystemTime,
    cache: &VerifiedCache<String>,
    derived: &AtomicUsize,
) -> Result<String, VerifyError> {
    rules
        .verify_cached(token, keys, now, cache, |v| {
            derived.fetch_add(1, Ordering::SeqCst);
            v.subject().unwrap().to_owned()
        })
        .map(|s| (*s).clone())
}

#[test]
fn a_busy_token_is_verified_once_and_other_bytes_always_fully() {
    let signer = Signer::generate("k1", Algorithm::RS256).unwrap();
    let keys = key_set([&signer]);
    let now = SystemTime::now();
    let token = signer.sign(&claims(now, json!({}))).unwrap();
    let (cache, n) = (VerifiedCache::new(100), AtomicUsize::new(0));
    let r = rules(Duration::ZERO);
    for _ in 0..5 {
        assert_eq!(check(&r, &token, &keys, now, &cache, &n).unwrap(), "alice");
    }
    assert_eq!(n.load(Ordering::SeqCst), 1, "one full verification");
    // Any other bytes miss and are refused by full verification; failures are not cached.
    for bad in [
        format!("{token}x"),
        format!("{token}.e30"),
        token[..token.len() - 2].to_owned(),
    ] {
        assert!(check(&r, &bad, &keys, now, &cache, &n).is_err(), "{bad}");
    }
    let mut parts: Vec<&str> = token.split('.').collect();
    let other = Signer::generate("k1", Algorithm::RS256).unwrap();
    let forged = other.sign(&claims(now, json!({}))).unwrap();
    parts[2] = forged.split('.').nth(2).unwrap();
    assert_eq!(
        check(&r, &parts.join("."), &keys, now, &cache, &n),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(cache.len(), 1);
}

#[test]
fn time_claims_are_checked_again_at_every_use_with_the_callers_leeway() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let keys = key_set([&signer]);
    let now = SystemTime::now();
    let (cache, n) = (VerifiedCache::new(100), AtomicUsize::new(0));
    let token = signer
        .sign(&claims(now, json!({"exp": secs(now) + 10})))
        .unwrap();
    let strict = rules(Duration::ZERO);
    assert!(check(&strict, &token, &keys, now, &cache, &n).is_ok());
    let later = now + Duration::from_secs(11);
    assert_eq!(
        check(&strict, &token, &keys, later, &cache, &n),
        Err(VerifyError::Expired)
    );
    assert!(cache.is_empty(), "an expired entry is dropped");

    // nbf 30 s ahead passes with 60 s of leeway, and must not pass a stricter caller on a hit.
    let early = signer
        .sign(&claims(now, json!({"nbf": secs(now) + 30})))
        .unwrap();
    assert!(
        check(
            &rules(Duration::from_secs(60)),
            &early,
            &keys,
            now,
            &cache,
            &n
        )
        .is_ok()
    );
    assert_eq!(
        check(&strict, &early, &keys, now, &cache, &n),
        Err(VerifyError::NotYetValid)
    );
    // max_lifetime is a time check too.
    let long = signer
        .sign(&claims(now, json!({"exp": secs(now) + 3600})))
        .unwrap();
    assert!(check(&strict, &long, &keys, now, &cache, &n).is_ok());
    let capped = Rules {
        max_lifetime: Some(Duration::from_secs(600)),
        ..rules(Duration::ZERO)
    };
    assert_eq!(
        check(&capped, &long, &keys, now, &cache, &n),
        Err(VerifyError::LifetimeTooLong)
    );
}

#[test]
fn a_key_leaving_the_set_or_a_reused_kid_ends_its_entries() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let now = SystemTime::now();
    let token = signer.sign(&claims(now, json!({}))).unwrap();
    let (cache, n) = (VerifiedCache::new(100), AtomicUsize::new(0));
    let r = rules(Duration::ZERO);
    assert!(check(&r, &token, &key_set([&signer]), now, &cache, &n).is_ok());

    let successor = Signer::generate("k2", Algorithm::ES256).unwrap();
    assert_eq!(
        check(&r, &token, &key_set([&successor]), now, &cache, &n),
        Err(VerifyError::UnknownKid)
    );
    assert!(check(&r, &token, &key_set([&signer]), now, &cache, &n).is_ok());
    // The same kid now names another key: the old entry must not vouch for the token.
    let impostor = Signer::generate("k1", Algorithm::ES256).unwrap();
    assert_eq!(
        check(&r, &token, &key_set([&impostor]), now, &cache, &n),
        Err(VerifyError::BadSignature)
    );
    // A rebuilt set with the same key (a JWKS refresh) keeps the entry.
    assert!(check(&r, &token, &key_set([&signer]), now, &cache, &n).is_ok());
    let before = n.load(Ordering::SeqCst);
    assert!(check(&r, &token, &key_set([&signer]), now, &cache, &n).is_ok());
    assert_eq!(
        n.load(Ordering::SeqCst),
        before,
        "hit across equal key sets"
    );
}

#[test]
fn the_cache_is_bounded() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let keys = key_set([&signer]);
    let now = SystemTime::now();
    let (cache, n) = (VerifiedCache::new(16), AtomicUsize::new(0));
    let r = rules(Duration::ZERO);
    for i in 0..200 {
        let t = signer.sign(&claims(now, json!({"jti": i}))).unwrap();
        assert!(check(&r, &t, &keys, now, &cache, &n).is_ok());
    }
    assert!(cache.len() <= 32, "{}", cache.len());
}
