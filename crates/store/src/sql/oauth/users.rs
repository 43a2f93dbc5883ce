//! The built-in end-user store of the authorization server: usernames, argon2id passwords
//! (OWASP minimum cost: 19 MiB, 2 passes) and the OpenID claims released to clients.
//!
//! A login for an unknown user verifies against a dummy hash of the same cost, so response
//! time does not reveal which usernames exist; every failure is the same `Unauthorized`.
//! Hashing runs on the blocking pool, at most two at a time, so logins cannot starve the
//! runtime (this machine class has two cores).

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use serde_json::json;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::super::audit::{self, Change};
use super::super::backend::Backend;
use super::super::repo::commit;
use super::super::{Arg, SqlConn, SqlRow};
use super::json_object;
use crate::StoreError;
use crate::management::Actor;
use crate::model::{creation_time, from_millis, to_millis};
use crate::oauth::OAuthUser;
use crate::secret::new_id;

const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;
/// A hash of a random, forgotten password with the same parameters as real hashes.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    +Bes3HLWQncqx8Z9qJgnJg$Y2MngwQRo+QW4E7TZbZN6HUwYKvRcWScGWfJ+O+TECk";
static HASHING: Semaphore = Semaphore::const_new(2);

const USER_SELECT: &str = "SELECT id, username, claims, disabled, created_at FROM oauth_users WHERE id = $1 OR username = $1";

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let slot = HASHING
        .acquire()
        .await
        .map_err(|_| StoreError::Corrupt("password hashing is shut down".into()))?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(StoreError::unavailable)
}

fn normalize_username(username: &str) -> Result<String, StoreError> {
    let name = username.trim().to_lowercase();
    let valid = !name.is_empty()
        && name.chars().count() <= 64
        && !name.starts_with("usr_")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err(StoreError::Invalid(
            "username: 1 to 64 of a-z, 0-9, '.', '_', '@', '+', '-' (not starting with usr_)"
                .into(),
        ))
    }
}

pub(super) fn user(row: &impl SqlRow) -> Result<OAuthUser, StoreError> {
    Ok(OAuthUser {
        id: row.text("id")?,
        username: row.text("username")?,
        claims: json_object(&row.text("claims")?, "claims")?,
        disabled: row.int("disabled")? != 0,
        created_at: from_millis(row.int("created_at")?),
    })
}

pub(crate) async fn create_oauth_user<B: Backend>(
    b: &B,
    actor: &Actor,
    username: &str,
    password: &str,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<OAuthUser, StoreError> {
    let username = normalize_username(username)?;
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(StoreError::Invalid(format!(
            "password: must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    let secret = Zeroizing::new(password.as_bytes().to_vec());
    let phc = blocking(move || {
        hasher()
            .hash_password(&secret)
            .map(|h| h.to_string())
            .map_err(|_| StoreError::Corrupt("argon2 hashing failed".into()))
    })
    .await??;
    let id = new_id("usr")?;
    let now = creation_time();
    let claims_text = serde_json::Value::Object(claims.clone()).to_string();
    let mut tx = b.begin_write().await?;
    tx.exec(
        "INSERT INTO oauth_users (id, username, password_hash, claims, disabled, version, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 1, $5, $5)",
        &[
            Arg::Text(&id),
            Arg::Text(&username),
            Arg::Text(&phc),
            Arg::Text(&claims_text),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    audit::record(
        &mut *tx,
        Change {
            actor,
            action: "create",
            entity: "oauth-user",
            entity_id: &id,
            before: None,
            after: Some(json!({"id": id, "username": username})),
        },
        now,
    )
    .await?;
    let row = tx
        .fetch_opt(USER_SELECT, &[Arg::Text(&id)])
        .await?
        .ok_or_else(|| StoreError::not_found("user", &id))?;
    let created = user(&row)?;
    commit(b, tx, None).await?;
    Ok(created)
}

pub(crate) async fn get_oauth_user<B: Backend>(
    b: &B,
    id_or_username: &str,
) -> Result<OAuthUser, StoreError> {
    let wanted = id_or_username.trim().to_lowercase();
    let wanted = if id_or_username.trim().starts_with("usr_") {
        id_or_username.trim().to_owned()
    } else {
        wanted
    };
    let mut conn = b.read_conn().await?;
    let row = conn
        .fetch_opt(USER_SELECT, &[Arg::Text(&wanted)])
        .await?
        .ok_or_else(|| StoreError::not_found("user", &wanted))?;
    user(&row)
}

pub(crate) async fn authenticate_oauth_user<B: Backend>(
    b: &B,
    username: &str,
    password: &str,
) -> Result<OAuthUser, StoreError> {
    let name = username.trim().to_lowercase();
    let found = {
        let mut conn = b.read_conn().await?;
        match conn
            .fetch_opt(
                "SELECT id, username, claims, disabled, created_at, password_hash \
                 FROM oauth_users WHERE username = $1",
                &[Arg::Text(&name)],
            )
            .await?
        {
            Some(row) => Some((user(&row)?, row.text("password_hash")?)),
            None => None,
        }
    };
    let stored = found.as_ref().map(|(_, h)| h.clone());
    let secret = Zeroizing::new(password.as_bytes().to_vec());
    let matches = blocking(move || {
        let phc = stored.as_deref().unwrap_or(DUMMY_HASH);
        hasher().verify_password(&secret, phc).is_ok()
    })
    .await?;
    match found {
        Some((u, _)) if matches && !u.disabled => Ok(u),
        _ => Err(StoreError::Unauthorized),
    }
}
