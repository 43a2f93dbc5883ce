//! Appending to the audit log, inside the caller's write transaction.
//!
//! Every repository write calls [`record`] before committing, so an audit entry exists exactly
//! when its change does. Callers pass documents that were built with secrets already left out
//! (hashes, ciphertexts, passwords never go into `before`/`after`); [`redact`] is a second line
//! of defence for field names that must never be recorded even if a caller slips.

use std::time::SystemTime;

use super::backend::Backend;
use super::{Arg, SqlConn, SqlRow};
use crate::StoreError;
use crate::management::{Actor, AuditEntry, AuditFilter, Page, PageRequest};
use crate::model::{from_millis, to_millis};

/// Field names whose values are replaced by `"<redacted>"` wherever they appear.
const SECRET_FIELDS: &[&str] = &[
    "key_hash",
    "secret_hash",
    "token_hash",
    "password",
    "password_hash",
    "totp_secret",
    "ciphertext",
    "value",
    "consumer_key",
    "consumer_secret",
    "private_key",
];

/// Replaces the values of [`SECRET_FIELDS`] at any depth.
pub(crate) fn redact(mut doc: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if SECRET_FIELDS.contains(&k.as_str()) && !child.is_null() {
                        *child = serde_json::Value::String("<redacted>".into());
                    } else {
                        walk(child);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut doc);
    doc
}

/// One audit record to append.
pub(crate) struct Change<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Appends `change` in the caller's transaction and returns its audit seq.
pub(crate) async fn record<C: SqlConn + ?Sized>(
    conn: &mut C,
    change: Change<'_>,
    at: SystemTime,
) -> Result<i64, StoreError> {
    let before = change.before.map(|d| redact(d).to_string());
    let after = change.after.map(|d| redact(d).to_string());
    conn.fetch_opt(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
        &[
            Arg::Int(to_millis(at)),
            Arg::Text(&change.actor.0),
            Arg::Text(change.action),
            Arg::Text(change.entity),
            Arg::Text(change.entity_id),
            Arg::OptText(before.as_deref()),
            Arg::OptText(after.as_deref()),
        ],
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt("audit insert returned no seq".into()))?
    .int("seq")
}

/// Decodes an `audit_log` row (`SELECT seq, at, actor, action, entity, entity_id, before, after`).
pub(crate) fn entry(row: &impl SqlRow) -> Result<AuditEntry, StoreError> {
    let doc = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
        row.opt_text(col)?
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|_| StoreError::Corrupt(format!("audit {col} is not JSON")))
            })
            .transpose()
    };
    Ok(AuditEntry {
        seq: row.int("seq")?,
        at: from_millis(row.int("at")?),
        actor: row.text("actor")?,
        action: row.text("action")?,
        entity: row.text("entity")?,
        entity_id: row.text("entity_id")?,
        before: doc("before")?,
        after: doc("after")?,
    })
}

/// Reads entries newest first; [`PageRequest::after`] is the last `seq` seen.
pub(crate) async fn list<B: Backend>(
    b: &B,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, StoreError> {
    let after = page
        .after
        .as_deref()
        .map(|a| {
            a.parse::<i64>().map_err(|_| {
                StoreError::Invalid("after: not a cursor returned by a previous page".into())
            })
        })
        .transpose()?;
    let limit = super::catalog::page_limit(page);
    let mut conn = b.read_conn().await?;
    let rows = conn
        .fetch_all(
            "SELECT seq, at, actor, action, entity, entity_id, before, after FROM audit_log \
             WHERE (CAST($1 AS BIGINT) IS NULL OR seq < $1) \
             AND (CAST($2 AS TEXT) IS NULL OR entity = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR entity_id = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR actor = $4) \
             ORDER BY seq DESC LIMIT $5",
            &[
                Arg::OptInt(after),
                Arg::OptText(filter.entity.as_deref()),
                Arg::OptText(filter.entity_id.as_deref()),
                Arg::OptText(filter.actor.as_deref()),
                Arg::Int(i64::from(limit) + 1),
            ],
        )
        .await?;
    let mut items = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let doc = serde_json::json!({
            "id": "cred_1",
            "key_hash": "abc",
            "nested": [{"value": "s3cret", "map": "m"}],
            "password": null,
        });
        let out = redact(doc).to_string();
        assert!(!out.contains("abc") && !out.contains("s3cret"), "{out}");
        assert!(
            out.contains("cred_1") && out.contains("\"map\":\"m\""),
            "{out}"
        );
        assert!(out.contains("\"password\":null"), "nulls stay null: {out}");
    }
}
