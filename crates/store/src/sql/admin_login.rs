//! Admin login: password (+ TOTP code when enrolled) → session token, with brute-force
//! throttling.
//!
//! What it protects against:
//! - **Online guessing.** Failures are counted per attempted username (existing or not) and,
//!   from the [`FREE_FAILURES`]th in a row, lock the name out for [`BASE_LOCKOUT`] doubling
//!   with each further failure up to [`MAX_LOCKOUT`]; a locked name answers
//!   `Throttled { retry_after_secs }` without checking anything. Failures older than
//!   [`FAILURE_MEMORY`] are forgotten; a success clears the count.
//! - **Oracles.** Every wrong factor (unknown user, wrong password, disabled user, missing,
//!   wrong or replayed code) gives the same `Unauthorized`; unknown usernames cost the same
//!   argon2 verification as real ones; throttling is keyed by the name as typed, so it behaves
//!   the same whether the user exists.
//! - **Writer-lock starvation.** The argon2 verification runs before the write transaction, so a
//!   stream of bad logins never holds the store's writer lock for the hash's duration.
//!
//! The throttle table is keyed by the keyed hash of the lower-cased name: a password typed
//! into the username field is never stored.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::tokens::{NewToken, insert_token, token_doc};
use super::{USER_ENTITY, password, user};
use crate::management::{Actor, AdminToken, AdminUser};
use crate::model::{from_millis, to_millis};
use crate::secret::{KeyHash, SecretKey};
use crate::sql::audit::{self, Change};
use crate::sql::backend::Backend;
use crate::sql::repo::commit;
use crate::sql::{Arg, SqlConn, SqlRow};
use crate::{Keyring, StoreError};

/// Consecutive failures allowed before the first lock-out.
pub(crate) const FREE_FAILURES: i64 = 5;
/// Lock-out after the [`FREE_FAILURES`]th failure; doubles with each further failure.
pub(crate) const BASE_LOCKOUT: Duration = Duration::from_secs(1);
/// Longest lock-out.
pub(crate) const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// A failure streak is forgotten after this long without failures.
pub(crate) const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest login session.
pub(crate) const MAX_SESSION: Duration = Duration::from_secs(24 * 60 * 60);
/// Expired sessions are deleted this long after expiry (kept a while for the audit trail).
const SESSION_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The throttle key of a typed username (domain-separated from credential hashes).
fn throttle_key(keyring: &Keyring, username: &str) -> KeyHash {
    keyring.hash_credential(&format!("admin-login:{}", username.trim().to_lowercase()))
}

/// How long `failures` consecutive failures lock the name out (`None`: not locked).
pub(crate) fn lockout(failures: i64) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES).filter(|o| *o >= 0)?;
    let doublings = u32::try_from(over).unwrap_or(u32::MAX).min(20);
    Some(BASE_LOCKOUT.saturating_mul(1 << doublings).min(MAX_LOCKOUT))
}

/// Seconds until the name may try again, rounded up, if it is locked at `now`.
async fn locked_for<C: SqlConn + ?Sized>(
    conn: &mut C,
    key: &KeyHash,
    now: SystemTime,
) -> Result<Option<u64>, StoreError> {
    let row = conn
        .fetch_opt(
            "SELECT locked_until FROM admin_login_throttle WHERE username_hash = $1",
            &[Arg::Bytes(&key.as_bytes()[..])],
        )
        .await?;
    let until = match row {
        Some(row) => row.opt_int("locked_until")?,
        None => None,
    };
    Ok(until
        .map(from_millis)
        .and_then(|t| t.duration_since(now).ok())
        .filter(|left| !left.is_zero())
        .map(|left| {
            left.as_millis()
                .div_ceil(1000)
                .try_into()
                .unwrap_or(u64::MAX)
        }))
}

/// Counts one failure for `key`; returns the failure count and the lock-out it triggered.
async fn record_failure<C: SqlConn + ?Sized>(
    conn: &mut C,
    key: &KeyHash,
    now: SystemTime,
) -> Result<(i64, Option<Duration>), StoreError> {
    let forget_before = to_millis(now) - i64::try_from(FAILURE_MEMORY.as_millis()).unwrap_or(0);
    let previous = conn
        .fetch_opt(
            "SELECT failures, last_failure_at FROM admin_login_throttle WHERE username_hash = $1",
            &[Arg::Bytes(&key.as_bytes()[..])],
        )
        .await?;
    let failures = match previous {
        Some(row) if row.int("last_failure_at")? >= forget_before => row.int("failures")? + 1,
        _ => 1,
    };
    let lock = lockout(failures);
    conn.exec(
        "INSERT INTO admin_login_throttle (username_hash, failures, locked_until, last_failure_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (username_hash) DO UPDATE SET \
         failures = excluded.failures, locked_until = excluded.locked_until, \
         last_failure_at = excluded.last_failure_at",
        &[
            Arg::Bytes(&key.as_bytes()[..]),
            Arg::Int(failures),
            Arg::OptInt(lock.map(|d| to_millis(now + d))),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    // Housekeeping: streaks that are over and forgotten.
    conn.exec(
        "DELETE FROM admin_login_throttle WHERE last_failure_at < $1 \
         AND (locked_until IS NULL OR locked_until < $2)",
        &[Arg::Int(forget_before), Arg::Int(to_millis(now))],
    )
    .await?;
    Ok((failures, lock))
}

/// Forgets the failure streak of `username` (after a success or a password reset).
pub(super) async fn clear_throttle<C: SqlConn + ?Sized>(
    keyring: &Keyring,
    conn: &mut C,
    username: &str,
) -> Result<(), StoreError> {
    conn.exec(
        "DELETE FROM admin_login_throttle WHERE username_hash = $1",
        &[Arg::Bytes(&throttle_key(keyring, username).as_bytes()[..])],
    )
    .await?;
    Ok(())
}

/// The user a login names, with the columns the checks need.
struct Candidate {
    user: AdminUser,
    password_hash: String,
}

/// One statement whether or not the user exists, so the lookup costs the same either way.
async fn find_candidate<C: SqlConn + ?Sized>(
    conn: &mut C,
    username: &str,
) -> Result<Option<Candidate>, StoreError> {
    let row = conn
        .fetch_opt(
            "SELECT id, username, role, disabled, version, created_at, password_hash, \
             CAST(CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS totp_enabled \
             FROM admin_users WHERE username = $1",
            &[Arg::Text(&username.trim().to_lowercase())],
        )
        .await?;
    row.map(|row| {
        Ok(Candidate {
            user: user(&row)?,
            password_hash: row.text("password_hash")?,
        })
    })
    .transpose()
}

fn check_ttl(ttl: Duration) -> Result<(), StoreError> {
    if ttl.is_zero() || ttl > MAX_SESSION {
        return Err(StoreError::Invalid(format!(
            "session_ttl: must be between 1 s and {} s",
            MAX_SESSION.as_secs()
        )));
    }
    Ok(())
}

pub(crate) async fn login<B: Backend>(
    b: &B,
    username: &str,
    password: &str,
    totp_code: Option<&str>,
    session_ttl: Duration,
) -> Result<(AdminToken, SecretKey), StoreError> {
    check_ttl(session_ttl)?;
    let key = throttle_key(b.keyring(), username);
    let candidate = {
        let mut conn = b.read_conn().await?;
        if let Some(retry_after_secs) = locked_for(&mut *conn, &key, SystemTime::now()).await? {
            return Err(StoreError::Throttled { retry_after_secs });
        }
        find_candidate(&mut *conn, username).await?
    };
    // Exactly one argon2 verification whether or not the user exists.
    let password_ok = password::verify(
        password,
        candidate.as_ref().map(|c| c.password_hash.clone()),
    )
    .await?;

    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    // A failure committed while this attempt was hashing may have locked the name.
    if let Some(retry_after_secs) = locked_for(&mut *tx, &key, now).await? {
        return Err(StoreError::Throttled { retry_after_secs });
    }
    let admitted = match &candidate {
        Some(c) if password_ok && !c.user.disabled => match (c.user.totp_enabled, totp_code) {
            (false, _) => true,
            (true, Some(code)) => {
                super::totp::accept_code(b.keyring(), &mut *tx, &c.user, code, now).await?
            }
            (true, None) => false,
        },
        _ => false,
    };
    let c = match candidate {
        Some(c) if admitted => c,
        other => {
            // The user id only when the name exists; never the typed name, which may be a
            // mistyped password.
            let entity_id = other.as_ref().map_or("unknown", |c| c.user.id.as_str());
            let (failures, lock) = record_failure(&mut *tx, &key, now).await?;
            audit::record(
                &mut *tx,
                Change {
                    actor: &Actor("anonymous".into()),
                    action: "login-failed",
                    entity: USER_ENTITY,
                    entity_id,
                    before: None,
                    after: Some(json!({
                        "failures": failures,
                        "locked_for_secs": lock.map(|d| d.as_secs()),
                    })),
                },
                now,
            )
            .await?;
            commit(b, tx, None).await?;
            return Err(StoreError::Unauthorized);
        }
    };
    clear_throttle(b.keyring(), &mut *tx, &c.user.username).await?;
    tx.exec(
        "DELETE FROM admin_tokens WHERE session = 1 AND expires_at < $1",
        &[Arg::Int(
            to_millis(now) - i64::try_from(SESSION_RETENTION.as_millis()).unwrap_or(0),
        )],
    )
    .await?;
    let (session, secret) = insert_token(
        b.keyring(),
        &mut *tx,
        &c.user,
        NewToken {
            name: "login session",
            role: c.user.role,
            session: true,
            expires_at: Some(now + session_ttl),
        },
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        Change {
            actor: &Actor(format!("admin:{}", c.user.username)),
            action: "login",
            entity: USER_ENTITY,
            entity_id: &c.user.id,
            before: None,
            after: Some(token_doc(&session)),
        },
        now,
    )
    .await?;
    commit(b, tx, None).await?;
    Ok((session, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_start_after_the_free_failures_and_double_up_to_the_cap() {
        for free in 0..FREE_FAILURES {
            assert_eq!(lockout(free), None, "{free}");
        }
        let secs = |f| lockout(f).unwrap().as_secs();
        assert_eq!([secs(5), secs(6), secs(7), secs(10)], [1, 2, 4, 32]);
        assert_eq!(secs(15), MAX_LOCKOUT.as_secs());
        assert_eq!(secs(i64::MAX), MAX_LOCKOUT.as_secs());
    }

    #[test]
    fn session_lifetimes_are_bounded() {
        assert!(check_ttl(Duration::from_secs(3600)).is_ok());
        for bad in [Duration::ZERO, MAX_SESSION + Duration::from_secs(1)] {
            let msg = check_ttl(bad).unwrap_err().to_string();
            assert!(msg.contains("session_ttl:"), "{msg}");
        }
    }
}
