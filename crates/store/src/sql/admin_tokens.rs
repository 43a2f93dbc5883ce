//! Admin API tokens and login sessions.
//!
//! What it protects: a token is `pat_` + 32 base62 characters from the OS RNG (≈ 190 bits),
//! shown once and stored only as its keyed hash (HMAC-SHA256 under a master-key subkey), so a
//! database dump neither contains tokens nor lets anyone test guesses offline; the public
//! 12-character prefix identifies it in listings. A token's effective role is the lower of its
//! own and its user's *current* role, and it stops working when revoked, expired, or when its
//! user is disabled.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::{find_user, rank, user, user_select, weaker};
use crate::management::{Actor, AdminPrincipal, AdminRole, AdminToken, AdminUser};
use crate::model::{creation_time, from_millis, to_millis};
use crate::secret::{ADMIN_TOKEN_MARKER, KEY_RANDOM_CHARS, PREFIX_LEN, SecretKey, new_id};
use crate::sql::audit::{self, Change};
use crate::sql::backend::Backend;
use crate::sql::repo::{commit, log_change};
use crate::sql::{Arg, SqlConn, SqlRow};
use crate::{Keyring, StoreError};

const TOKEN_ENTITY: &str = "admin-token";
const TOKEN_CHANGE: &str = "admin_token";
/// Longest token label, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Draws before giving up on an unused prefix (8 base62 characters ≈ 47.6 bits; see
/// `repo::KEY_ATTEMPTS`).
const TOKEN_ATTEMPTS: usize = 5;
/// `last_used_at` is refreshed at most this often, so authentication is not a write per request.
const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

macro_rules! token_select {
    () => {
        "SELECT id, prefix, name, user_id, role, session, expires_at, revoked_at, created_at, \
         last_used_at FROM admin_tokens"
    };
}

fn token(row: &impl SqlRow) -> Result<AdminToken, StoreError> {
    Ok(AdminToken {
        id: row.text("id")?,
        prefix: row.text("prefix")?,
        name: row.text("name")?,
        user_id: row.text("user_id")?,
        role: AdminRole::parse(&row.text("role")?)
            .map_err(|_| StoreError::Corrupt("unknown admin role".into()))?,
        session: row.int("session")? != 0,
        expires_at: row.opt_int("expires_at")?.map(from_millis),
        revoked_at: row.opt_int("revoked_at")?.map(from_millis),
        created_at: from_millis(row.int("created_at")?),
    })
}

/// What the audit log records about a token: metadata only (the prefix is public).
pub(super) fn token_doc(t: &AdminToken) -> serde_json::Value {
    json!({
        "id": t.id,
        "prefix": t.prefix,
        "name": t.name,
        "user_id": t.user_id,
        "role": t.role.as_str(),
        "session": t.session,
        "expires_at_ms": t.expires_at.map(to_millis),
        "revoked": t.revoked_at.is_some(),
    })
}

/// Someone may paste a whole token where a prefix was expected: never echo more than the prefix.
fn shown(id_or_prefix: &str) -> String {
    if id_or_prefix.starts_with(ADMIN_TOKEN_MARKER) && id_or_prefix.len() > PREFIX_LEN {
        let cut: String = id_or_prefix.chars().take(PREFIX_LEN).collect();
        format!("{cut}…")
    } else {
        id_or_prefix.to_owned()
    }
}

/// What to issue.
pub(super) struct NewToken<'a> {
    pub name: &'a str,
    pub role: AdminRole,
    pub session: bool,
    pub expires_at: Option<SystemTime>,
}

/// Issues a token for `user` in the caller's transaction.
pub(super) async fn insert_token<C: SqlConn + ?Sized>(
    keyring: &Keyring,
    conn: &mut C,
    user: &AdminUser,
    new: NewToken<'_>,
    now: SystemTime,
) -> Result<(AdminToken, SecretKey), StoreError> {
    for _ in 0..TOKEN_ATTEMPTS {
        let secret = SecretKey::generate_marked(ADMIN_TOKEN_MARKER)?;
        let id = new_id("tok")?;
        // DO NOTHING rather than catching the error: PostgreSQL would abort the transaction.
        let inserted = conn
            .exec(
                "INSERT INTO admin_tokens (id, user_id, name, prefix, token_hash, role, session, \
                 expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT DO NOTHING",
                &[
                    Arg::Text(&id),
                    Arg::Text(&user.id),
                    Arg::Text(new.name),
                    Arg::Text(secret.prefix()),
                    Arg::Bytes(&keyring.hash_credential(secret.expose()).as_bytes()[..]),
                    Arg::Text(new.role.as_str()),
                    Arg::Int(i64::from(new.session)),
                    Arg::OptInt(new.expires_at.map(to_millis)),
                    Arg::Int(to_millis(now)),
                ],
            )
            .await?;
        if inserted == 1 {
            let row = conn
                .fetch_opt(
                    concat!(token_select!(), " WHERE id = $1"),
                    &[Arg::Text(&id)],
                )
                .await?
                .ok_or_else(|| StoreError::Corrupt("a new admin token is missing".into()))?;
            return Ok((token(&row)?, secret));
        }
        tracing::debug!("admin token prefix collision, drawing a new token");
    }
    Err(StoreError::Conflict(
        "could not draw a token with an unused prefix".into(),
    ))
}

fn check_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "name: must be 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

pub(crate) async fn create_admin_token<B: Backend>(
    b: &B,
    actor: &Actor,
    user_ref: &str,
    name: &str,
    role: AdminRole,
    expires_at: Option<SystemTime>,
) -> Result<(AdminToken, SecretKey), StoreError> {
    let name = check_name(name)?;
    let now = creation_time();
    // Against the precise clock: `now` is truncated to whole milliseconds.
    if expires_at.is_some_and(|t| t <= SystemTime::now()) {
        return Err(StoreError::Invalid(
            "expires_at: must be in the future".into(),
        ));
    }
    let mut tx = b.begin_write().await?;
    let owner = find_user(&mut *tx, user_ref).await?;
    if owner.disabled {
        return Err(StoreError::Conflict(format!(
            "admin user {} is disabled",
            owner.username
        )));
    }
    if rank(role) > rank(owner.role) {
        return Err(StoreError::Invalid(format!(
            "role: {role} exceeds the user's role {}",
            owner.role
        )));
    }
    let (issued, secret) = insert_token(
        b.keyring(),
        &mut *tx,
        &owner,
        NewToken {
            name: &name,
            role,
            session: false,
            expires_at,
        },
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        Change {
            actor,
            action: "create",
            entity: TOKEN_ENTITY,
            entity_id: &issued.id,
            before: None,
            after: Some(token_doc(&issued)),
        },
        now,
    )
    .await?;
    let seq = log_change(&mut *tx, TOKEN_CHANGE, &issued.id, now).await?;
    commit(b, tx, Some(seq)).await?;
    Ok((issued, secret))
}

pub(crate) async fn list_admin_tokens<B: Backend>(
    b: &B,
    user_ref: Option<&str>,
) -> Result<Vec<AdminToken>, StoreError> {
    let mut conn = b.read_conn().await?;
    let rows = match user_ref {
        None => {
            conn.fetch_all(concat!(token_select!(), " ORDER BY created_at, id"), &[])
                .await?
        }
        Some(user_ref) => {
            let owner = find_user(&mut *conn, user_ref).await?;
            conn.fetch_all(
                concat!(
                    token_select!(),
                    " WHERE user_id = $1 ORDER BY created_at, id"
                ),
                &[Arg::Text(&owner.id)],
            )
            .await?
        }
    };
    rows.iter().map(token).collect()
}

pub(crate) async fn revoke_admin_token<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_prefix: &str,
) -> Result<(), StoreError> {
    let wanted = id_or_prefix.trim();
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let row = tx
        .fetch_opt(
            concat!(token_select!(), " WHERE id = $1 OR prefix = $1"),
            &[Arg::Text(wanted)],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound {
            entity: "admin token",
            id: shown(wanted),
        })?;
    let before = token(&row)?;
    if before.revoked_at.is_some() {
        return Ok(());
    }
    tx.exec(
        "UPDATE admin_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[Arg::Text(&before.id), Arg::Int(to_millis(now))],
    )
    .await?;
    let after = AdminToken {
        revoked_at: Some(now),
        ..before.clone()
    };
    audit::record(
        &mut *tx,
        Change {
            actor,
            action: "revoke",
            entity: TOKEN_ENTITY,
            entity_id: &before.id,
            before: Some(token_doc(&before)),
            after: Some(token_doc(&after)),
        },
        now,
    )
    .await?;
    let seq = log_change(&mut *tx, TOKEN_CHANGE, &before.id, now).await?;
    commit(b, tx, Some(seq)).await
}

/// Whether `token` has the shape of an admin token, so garbage never reaches the database.
fn well_formed(token: &str) -> bool {
    token.len() == ADMIN_TOKEN_MARKER.len() + KEY_RANDOM_CHARS
        && token.starts_with(ADMIN_TOKEN_MARKER)
        && token[ADMIN_TOKEN_MARKER.len()..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric())
}

pub(crate) async fn authenticate_admin_token<B: Backend>(
    b: &B,
    presented: &str,
) -> Result<AdminPrincipal, StoreError> {
    if !well_formed(presented) {
        return Err(StoreError::Unauthorized);
    }
    let hash = b.keyring().hash_credential(presented);
    let now = SystemTime::now();
    let mut conn = b.read_conn().await?;
    let Some(row) = conn
        .fetch_opt(
            concat!(token_select!(), " WHERE token_hash = $1"),
            &[Arg::Bytes(&hash.as_bytes()[..])],
        )
        .await?
    else {
        return Err(StoreError::Unauthorized);
    };
    let found = token(&row)?;
    let last_used = row.opt_int("last_used_at")?.map(from_millis);
    if found.revoked_at.is_some() || found.expires_at.is_some_and(|t| t <= now) {
        return Err(StoreError::Unauthorized);
    }
    let owner_row = conn
        .fetch_opt(
            concat!(user_select!(), " WHERE id = $1"),
            &[Arg::Text(&found.user_id)],
        )
        .await?
        .ok_or(StoreError::Unauthorized)?;
    let owner = user(&owner_row)?;
    if owner.disabled {
        return Err(StoreError::Unauthorized);
    }
    let stale_mark = last_used
        .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= LAST_USED_GRANULARITY);
    if stale_mark {
        // Bookkeeping only: a failure here must not refuse a valid token.
        if let Err(e) = conn
            .exec(
                "UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1",
                &[Arg::Text(&found.id), Arg::Int(to_millis(now))],
            )
            .await
        {
            tracing::debug!(error = %e, "could not record admin token use");
        }
    }
    Ok(AdminPrincipal {
        role: weaker(found.role, owner.role),
        user: owner,
        token: found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_reach_the_database() {
        let t = SecretKey::generate_marked(ADMIN_TOKEN_MARKER).unwrap();
        assert!(well_formed(t.expose()));
        let key = SecretKey::generate().unwrap();
        assert!(!well_formed(key.expose()), "API keys are not admin tokens");
        assert!(!well_formed(&t.expose()[..30]));
        assert!(!well_formed(&format!("{}!", &t.expose()[..35])));
        assert!(!well_formed(""));
    }

    #[test]
    fn pasted_tokens_are_shortened_in_errors() {
        let t = SecretKey::generate_marked(ADMIN_TOKEN_MARKER).unwrap();
        let msg = shown(t.expose());
        assert!(msg.starts_with(t.prefix()) && !msg.contains(&t.expose()[PREFIX_LEN..]));
        assert_eq!(shown("tok_abc"), "tok_abc");
    }
}
