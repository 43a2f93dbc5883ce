//! TOTP two-factor login (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, ±1 step of clock skew).
//!
//! What it protects: a leaked admin password alone must not open the admin API. Seeds are
//! 160-bit random values sealed with the master key's TOTP subkey, bound to the user id, so a
//! database dump cannot mint codes. Enrolment is two-step: [`begin_totp`] stores a *pending*
//! seed and returns the `otpauth://` URL once; [`confirm_totp`] promotes it after a correct
//! code, so a half-finished re-enrolment never switches two-factor off. A code is accepted
//! only for a time step later than the last accepted one, which refuses replays within the
//! code's window (RFC 6238 §5.2).

use std::time::{SystemTime, UNIX_EPOCH};

use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

use super::{USER_ENTITY, find_user, finish_user_change, user_doc};
use crate::management::{Actor, AdminUser};
use crate::model::to_millis;
use crate::sql::audit::Change;
use crate::sql::backend::Backend;
use crate::sql::{Arg, SqlConn, SqlRow};
use crate::{Keyring, Purpose, StoreError};

/// Issuer shown by authenticator apps.
const ISSUER: &str = "Portcullis";
const DIGITS: u8 = 6;
const STEP_SECS: u64 = 30;
/// Steps of clock skew accepted either side of the current one.
const SKEW_STEPS: u16 = 1;

/// Associated data binding a sealed seed to its user.
fn context(user_id: &str) -> String {
    format!("admin-user/{user_id}/totp")
}

fn build(seed: &[u8], username: &str) -> Result<Totp, StoreError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECS)
        .with_skew(SKEW_STEPS)
        .with_secret(seed.to_vec())
        .with_account_name(username)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|_| StoreError::Corrupt("a TOTP seed is unusable".into()))
}

/// The time step `code` is valid for at `now` (within the skew), if any.
fn matching_step(totp: &Totp, code: &str, now: SystemTime) -> Option<i64> {
    let secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let step = totp.check(code.trim(), secs)?;
    i64::try_from(step).ok()
}

/// Checks `code` against the user's confirmed seed and, if it is valid for a step later than
/// the last accepted one, records that step (in the caller's transaction). `Ok(false)` for a
/// wrong, stale or replayed code, or when the user has no confirmed seed.
pub(super) async fn accept_code<C: SqlConn + ?Sized>(
    keyring: &Keyring,
    conn: &mut C,
    user: &AdminUser,
    code: &str,
    now: SystemTime,
) -> Result<bool, StoreError> {
    let Some(row) = conn
        .fetch_opt(
            "SELECT totp_secret FROM admin_users WHERE id = $1 AND totp_secret IS NOT NULL",
            &[Arg::Text(&user.id)],
        )
        .await?
    else {
        return Ok(false);
    };
    let sealed = row.bytes("totp_secret")?;
    let seed = keyring.open(Purpose::Totp, context(&user.id).as_bytes(), &sealed)?;
    let Some(step) = matching_step(&build(&seed, &user.username)?, code, now) else {
        return Ok(false);
    };
    // Conditional, so two logins racing with one code cannot both win.
    let advanced = conn
        .exec(
            "UPDATE admin_users SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            &[Arg::Text(&user.id), Arg::Int(step)],
        )
        .await?;
    Ok(advanced == 1)
}

pub(crate) async fn begin_totp<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_username: &str,
) -> Result<String, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let user = find_user(&mut *tx, id_or_username).await?;
    if user.disabled {
        return Err(StoreError::Conflict(format!(
            "admin user {} is disabled",
            user.username
        )));
    }
    let secret = Secret::generate();
    let seed = Zeroizing::new(secret.as_bytes().to_vec());
    let url = Zeroizing::new(
        build(&seed, &user.username)?
            .to_url()
            .map_err(|_| StoreError::Corrupt("could not build the otpauth URL".into()))?,
    );
    let sealed = b
        .keyring()
        .seal(Purpose::Totp, context(&user.id).as_bytes(), &seed)?;
    tx.exec(
        "UPDATE admin_users SET totp_pending = $2, version = version + 1, updated_at = $3 \
         WHERE id = $1",
        &[
            Arg::Text(&user.id),
            Arg::Bytes(&sealed),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    let after = find_user(&mut *tx, &user.id).await?;
    let change = Change {
        actor,
        action: "totp-begin",
        entity: USER_ENTITY,
        entity_id: &user.id,
        before: Some(user_doc(&user)),
        after: Some(user_doc(&after)),
    };
    finish_user_change(b, tx, change, now).await?;
    Ok(url.as_str().to_owned())
}

pub(crate) async fn confirm_totp<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_username: &str,
    code: &str,
) -> Result<AdminUser, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let user = find_user(&mut *tx, id_or_username).await?;
    let row = tx
        .fetch_opt(
            "SELECT totp_pending FROM admin_users WHERE id = $1 AND totp_pending IS NOT NULL",
            &[Arg::Text(&user.id)],
        )
        .await?
        .ok_or_else(|| {
            StoreError::Conflict(format!(
                "admin user {} has no TOTP enrolment in progress",
                user.username
            ))
        })?;
    let sealed = row.bytes("totp_pending")?;
    let seed = b
        .keyring()
        .open(Purpose::Totp, context(&user.id).as_bytes(), &sealed)?;
    let step = matching_step(&build(&seed, &user.username)?, code, now)
        .ok_or_else(|| StoreError::Invalid("code: the TOTP code is not valid".into()))?;
    // The pending seed was sealed for this user under the same context, so it moves as is.
    tx.exec(
        "UPDATE admin_users SET totp_secret = totp_pending, totp_pending = NULL, \
         totp_last_step = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        &[
            Arg::Text(&user.id),
            Arg::Int(step),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    let after = find_user(&mut *tx, &user.id).await?;
    let change = Change {
        actor,
        action: "totp-confirm",
        entity: USER_ENTITY,
        entity_id: &user.id,
        before: Some(user_doc(&user)),
        after: Some(user_doc(&after)),
    };
    finish_user_change(b, tx, change, now).await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_within_one_step_of_skew_and_report_their_step() {
        let seed = [7u8; 20];
        let totp = build(&seed, "alice").unwrap();
        let t0 = UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let code = totp.generate(1_800_000_000).to_string();
        let step = i64::try_from(1_800_000_000 / STEP_SECS).unwrap();
        assert_eq!(matching_step(&totp, &code, t0), Some(step));
        let later = t0 + std::time::Duration::from_secs(STEP_SECS);
        assert_eq!(
            matching_step(&totp, &code, later),
            Some(step),
            "one step late is fine"
        );
        let too_late = t0 + std::time::Duration::from_secs(2 * STEP_SECS);
        assert_eq!(matching_step(&totp, &code, too_late), None);
        assert_eq!(matching_step(&totp, "not a code", t0), None);
    }

    #[test]
    fn the_otpauth_url_names_issuer_account_and_rfc_parameters() {
        let url = build(&[1u8; 20], "alice").unwrap().to_url().unwrap();
        assert!(url.starts_with("otpauth://totp/Portcullis:alice?"), "{url}");
        let parsed = Totp::from_url(&url).unwrap();
        assert_eq!(parsed.digits(), 6);
        assert_eq!(parsed.step(), 30);
        assert_eq!(parsed.algorithm(), Algorithm::SHA1);
    }
}
