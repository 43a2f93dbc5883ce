//! [`OAuthRepository`](crate::OAuthRepository) for every SQL backend, one file per concern:
//! client lookup ([`clients`]), tokens ([`tokens`]), authorization codes ([`codes`]), signing
//! keys ([`keys`]), end users ([`users`]) and single-use client assertions ([`assertions`]).
//!
//! Token and code writes append no `change_log` row: they are the authorization server's hot
//! path, and a change-log row would make every gateway node reload its credential index per
//! token. Writes still go through the backend's write transaction, which serialises them, so
//! "first use wins" checks (code redemption, refresh rotation) cannot race.

pub(crate) mod assertions;
pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod keys;
pub(crate) mod links;
pub(crate) mod tokens;
pub(crate) mod users;

use crate::StoreError;

/// Encodes a list of strings as the JSON text stored in list columns.
pub(super) fn list_json(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

/// Decodes a JSON list column.
pub(super) fn json_list(text: &str, col: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("{col} is not a JSON list")))
}

/// Decodes a JSON object column.
pub(super) fn json_object(
    text: &str,
    col: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{col} is not a JSON object")))
}
