//! `AdminRepository` for every SQL backend: admin users, their passwords, TOTP and tokens.
//!
//! What it protects: the admin API is the keys to the kingdom, so
//! - passwords are argon2id hashes ([`password`]), TOTP seeds are sealed with the master key
//!   ([`totp`]), tokens are stored only as keyed hashes ([`tokens`]);
//! - a login fails with the same `Unauthorized` whichever factor was wrong, takes the same time
//!   for unknown usernames, and is throttled per attempted username ([`login`]);
//! - a token never grants more than its user's current role, and stops working when the user
//!   is disabled.
//!
//! Every change made by an actor runs in one write transaction with its audit entry and a
//! `change_log` row. Logins are audited too but append no `change_log` row: no gateway caches
//! admin identities, and a change-log row per attempt would let unauthenticated clients make
//! every node reload its credential index.

#[path = "admin_login.rs"]
mod login;
#[path = "admin_password.rs"]
mod password;
#[path = "admin_tokens.rs"]
mod tokens;
#[path = "admin_totp.rs"]
mod totp;

use std::time::SystemTime;

use serde_json::json;

pub(crate) use login::login;
pub(crate) use tokens::{
    authenticate_admin_token, create_admin_token, list_admin_tokens, revoke_admin_token,
};
pub(crate) use totp::{begin_totp, confirm_totp};

use super::audit::{self, Change};
use super::backend::Backend;
use super::repo::{commit, log_change};
use super::{Arg, SqlConn, SqlRow};
use crate::StoreError;
use crate::management::{Actor, AdminRole, AdminUser};
use crate::model::{creation_time, from_millis, to_millis};
use crate::secret::new_id;

/// Longest username, in characters.
const MAX_USERNAME_CHARS: usize = 64;
/// Audit and change-log entity names.
const USER_ENTITY: &str = "admin-user";
const USER_CHANGE: &str = "admin_user";

/// Never selects the password hash or a TOTP seed, so an [`AdminUser`] cannot carry them.
macro_rules! user_select {
    () => {
        "SELECT id, username, role, disabled, version, created_at, \
         CAST(CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS totp_enabled \
         FROM admin_users"
    };
}
pub(crate) use user_select;

/// Roles ordered by power, for "a token's role ≤ its user's role".
fn rank(role: AdminRole) -> u8 {
    match role {
        AdminRole::ReadOnly => 0,
        AdminRole::Operator => 1,
        AdminRole::Admin => 2,
    }
}

/// The less powerful of two roles.
fn weaker(a: AdminRole, b: AdminRole) -> AdminRole {
    if rank(a) <= rank(b) { a } else { b }
}

/// Lower-cases and checks a username: 1 to 64 of `[a-z0-9._@+-]`, not shaped like a user id
/// (`usr_…`), so "id or username" lookups are never ambiguous.
fn normalize_username(username: &str) -> Result<String, StoreError> {
    let name = username.trim().to_lowercase();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '+' | '-')
        })
        && !name.starts_with("usr_");
    if valid {
        Ok(name)
    } else {
        Err(StoreError::Invalid(format!(
            "username: must be 1 to {MAX_USERNAME_CHARS} characters of [a-z0-9._@+-], \
             not starting with usr_"
        )))
    }
}

fn flag(row: &impl SqlRow, col: &str) -> Result<bool, StoreError> {
    Ok(row.int(col)? != 0)
}

pub(crate) fn user(row: &impl SqlRow) -> Result<AdminUser, StoreError> {
    Ok(AdminUser {
        id: row.text("id")?,
        username: row.text("username")?,
        role: AdminRole::parse(&row.text("role")?)
            .map_err(|_| StoreError::Corrupt("unknown admin role".into()))?,
        totp_enabled: flag(row, "totp_enabled")?,
        disabled: flag(row, "disabled")?,
        version: row.int("version")?,
        created_at: from_millis(row.int("created_at")?),
    })
}

/// What the audit log records about a user: metadata only.
fn user_doc(u: &AdminUser) -> serde_json::Value {
    json!({
        "id": u.id,
        "username": u.username,
        "role": u.role.as_str(),
        "disabled": u.disabled,
        "totp_enabled": u.totp_enabled,
        "version": u.version,
    })
}

/// Finds a user by id or username.
async fn find_user<C: SqlConn + ?Sized>(
    conn: &mut C,
    id_or_username: &str,
) -> Result<AdminUser, StoreError> {
    let wanted = id_or_username.trim();
    let row = conn
        .fetch_opt(
            concat!(user_select!(), " WHERE id = $1 OR username = $2"),
            &[Arg::Text(wanted), Arg::Text(&wanted.to_lowercase())],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("admin user", wanted))?;
    user(&row)
}

fn stale(u: &AdminUser) -> StoreError {
    StoreError::Stale {
        entity: "admin user",
        id: u.id.clone(),
        current: u.version,
    }
}

/// Appends the audit entry and change-log row of a user change and commits.
async fn finish_user_change<B: Backend>(
    b: &B,
    mut tx: B::Tx,
    change: Change<'_>,
    now: SystemTime,
) -> Result<(), StoreError> {
    let id = change.entity_id.to_owned();
    audit::record(&mut *tx, change, now).await?;
    let seq = log_change(&mut *tx, USER_CHANGE, &id, now).await?;
    commit(b, tx, Some(seq)).await
}

pub(crate) async fn create_admin_user<B: Backend>(
    b: &B,
    actor: &Actor,
    username: &str,
    password: &str,
    role: AdminRole,
) -> Result<AdminUser, StoreError> {
    let username = normalize_username(username)?;
    password::check_policy(&username, password)?;
    let hash = password::hash(password).await?;
    let now = creation_time();
    let id = new_id("usr")?;
    let mut tx = b.begin_write().await?;
    let inserted = tx
        .exec(
            "INSERT INTO admin_users (id, username, password_hash, role, disabled, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 1, $5, $5) \
             ON CONFLICT DO NOTHING",
            &[
                Arg::Text(&id),
                Arg::Text(&username),
                Arg::Text(&hash),
                Arg::Text(role.as_str()),
                Arg::Int(to_millis(now)),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "username: an admin user named {username} already exists"
        )));
    }
    let created = find_user(&mut *tx, &id).await?;
    let change = Change {
        actor,
        action: "create",
        entity: USER_ENTITY,
        entity_id: &id,
        before: None,
        after: Some(user_doc(&created)),
    };
    finish_user_change(b, tx, change, now).await?;
    Ok(created)
}

pub(crate) async fn list_admin_users<B: Backend>(b: &B) -> Result<Vec<AdminUser>, StoreError> {
    let mut conn = b.read_conn().await?;
    let rows = conn
        .fetch_all(concat!(user_select!(), " ORDER BY created_at, id"), &[])
        .await?;
    rows.iter().map(user).collect()
}

pub(crate) async fn get_admin_user<B: Backend>(
    b: &B,
    id_or_username: &str,
) -> Result<AdminUser, StoreError> {
    let mut conn = b.read_conn().await?;
    find_user(&mut *conn, id_or_username).await
}

pub(crate) async fn update_admin_user<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_username: &str,
    role: AdminRole,
    disabled: bool,
    expected_version: Option<i64>,
) -> Result<AdminUser, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = find_user(&mut *tx, id_or_username).await?;
    if expected_version.is_some_and(|v| v != before.version) {
        return Err(stale(&before));
    }
    if before.role == role && before.disabled == disabled {
        return Ok(before);
    }
    let was_active_admin = before.role == AdminRole::Admin && !before.disabled;
    if was_active_admin && (role != AdminRole::Admin || disabled) {
        let others = tx
            .fetch_opt(
                "SELECT COUNT(*) AS n FROM admin_users \
                 WHERE role = 'admin' AND disabled = 0 AND id <> $1",
                &[Arg::Text(&before.id)],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("count returned no row".into()))?
            .int("n")?;
        if others == 0 {
            return Err(StoreError::Conflict(
                "at least one enabled admin user must remain".into(),
            ));
        }
    }
    tx.exec(
        "UPDATE admin_users SET role = $2, disabled = $3, version = version + 1, \
         updated_at = $4 WHERE id = $1",
        &[
            Arg::Text(&before.id),
            Arg::Text(role.as_str()),
            Arg::Int(i64::from(disabled)),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    let after = find_user(&mut *tx, &before.id).await?;
    let change = Change {
        actor,
        action: "update",
        entity: USER_ENTITY,
        entity_id: &before.id,
        before: Some(user_doc(&before)),
        after: Some(user_doc(&after)),
    };
    finish_user_change(b, tx, change, now).await?;
    Ok(after)
}

/// Sets a new password, ends the user's login sessions (API tokens stay) and clears the
/// user's login throttle.
pub(crate) async fn set_admin_password<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_username: &str,
    password: &str,
) -> Result<(), StoreError> {
    let target = get_admin_user(b, id_or_username).await?;
    password::check_policy(&target.username, password)?;
    let hash = password::hash(password).await?;
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = find_user(&mut *tx, &target.id).await?;
    tx.exec(
        "UPDATE admin_users SET password_hash = $2, version = version + 1, updated_at = $3 \
         WHERE id = $1",
        &[
            Arg::Text(&before.id),
            Arg::Text(&hash),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    tx.exec(
        "UPDATE admin_tokens SET revoked_at = $2 \
         WHERE user_id = $1 AND session = 1 AND revoked_at IS NULL",
        &[Arg::Text(&before.id), Arg::Int(to_millis(now))],
    )
    .await?;
    login::clear_throttle(b.keyring(), &mut *tx, &before.username).await?;
    let after = find_user(&mut *tx, &before.id).await?;
    let change = Change {
        actor,
        action: "set-password",
        entity: USER_ENTITY,
        entity_id: &before.id,
        before: Some(user_doc(&before)),
        after: Some(user_doc(&after)),
    };
    finish_user_change(b, tx, change, now).await
}

pub(crate) async fn admin_users_empty<B: Backend>(b: &B) -> Result<bool, StoreError> {
    let mut conn = b.read_conn().await?;
    let n = conn
        .fetch_opt("SELECT COUNT(*) AS n FROM admin_users", &[])
        .await?
        .ok_or_else(|| StoreError::Corrupt("count returned no row".into()))?
        .int("n")?;
    Ok(n == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            normalize_username(" Alice@Example.com ").unwrap(),
            "alice@example.com"
        );
        for bad in ["", "a b", "a:b", "usr_abc", &"a".repeat(65), "ünïcode"] {
            let msg = normalize_username(bad).unwrap_err().to_string();
            assert!(msg.contains("username:"), "{bad:?}: {msg}");
        }
    }

    #[test]
    fn roles_rank_admin_over_operator_over_read_only() {
        use AdminRole::*;
        assert_eq!(weaker(Admin, Operator), Operator);
        assert_eq!(weaker(ReadOnly, Admin), ReadOnly);
        assert_eq!(weaker(Operator, Operator), Operator);
        assert!(rank(Admin) > rank(Operator) && rank(Operator) > rank(ReadOnly));
    }
}
