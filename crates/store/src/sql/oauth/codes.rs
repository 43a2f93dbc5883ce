//! Authorization codes: single use, short-lived, and a replay revokes every token issued from
//! the code (RFC 9700 §4.5 / RFC 6749 §4.1.2).

use std::time::SystemTime;

use super::super::backend::Backend;
use super::super::repo::commit;
use super::super::{Arg, SqlConn, SqlRow};
use super::tokens::{insert_all, revoke_family_in};
use super::{json_list, list_json};
use crate::StoreError;
use crate::model::{from_millis, to_millis};
use crate::oauth::{CodeRecord, CodeUse, NewCode, NewToken};
use crate::secret::KeyHash;

pub(crate) async fn store_code<B: Backend>(b: &B, c: &NewCode) -> Result<(), StoreError> {
    let scopes = list_json(&c.scopes);
    let products = list_json(&c.products);
    let mut tx = b.begin_write().await?;
    tx.exec(
        "INSERT INTO oauth_codes (id, code_hash, credential_id, subject, user_id, scopes, \
         products, redirect_uri, code_challenge, nonce, auth_time, issued_at, expires_at, \
         family_id, used_at, replayed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, NULL)",
        &[
            Arg::Text(&c.id),
            Arg::Bytes(c.hash.as_bytes()),
            Arg::Text(&c.credential_id),
            Arg::Text(&c.subject),
            Arg::Text(&c.user_id),
            Arg::Text(&scopes),
            Arg::Text(&products),
            Arg::Text(&c.redirect_uri),
            Arg::Text(&c.code_challenge),
            Arg::OptText(c.nonce.as_deref()),
            Arg::Int(to_millis(c.auth_time)),
            Arg::Int(to_millis(c.issued_at)),
            Arg::Int(to_millis(c.expires_at)),
            Arg::Text(&c.family_id),
        ],
    )
    .await?;
    commit(b, tx, None).await
}

fn record(row: &impl SqlRow) -> Result<CodeRecord, StoreError> {
    Ok(CodeRecord {
        id: row.text("id")?,
        credential_id: row.text("credential_id")?,
        subject: row.text("subject")?,
        user_id: row.text("user_id")?,
        scopes: json_list(&row.text("scopes")?, "scopes")?,
        products: json_list(&row.text("products")?, "products")?,
        redirect_uri: row.text("redirect_uri")?,
        code_challenge: row.text("code_challenge")?,
        nonce: row.opt_text("nonce")?,
        auth_time: from_millis(row.int("auth_time")?),
        issued_at: from_millis(row.int("issued_at")?),
        expires_at: from_millis(row.int("expires_at")?),
        family_id: row.text("family_id")?,
    })
}

pub(crate) async fn consume_code<B: Backend>(
    b: &B,
    hash: &KeyHash,
    now: SystemTime,
) -> Result<CodeUse, StoreError> {
    let at = to_millis(now);
    let mut tx = b.begin_write().await?;
    let Some(row) = tx
        .fetch_opt(
            "SELECT id, credential_id, subject, user_id, scopes, products, redirect_uri, \
             code_challenge, nonce, auth_time, issued_at, expires_at, family_id, used_at \
             FROM oauth_codes WHERE code_hash = $1",
            &[Arg::Bytes(hash.as_bytes())],
        )
        .await?
    else {
        return Ok(CodeUse::Invalid);
    };
    let code = record(&row)?;
    let outcome = if row.opt_int("used_at")?.is_some() {
        tx.exec(
            "UPDATE oauth_codes SET replayed_at = $2 WHERE id = $1 AND replayed_at IS NULL",
            &[Arg::Text(&code.id), Arg::Int(at)],
        )
        .await?;
        CodeUse::Replayed {
            revoked: revoke_family_in(&mut *tx, &code.family_id, now).await?,
            family_id: code.family_id.clone(),
        }
    } else {
        tx.exec(
            "UPDATE oauth_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
            &[Arg::Text(&code.id), Arg::Int(at)],
        )
        .await?;
        if code.expires_at <= now {
            CodeUse::Invalid
        } else {
            CodeUse::First(Box::new(code))
        }
    };
    commit(b, tx, None).await?;
    Ok(outcome)
}

pub(crate) async fn store_code_tokens<B: Backend>(
    b: &B,
    code_id: &str,
    tokens: &[NewToken],
) -> Result<(), StoreError> {
    let mut tx = b.begin_write().await?;
    let replayed = tx
        .fetch_opt(
            "SELECT replayed_at FROM oauth_codes WHERE id = $1",
            &[Arg::Text(code_id)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("authorization code", code_id))?
        .opt_int("replayed_at")?;
    if replayed.is_some() {
        return Err(StoreError::Conflict(
            "the authorization code was replayed; its tokens are revoked".into(),
        ));
    }
    insert_all(&mut *tx, tokens).await?;
    commit(b, tx, None).await
}
