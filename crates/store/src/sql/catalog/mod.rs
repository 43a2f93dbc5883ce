//! `CatalogRepository` semantics (environments, developers, apps, credentials, products),
//! written once for every SQL backend.
//!
//! Every write follows the same shape, so the guarantees of the management contract hold by
//! construction rather than by care in each method:
//! 1. validate the input completely (all field problems reported at once, each naming its
//!    field) before opening a transaction;
//! 2. open one write transaction ([`Backend::begin_write`]), read the current row, check the
//!    caller's expected `version` ([`check_version`]);
//! 3. change the rows, then [`finish`]: append the audit entries and one `change_log` row and
//!    commit, announcing the seq to in-process listeners. Any error before the commit drops
//!    the transaction, so nothing is half-applied.

pub(crate) mod apply;
pub(crate) mod apps;
pub(crate) mod credentials;
pub(crate) mod developers;
pub(crate) mod docs;
pub(crate) mod environments;
pub(crate) mod gateway;
pub(crate) mod products;
pub(crate) mod validate;

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use super::audit::{self, Change};
use super::backend::Backend;
use super::repo::{commit, log_change};
use crate::StoreError;
use crate::management::{Actor, Attributes, PageRequest};

/// Default and maximum page sizes (see [`PageRequest`]).
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;

/// One audit entry to append, owning its data (cascades build several).
pub(crate) struct Record {
    pub action: &'static str,
    pub entity: &'static str,
    pub id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Record {
    pub(crate) fn create(entity: &'static str, id: &str, after: serde_json::Value) -> Self {
        Self::change("create", entity, id, None, Some(after))
    }

    pub(crate) fn delete(entity: &'static str, id: &str, before: serde_json::Value) -> Self {
        Self::change("delete", entity, id, Some(before), None)
    }

    pub(crate) fn change(
        action: &'static str,
        entity: &'static str,
        id: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        Record {
            action,
            entity,
            id: id.to_owned(),
            before,
            after,
        }
    }
}

/// Appends the audit entries and one change-log row (for the first record's entity), then
/// commits and tells in-process listeners (the local credential index) about the new seq.
pub(crate) async fn finish<B: Backend>(
    b: &B,
    mut tx: B::Tx,
    actor: &Actor,
    records: Vec<Record>,
    at: SystemTime,
) -> Result<(), StoreError> {
    let (entity, id) = records
        .first()
        .map(|r| (r.entity, r.id.clone()))
        .ok_or_else(|| StoreError::Corrupt("a write without an audit record".into()))?;
    for r in records {
        let change = Change {
            actor,
            action: r.action,
            entity: r.entity,
            entity_id: &r.id,
            before: r.before,
            after: r.after,
        };
        audit::record(&mut *tx, change, at).await?;
    }
    let seq = log_change(&mut *tx, entity, &id, at).await?;
    commit(b, tx, Some(seq)).await
}

/// Optimistic concurrency: `Stale` unless the caller's expected version is the stored one.
pub(crate) fn check_version(
    entity: &'static str,
    id: &str,
    current: i64,
    expected: Option<i64>,
) -> Result<(), StoreError> {
    match expected {
        Some(v) if v != current => Err(StoreError::Stale {
            entity,
            id: id.to_owned(),
            current,
        }),
        _ => Ok(()),
    }
}

/// The number of rows to return for `page` (clamped to 1..=500, default 100).
pub(crate) fn page_limit(page: &PageRequest) -> u32 {
    page.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// A keyset position: the last row of the previous page, by `(created_at, id)`.
pub(crate) struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// Opaque to callers (base64url of `created_at:id`), so the ordering can change later.
    pub(crate) fn encode(created_at: i64, id: &str) -> String {
        B64URL.encode(format!("{created_at}:{id}"))
    }

    /// Decodes [`PageRequest::after`]; `None` for the first page.
    pub(crate) fn decode(page: &PageRequest) -> Result<Option<Cursor>, StoreError> {
        let Some(raw) = page.after.as_deref() else {
            return Ok(None);
        };
        let bad = || StoreError::Invalid("after: not a cursor returned by a previous page".into());
        let text = B64URL
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let (ms, id) = text.split_once(':').ok_or_else(bad)?;
        let created_at = ms.parse().map_err(|_| bad())?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(Some(Cursor {
            created_at,
            id: id.to_owned(),
        }))
    }
}

/// Cuts a result fetched with `limit + 1` rows down to one page and computes its cursor.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> (i64, &str),
) -> crate::management::Page<T> {
    let limit = limit as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| {
            let (at, id) = key(last);
            Cursor::encode(at, id)
        })
    } else {
        None
    };
    crate::management::Page { items, next }
}

/// Stored JSON text → attributes; a malformed value is `Corrupt`, never a silent default.
pub(crate) fn parse_attributes(text: &str, what: &str) -> Result<Attributes, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{what} attributes are not a JSON object")))
}

/// Stored JSON text → list of strings.
pub(crate) fn parse_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON list of strings")))
}

/// Serialises attributes for storage.
pub(crate) fn attributes_text(attributes: &Attributes) -> String {
    serde_json::Value::Object(
        attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
    .to_string()
}

/// Serialises a list of strings for storage.
pub(crate) fn list_text(items: &[String]) -> String {
    serde_json::Value::Array(
        items
            .iter()
            .map(|s| serde_json::Value::String(s.clone()))
            .collect(),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_invalid() {
        let page = PageRequest {
            after: Some(Cursor::encode(1_700_000_000_123, "dev_abc:def")),
            limit: None,
        };
        let c = Cursor::decode(&page).unwrap().unwrap();
        assert_eq!(
            (c.created_at, c.id.as_str()),
            (1_700_000_000_123, "dev_abc:def")
        );
        for bad in ["", "!!", "bm9jb2xvbg", "MTIzOg"] {
            let page = PageRequest {
                after: Some(bad.into()),
                limit: None,
            };
            let err = Cursor::decode(&page).err().expect(bad).to_string();
            assert!(err.contains("after:"), "{err}");
        }
    }

    #[test]
    fn limits_are_clamped() {
        let at = |limit| page_limit(&PageRequest { after: None, limit });
        assert_eq!(
            (at(None), at(Some(0)), at(Some(7)), at(Some(10_000))),
            (100, 1, 7, 500)
        );
    }

    #[test]
    fn json_columns_round_trip() {
        let mut a = Attributes::new();
        a.insert("tier".into(), "gold \"1\"".into());
        assert_eq!(parse_attributes(&attributes_text(&a), "x").unwrap(), a);
        let l = vec!["/a".to_owned(), "/b".to_owned()];
        assert_eq!(parse_list(&list_text(&l), "x").unwrap(), l);
        assert!(parse_list("{}", "x").is_err());
    }
}
