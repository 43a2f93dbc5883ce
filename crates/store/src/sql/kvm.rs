//! `KvmRepository` for every SQL backend: encrypted key-value maps, per environment.
//!
//! What it protects: a stolen database, dump, backup or replica must not reveal a value. Each
//! value is sealed (AES-256-GCM, fresh random nonce per write) under the master key's KVM
//! subkey, with `environment/map/key` as associated data, so a ciphertext copied into another
//! row, or read with another master key, fails to open instead of yielding a value. Values
//! never enter the audit log, the change log, an error message or a listing; only
//! [`kvm_get`] and [`kvm_load_environment`] decrypt.
//!
//! Entries live in existing environments: a write to an unknown one is `NotFound`, and the
//! catalog refuses to delete an environment that still holds entries.

use std::time::SystemTime;

use serde_json::json;

use super::audit::{self, Change};
use super::backend::Backend;
use super::repo::{commit, log_change};
use super::{Arg, SqlConn, SqlRow};
use crate::management::{Actor, KvmEntryInfo};
use crate::model::{creation_time, from_millis, to_millis};
use crate::{Purpose, StoreError};

/// Largest value accepted, in bytes: KVMs hold secrets and small settings, not documents, and
/// the gateway keeps every entry of its environment in memory.
pub(crate) const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Longest entry key, in characters.
pub(crate) const MAX_KEY_CHARS: usize = 256;
/// Longest map name, in characters.
const MAX_MAP_CHARS: usize = 100;
/// Longest environment name (the catalog's rule: `[a-z0-9][a-z0-9-]{0,62}`).
const MAX_ENVIRONMENT_CHARS: usize = 63;
/// Name of the change-log and audit entity.
const ENTITY: &str = "kvm";

macro_rules! kvm_select {
    () => {
        "SELECT environment, map, key, version, updated_at FROM kvm_entries"
    };
}

/// A validated entry address. Environment and map names cannot contain `/`, so the context
/// string `environment/map/key` names exactly one entry even when the key has slashes.
struct EntryId<'a> {
    environment: &'a str,
    map: &'a str,
    key: &'a str,
}

impl<'a> EntryId<'a> {
    fn new(environment: &'a str, map: &'a str, key: &'a str) -> Result<Self, StoreError> {
        check_environment(environment)?;
        check_map(map)?;
        check_key(key)?;
        Ok(EntryId {
            environment,
            map,
            key,
        })
    }

    /// Associated data for sealing, and the entity id in the audit and change logs.
    fn context(&self) -> String {
        format!("{}/{}/{}", self.environment, self.map, self.key)
    }

    fn args(&self) -> [Arg<'a>; 3] {
        [
            Arg::Text(self.environment),
            Arg::Text(self.map),
            Arg::Text(self.key),
        ]
    }

    /// Metadata only: what the audit log records for this entry.
    fn audit_doc(&self, version: i64) -> serde_json::Value {
        json!({
            "environment": self.environment,
            "map": self.map,
            "key": self.key,
            "version": version,
        })
    }
}

fn check_environment(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= MAX_ENVIRONMENT_CHARS;
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "environment: must match [a-z0-9][a-z0-9-]{{0,{}}}",
            MAX_ENVIRONMENT_CHARS - 1
        )))
    }
}

fn check_map(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_MAP_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "map: must be 1 to {MAX_MAP_CHARS} characters of [A-Za-z0-9._-]"
        )))
    }
}

fn check_key(key: &str) -> Result<(), StoreError> {
    let count = key.chars().count();
    if count == 0 || count > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "key: must be 1 to {MAX_KEY_CHARS} printable characters"
        )));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "value: must be at most {MAX_VALUE_BYTES} bytes, got {}",
            value.len()
        )));
    }
    Ok(())
}

fn info(row: &impl SqlRow) -> Result<KvmEntryInfo, StoreError> {
    Ok(KvmEntryInfo {
        environment: row.text("environment")?,
        map: row.text("map")?,
        key: row.text("key")?,
        version: row.int("version")?,
        updated_at: from_millis(row.int("updated_at")?),
    })
}

/// Opens a stored ciphertext; the context is rebuilt from the row's own address.
fn open(b: &impl Backend, info: &KvmEntryInfo, sealed: &[u8]) -> Result<String, StoreError> {
    let context = format!("{}/{}/{}", info.environment, info.map, info.key);
    let plain = b.keyring().open(Purpose::Kvm, context.as_bytes(), sealed)?;
    String::from_utf8(plain.to_vec())
        .map_err(|_| StoreError::Corrupt("a KVM value is not UTF-8".into()))
}

async fn fetch_info<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: &EntryId<'_>,
) -> Result<Option<KvmEntryInfo>, StoreError> {
    conn.fetch_opt(
        concat!(
            kvm_select!(),
            " WHERE environment = $1 AND map = $2 AND key = $3"
        ),
        &id.args(),
    )
    .await?
    .as_ref()
    .map(info)
    .transpose()
}

fn stale(id: &EntryId<'_>, current: i64) -> StoreError {
    StoreError::Stale {
        entity: "kvm entry",
        id: id.context(),
        current,
    }
}

pub(crate) async fn kvm_put<B: Backend>(
    b: &B,
    actor: &Actor,
    environment: &str,
    map: &str,
    key: &str,
    value: &str,
    expected_version: Option<i64>,
) -> Result<KvmEntryInfo, StoreError> {
    let id = EntryId::new(environment, map, key)?;
    check_value(value)?;
    let context = id.context();
    let sealed = b
        .keyring()
        .seal(Purpose::Kvm, context.as_bytes(), value.as_bytes())?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    if tx
        .fetch_opt(
            "SELECT name FROM environments WHERE name = $1",
            &[Arg::Text(environment)],
        )
        .await?
        .is_none()
    {
        return Err(StoreError::not_found("environment", environment));
    }
    let current = fetch_info(&mut *tx, &id).await?;
    let [env_arg, map_arg, key_arg] = id.args();
    let (action, before, version) = match (&current, expected_version) {
        (Some(cur), Some(want)) if cur.version != want => return Err(stale(&id, cur.version)),
        (None, Some(_)) => return Err(StoreError::not_found("kvm entry", &context)),
        (Some(cur), _) => {
            tx.exec(
                "UPDATE kvm_entries SET ciphertext = $4, version = $5, updated_at = $6 \
                 WHERE environment = $1 AND map = $2 AND key = $3",
                &[
                    env_arg,
                    map_arg,
                    key_arg,
                    Arg::Bytes(&sealed),
                    Arg::Int(cur.version + 1),
                    Arg::Int(to_millis(now)),
                ],
            )
            .await?;
            ("update", Some(id.audit_doc(cur.version)), cur.version + 1)
        }
        (None, None) => {
            tx.exec(
                "INSERT INTO kvm_entries \
                 (environment, map, key, ciphertext, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5, $5)",
                &[
                    env_arg,
                    map_arg,
                    key_arg,
                    Arg::Bytes(&sealed),
                    Arg::Int(to_millis(now)),
                ],
            )
            .await?;
            ("create", None, 1)
        }
    };
    audit::record(
        &mut *tx,
        Change {
            actor,
            action,
            entity: ENTITY,
            entity_id: &context,
            before,
            after: Some(id.audit_doc(version)),
        },
        now,
    )
    .await?;
    let seq = log_change(&mut *tx, ENTITY, &context, now).await?;
    let stored = fetch_info(&mut *tx, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a written KVM entry is missing".into()))?;
    commit(b, tx, Some(seq)).await?;
    Ok(stored)
}

pub(crate) async fn kvm_get<B: Backend>(
    b: &B,
    environment: &str,
    map: &str,
    key: &str,
) -> Result<(KvmEntryInfo, String), StoreError> {
    let id = EntryId::new(environment, map, key)?;
    let mut conn = b.read_conn().await?;
    let row = conn
        .fetch_opt(
            "SELECT environment, map, key, version, updated_at, ciphertext FROM kvm_entries \
             WHERE environment = $1 AND map = $2 AND key = $3",
            &id.args(),
        )
        .await?
        .ok_or_else(|| StoreError::not_found("kvm entry", &id.context()))?;
    let entry = info(&row)?;
    let value = open(b, &entry, &row.bytes("ciphertext")?)?;
    Ok((entry, value))
}

/// An audited read: the audit entry and the decryption happen under one write transaction,
/// and no change-log row is written (nothing changed, so no node needs to reload).
pub(crate) async fn kvm_reveal<B: Backend>(
    b: &B,
    actor: &Actor,
    environment: &str,
    map: &str,
    key: &str,
) -> Result<(KvmEntryInfo, String), StoreError> {
    let id = EntryId::new(environment, map, key)?;
    let context = id.context();
    let mut tx = b.begin_write().await?;
    let row = tx
        .fetch_opt(
            "SELECT environment, map, key, version, updated_at, ciphertext FROM kvm_entries \
             WHERE environment = $1 AND map = $2 AND key = $3",
            &id.args(),
        )
        .await?
        .ok_or_else(|| StoreError::not_found("kvm entry", &context))?;
    let entry = info(&row)?;
    let value = open(b, &entry, &row.bytes("ciphertext")?)?;
    audit::record(
        &mut *tx,
        Change {
            actor,
            action: "reveal",
            entity: ENTITY,
            entity_id: &context,
            before: None,
            after: Some(id.audit_doc(entry.version)),
        },
        creation_time(),
    )
    .await?;
    commit(b, tx, None).await?;
    Ok((entry, value))
}

pub(crate) async fn kvm_list<B: Backend>(
    b: &B,
    environment: &str,
    map: Option<&str>,
) -> Result<Vec<KvmEntryInfo>, StoreError> {
    check_environment(environment)?;
    let mut conn = b.read_conn().await?;
    // Two fixed statements instead of `$2 IS NULL OR ...`, which PostgreSQL cannot type.
    let rows = match map {
        None => {
            conn.fetch_all(
                concat!(kvm_select!(), " WHERE environment = $1 ORDER BY map, key"),
                &[Arg::Text(environment)],
            )
            .await?
        }
        Some(map) => {
            check_map(map)?;
            conn.fetch_all(
                concat!(
                    kvm_select!(),
                    " WHERE environment = $1 AND map = $2 ORDER BY key"
                ),
                &[Arg::Text(environment), Arg::Text(map)],
            )
            .await?
        }
    };
    rows.iter().map(info).collect()
}

pub(crate) async fn kvm_delete<B: Backend>(
    b: &B,
    actor: &Actor,
    environment: &str,
    map: &str,
    key: &str,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let id = EntryId::new(environment, map, key)?;
    let context = id.context();
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let current = fetch_info(&mut *tx, &id)
        .await?
        .ok_or_else(|| StoreError::not_found("kvm entry", &context))?;
    if expected_version.is_some_and(|want| want != current.version) {
        return Err(stale(&id, current.version));
    }
    tx.exec(
        "DELETE FROM kvm_entries WHERE environment = $1 AND map = $2 AND key = $3",
        &id.args(),
    )
    .await?;
    audit::record(
        &mut *tx,
        Change {
            actor,
            action: "delete",
            entity: ENTITY,
            entity_id: &context,
            before: Some(id.audit_doc(current.version)),
            after: None,
        },
        now,
    )
    .await?;
    let seq = log_change(&mut *tx, ENTITY, &context, now).await?;
    commit(b, tx, Some(seq)).await
}

pub(crate) async fn kvm_load_environment<B: Backend>(
    b: &B,
    environment: &str,
) -> Result<Vec<(KvmEntryInfo, String)>, StoreError> {
    check_environment(environment)?;
    let mut conn = b.read_conn().await?;
    let rows = conn
        .fetch_all(
            "SELECT environment, map, key, version, updated_at, ciphertext FROM kvm_entries \
             WHERE environment = $1 ORDER BY map, key",
            &[Arg::Text(environment)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let entry = info(row)?;
            let value = open(b, &entry, &row.bytes("ciphertext")?)?;
            Ok((entry, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_errors_name_the_field() {
        assert!(EntryId::new("prod", "backend-creds", "db/password").is_ok());
        let field = |r: Result<EntryId<'_>, StoreError>| match r {
            Err(StoreError::Invalid(m)) => m.split(':').next().unwrap().to_owned(),
            other => panic!("expected Invalid, got {:?}", other.map(|i| i.context())),
        };
        assert_eq!(field(EntryId::new("Prod", "m", "k")), "environment");
        assert_eq!(field(EntryId::new("-prod", "m", "k")), "environment");
        assert_eq!(
            field(EntryId::new(&"e".repeat(64), "m", "k")),
            "environment"
        );
        assert_eq!(field(EntryId::new("prod", "a/b", "k")), "map");
        assert_eq!(field(EntryId::new("prod", "", "k")), "map");
        assert_eq!(field(EntryId::new("prod", "m", "")), "key");
        assert_eq!(field(EntryId::new("prod", "m", "a\nb")), "key");
        let long_key = "k".repeat(MAX_KEY_CHARS + 1);
        assert_eq!(field(EntryId::new("prod", "m", &long_key)), "key");
        assert!(EntryId::new("prod", "m", &"k".repeat(MAX_KEY_CHARS)).is_ok());
    }

    #[test]
    fn values_are_limited_in_bytes() {
        assert!(check_value(&"v".repeat(MAX_VALUE_BYTES)).is_ok());
        let err = check_value(&"v".repeat(MAX_VALUE_BYTES + 1)).unwrap_err();
        assert!(err.to_string().contains("value:"), "{err}");
    }
}
