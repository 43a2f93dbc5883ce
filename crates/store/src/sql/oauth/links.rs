//! Login federation: local end users linked to `(provider, subject)` of an external OpenID
//! provider. The first login creates the user (without a password: its hash is `!`, which no
//! password verifies against) and the link; every later login finds the same user and replaces
//! its claims with the provider's current ones. Everything happens in one write transaction,
//! which the backends serialise, so concurrent first logins of one subject create one user.

use serde_json::json;

use super::super::audit::{self, Change};
use super::super::backend::Backend;
use super::super::repo::commit;
use super::super::{Arg, SqlConn};
use super::users::user;
use crate::StoreError;
use crate::management::Actor;
use crate::model::{creation_time, to_millis};
use crate::oauth::OAuthUser;
use crate::secret::new_id;

/// Longest accepted provider name / subject (OpenID Connect caps `sub` at 255 ASCII chars).
const MAX_SUBJECT: usize = 255;
/// Stored instead of a password hash: not a PHC string, so every password check fails.
const NO_PASSWORD: &str = "!";

const SELECT_LINKED: &str = "SELECT u.id, u.username, u.claims, u.disabled, u.created_at \
     FROM oauth_user_links l JOIN oauth_users u ON u.id = l.user_id \
     WHERE l.provider = $1 AND l.subject = $2";

pub(crate) async fn link_federated_user<B: Backend>(
    b: &B,
    actor: &Actor,
    provider: &str,
    subject: &str,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<OAuthUser, StoreError> {
    if provider.is_empty() || provider.len() > 64 || provider.contains('/') {
        return Err(StoreError::Invalid(
            "provider: 1 to 64 characters, no '/'".into(),
        ));
    }
    if subject.is_empty() || subject.len() > MAX_SUBJECT {
        return Err(StoreError::Invalid(format!(
            "subject: 1 to {MAX_SUBJECT} bytes"
        )));
    }
    let claims_text = serde_json::Value::Object(claims.clone()).to_string();
    let now = creation_time();
    let millis = to_millis(now);
    let mut tx = b.begin_write().await?;
    let existing = tx
        .fetch_opt(SELECT_LINKED, &[Arg::Text(provider), Arg::Text(subject)])
        .await?;
    let user_id = match existing {
        Some(row) => {
            let id = user(&row)?.id;
            tx.exec(
                "UPDATE oauth_users SET claims = $1, version = version + 1, updated_at = $2 \
                 WHERE id = $3",
                &[Arg::Text(&claims_text), Arg::Int(millis), Arg::Text(&id)],
            )
            .await?;
            tx.exec(
                "UPDATE oauth_user_links SET last_login = $1 WHERE provider = $2 AND subject = $3",
                &[Arg::Int(millis), Arg::Text(provider), Arg::Text(subject)],
            )
            .await?;
            id
        }
        None => {
            let id = new_id("usr")?;
            // '/' is not allowed in local usernames, so this never collides with one.
            let username = format!("{provider}/{subject}");
            tx.exec(
                "INSERT INTO oauth_users (id, username, password_hash, claims, disabled, version, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 1, $5, $5)",
                &[
                    Arg::Text(&id),
                    Arg::Text(&username),
                    Arg::Text(NO_PASSWORD),
                    Arg::Text(&claims_text),
                    Arg::Int(millis),
                ],
            )
            .await?;
            tx.exec(
                "INSERT INTO oauth_user_links (provider, subject, user_id, created_at, last_login) \
                 VALUES ($1, $2, $3, $4, $4)",
                &[
                    Arg::Text(provider),
                    Arg::Text(subject),
                    Arg::Text(&id),
                    Arg::Int(millis),
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
                    after: Some(json!({"id": id, "username": username, "provider": provider})),
                },
                now,
            )
            .await?;
            id
        }
    };
    let row = tx
        .fetch_opt(
            "SELECT id, username, claims, disabled, created_at FROM oauth_users WHERE id = $1",
            &[Arg::Text(&user_id)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("user", &user_id))?;
    let linked = user(&row)?;
    commit(b, tx, None).await?;
    Ok(linked)
}
