//! Admin passwords: the policy and argon2id hashing (PHC strings), run off the async runtime.
//!
//! What it protects: a stolen `admin_users` table must not give away passwords, so each is
//! stored as an argon2id hash with a random salt and OWASP's minimum cost (19 MiB, 2 passes,
//! 1 lane), which makes every guess cost tens of milliseconds of CPU and 19 MiB of memory.
//! Hashing runs in `spawn_blocking` so a login never stalls the runtime's worker threads, and
//! at most [`MAX_CONCURRENT_HASHES`] run at once: a flood of logins queues instead of asking for
//! 19 MiB per blocking thread (tokio allows 512 of them).
//! Logins for unknown usernames verify against [`DUMMY_HASH`], so they take as long as real
//! ones and response time does not reveal which users exist.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::StoreError;

/// Minimum password length in characters (NIST SP 800-63B allows 8; admins get more).
pub(crate) const MIN_PASSWORD_CHARS: usize = 12;
/// Maximum password length, so a request cannot make hashing arbitrarily expensive.
pub(crate) const MAX_PASSWORD_CHARS: usize = 1024;
/// Argon2id memory cost in KiB (OWASP password storage cheat sheet minimum).
const M_COST_KIB: u32 = 19 * 1024;
/// Argon2id passes.
const T_COST: u32 = 2;
/// Argon2id lanes.
const P_COST: u32 = 1;

/// Hashes computed at once per process (≤ 8 × 19 MiB of memory).
pub(crate) const MAX_CONCURRENT_HASHES: usize = 8;

/// Admission to hashing, shared by every store in the process.
static HASHING: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);

/// The hash of a random, forgotten password with the same parameters as real hashes: what
/// a login for an unknown username is verified against, at the same cost as a real user.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    +Bes3HLWQncqx8Z9qJgnJg$Y2MngwQRo+QW4E7TZbZN6HUwYKvRcWScGWfJ+O+TECk";

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("constant argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Refuses passwords that are too short, too long, or equal to the username.
pub(crate) fn check_policy(username: &str, password: &str) -> Result<(), StoreError> {
    let count = password.chars().count();
    if count < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "password: must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if count > MAX_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "password: must be at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if password.trim().eq_ignore_ascii_case(username) {
        return Err(StoreError::Invalid(
            "password: must not be the username".into(),
        ));
    }
    Ok(())
}

/// Runs one argon2 computation on the blocking pool, once a hashing slot is free.
async fn run_limited<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let slot = HASHING
        .acquire()
        .await
        .map_err(|_| StoreError::Corrupt("password hashing is shut down".into()))?;
    // The permit travels with the computation: a caller that gives up (a dropped request)
    // must not free the slot while its hash still runs.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(StoreError::unavailable)
}

/// Hashes `password` with a fresh random salt; returns the PHC string to store.
pub(crate) async fn hash(password: &str) -> Result<String, StoreError> {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    run_limited(move || {
        let hash: PasswordHash = hasher()
            .hash_password(&password)
            .map_err(|_| StoreError::Corrupt("argon2 hashing failed".into()))?;
        Ok(hash.to_string())
    })
    .await?
}

/// Verifies `password` against `stored` (a PHC string), or against [`DUMMY_HASH`] when there
/// is no user, which always fails but costs the same. A malformed stored hash fails too.
pub(crate) async fn verify(password: &str, stored: Option<String>) -> Result<bool, StoreError> {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    run_limited(move || {
        let real = stored.is_some();
        let phc = stored.as_deref().unwrap_or(DUMMY_HASH);
        let matches = hasher().verify_password(&password, phc).is_ok();
        if real && !matches && PasswordHash::new(phc).is_err() {
            tracing::warn!("an admin user's stored password hash is malformed");
        }
        real && matches
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_hash_costs() {
        let real = hash("correct horse battery").await.unwrap();
        let (dummy, real) = (
            PasswordHash::new(DUMMY_HASH).unwrap(),
            PasswordHash::new(&real).unwrap(),
        );
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
    }

    #[tokio::test]
    async fn hashes_are_salted_argon2id_phc_strings_that_verify() {
        let a = hash("correct horse battery").await.unwrap();
        let b = hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(
            verify("correct horse battery", Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("correct horse battery!", Some(a)).await.unwrap());
        assert!(!verify("correct horse battery", None).await.unwrap());
        assert!(!verify("x", Some("not a phc string".into())).await.unwrap());
    }

    #[test]
    fn policy_errors_name_the_password_field() {
        assert!(check_policy("alice", "twelve chars").is_ok());
        for bad in ["short", "alice", &"x".repeat(MAX_PASSWORD_CHARS + 1)] {
            let msg = check_policy("alice", bad).unwrap_err().to_string();
            assert!(msg.contains("password:"), "{msg}");
        }
        assert!(check_policy("alice.admin.x", "ALICE.ADMIN.X").is_err());
    }
}
