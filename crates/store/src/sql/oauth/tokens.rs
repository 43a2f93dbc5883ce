//! Issued tokens: stored by keyed hash, looked up with their client's current state, revoked
//! singly or by family, and refresh tokens rotated with replay detection.

use std::time::SystemTime;

use super::super::backend::Backend;
use super::super::repo::commit;
use super::super::{Arg, SqlConn, SqlRow};
use super::clients::opt_time;
use super::{json_list, json_object, list_json};
use crate::StoreError;
use crate::model::{from_millis, to_millis};
use crate::oauth::{NewToken, Rotation, TokenKind, TokenOwner, TokenRecord};
use crate::secret::KeyHash;

const INSERT: &str = "INSERT INTO oauth_tokens (id, token_hash, kind, format, credential_id, \
     subject, scopes, products, issued_at, expires_at, family_id, parent_id, code_id, cnf_x5t, \
     cnf_jkt, claims, used_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, NULL)";

/// Never selects the hash. The client's state comes along (LEFT JOIN: the credential may be
/// gone), so a token of a revoked app stops working without touching the token row.
const SELECT: &str = "SELECT t.id, t.kind, t.format, t.credential_id, t.subject, t.scopes, \
     t.products, t.issued_at, t.expires_at, t.family_id, t.parent_id, t.code_id, t.cnf_x5t, \
     t.cnf_jkt, t.claims, t.used_at, t.revoked_at, \
     k.status AS key_status, k.expires_at AS key_expires_at, k.prefix, a.id AS app_id, \
     a.name AS app_name, a.status AS app_status, d.id AS developer_id, \
     d.email AS developer_email, d.status AS developer_status \
     FROM oauth_tokens t LEFT JOIN api_keys k ON k.id = t.credential_id \
     LEFT JOIN apps a ON a.id = k.app_id LEFT JOIN developers d ON d.id = a.developer_id \
     WHERE t.token_hash = $1";

/// Rows per INSERT statement when storing a batch: each statement is one round trip to the
/// database (on SQLite, to its connection thread), so the token endpoint's group commits insert
/// many rows per statement. 32 rows × 16 parameters stays far below every parameter limit.
const ROWS_PER_INSERT: usize = 32;
const INSERT_PARAMS: usize = 16;

/// The INSERT for `rows` rows (1..=ROWS_PER_INSERT), built once per size.
fn multi_insert(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        let head = &INSERT[..INSERT.find("VALUES").unwrap_or(INSERT.len())];
        (1..=ROWS_PER_INSERT)
            .map(|n| {
                let mut sql = format!("{head}VALUES ");
                for r in 0..n {
                    if r > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    for c in 0..INSERT_PARAMS {
                        sql.push_str(&format!("${}, ", r * INSERT_PARAMS + c + 1));
                    }
                    sql.push_str("NULL, NULL)");
                }
                sql
            })
            .collect()
    });
    &all[rows.clamp(1, ROWS_PER_INSERT) - 1]
}

pub(super) async fn insert_all<C: SqlConn + ?Sized>(
    conn: &mut C,
    tokens: &[NewToken],
) -> Result<(), StoreError> {
    for chunk in tokens.chunks(ROWS_PER_INSERT) {
        let texts: Vec<[String; 3]> = chunk
            .iter()
            .map(|t| {
                [
                    list_json(&t.scopes),
                    list_json(&t.products),
                    serde_json::Value::Object(t.claims.clone()).to_string(),
                ]
            })
            .collect();
        let mut args = Vec::with_capacity(chunk.len() * INSERT_PARAMS);
        for (t, [scopes, products, claims]) in chunk.iter().zip(&texts) {
            args.extend([
                Arg::Text(&t.id),
                Arg::Bytes(t.hash.as_bytes()),
                Arg::Text(t.kind.as_str()),
                Arg::Text(&t.format),
                Arg::Text(&t.credential_id),
                Arg::OptText(t.subject.as_deref()),
                Arg::Text(scopes),
                Arg::Text(products),
                Arg::Int(to_millis(t.issued_at)),
                Arg::Int(to_millis(t.expires_at)),
                Arg::Text(&t.family_id),
                Arg::OptText(t.parent_id.as_deref()),
                Arg::OptText(t.code_id.as_deref()),
                Arg::OptText(t.cnf_x5t.as_deref()),
                Arg::OptText(t.cnf_jkt.as_deref()),
                Arg::Text(claims),
            ]);
        }
        conn.exec(multi_insert(chunk.len()), &args).await?;
    }
    Ok(())
}

pub(crate) async fn store_tokens<B: Backend>(b: &B, tokens: &[NewToken]) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let mut tx = b.begin_write().await?;
    insert_all(&mut *tx, tokens).await?;
    commit(b, tx, None).await
}

fn record(row: &impl SqlRow) -> Result<TokenRecord, StoreError> {
    let owner = match row.opt_text("app_id")? {
        None => None,
        Some(app_id) => {
            let key_ok = row.opt_text("key_status")?.as_deref() == Some("active")
                && row
                    .opt_int("key_expires_at")?
                    .is_none_or(|t| t > to_millis(SystemTime::now()));
            let usable = key_ok
                && row.opt_text("app_status")?.as_deref() == Some("approved")
                && row.opt_text("developer_status")?.as_deref() == Some("active");
            Some(TokenOwner {
                app_id,
                app_name: row.text("app_name")?,
                developer_id: row.text("developer_id")?,
                developer_email: row.text("developer_email")?,
                credential_prefix: row.text("prefix")?,
                usable,
            })
        }
    };
    Ok(TokenRecord {
        id: row.text("id")?,
        kind: TokenKind::parse(&row.text("kind")?)?,
        format: row.text("format")?,
        credential_id: row.text("credential_id")?,
        subject: row.opt_text("subject")?,
        scopes: json_list(&row.text("scopes")?, "scopes")?,
        products: json_list(&row.text("products")?, "products")?,
        issued_at: from_millis(row.int("issued_at")?),
        expires_at: from_millis(row.int("expires_at")?),
        family_id: row.text("family_id")?,
        parent_id: row.opt_text("parent_id")?,
        code_id: row.opt_text("code_id")?,
        cnf_x5t: row.opt_text("cnf_x5t")?,
        cnf_jkt: row.opt_text("cnf_jkt")?,
        claims: json_object(&row.text("claims")?, "claims")?,
        used_at: opt_time(row.opt_int("used_at")?),
        revoked_at: opt_time(row.opt_int("revoked_at")?),
        owner,
    })
}

pub(crate) async fn find_token<B: Backend>(
    b: &B,
    hash: &KeyHash,
) -> Result<Option<TokenRecord>, StoreError> {
    let mut conn = b.read_conn().await?;
    conn.fetch_opt(SELECT, &[Arg::Bytes(hash.as_bytes())])
        .await?
        .as_ref()
        .map(record)
        .transpose()
}

pub(super) async fn revoke_family_in<C: SqlConn + ?Sized>(
    conn: &mut C,
    family_id: &str,
    now: SystemTime,
) -> Result<u64, StoreError> {
    conn.exec(
        "UPDATE oauth_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        &[Arg::Text(family_id), Arg::Int(to_millis(now))],
    )
    .await
}

pub(crate) async fn revoke_token<B: Backend>(
    b: &B,
    hash: &KeyHash,
    credential_id: &str,
    family: bool,
) -> Result<u64, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let Some(row) = tx
        .fetch_opt(
            "SELECT id, family_id FROM oauth_tokens WHERE token_hash = $1 AND credential_id = $2",
            &[Arg::Bytes(hash.as_bytes()), Arg::Text(credential_id)],
        )
        .await?
    else {
        return Ok(0);
    };
    let changed = if family {
        revoke_family_in(&mut *tx, &row.text("family_id")?, now).await?
    } else {
        tx.exec(
            "UPDATE oauth_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[Arg::Text(&row.text("id")?), Arg::Int(to_millis(now))],
        )
        .await?
    };
    commit(b, tx, None).await?;
    Ok(changed)
}

pub(crate) async fn revoke_family<B: Backend>(b: &B, family_id: &str) -> Result<u64, StoreError> {
    let mut tx = b.begin_write().await?;
    let n = revoke_family_in(&mut *tx, family_id, SystemTime::now()).await?;
    commit(b, tx, None).await?;
    Ok(n)
}

pub(crate) async fn rotate_refresh_token<B: Backend>(
    b: &B,
    old_id: &str,
    new_tokens: &[NewToken],
) -> Result<Rotation, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    // Conditional, under the backend's write lock: of many concurrent rotations of one token,
    // exactly one changes the row.
    let won = tx
        .exec(
            "UPDATE oauth_tokens SET used_at = $2 WHERE id = $1 AND kind = 'refresh' \
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
            &[Arg::Text(old_id), Arg::Int(to_millis(now))],
        )
        .await?;
    let outcome = if won == 1 {
        insert_all(&mut *tx, new_tokens).await?;
        Rotation::Rotated
    } else {
        let family = tx
            .fetch_opt(
                "SELECT family_id FROM oauth_tokens WHERE id = $1",
                &[Arg::Text(old_id)],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("token", old_id))?
            .text("family_id")?;
        Rotation::Replayed {
            revoked: revoke_family_in(&mut *tx, &family, now).await?,
        }
    };
    commit(b, tx, None).await?;
    Ok(outcome)
}

pub(crate) async fn purge_expired<B: Backend>(
    b: &B,
    before: SystemTime,
) -> Result<u64, StoreError> {
    let at = to_millis(before);
    let mut tx = b.begin_write().await?;
    let tokens = tx
        .exec(
            "DELETE FROM oauth_tokens WHERE expires_at < $1",
            &[Arg::Int(at)],
        )
        .await?;
    let codes = tx
        .exec(
            "DELETE FROM oauth_codes WHERE expires_at < $1",
            &[Arg::Int(at)],
        )
        .await?;
    let assertions = super::assertions::purge(&mut *tx, before).await?;
    commit(b, tx, None).await?;
    Ok(tokens + codes + assertions)
}
