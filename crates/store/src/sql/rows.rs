//! Row → model decoding and the shared SELECT lists.
//!
//! Kept apart from the queries so a malformed row (unknown status text, a hash of the wrong
//! length) becomes a `Corrupt` error in one place instead of a panic or a silent default.

use super::SqlRow;
use super::catalog::parse_attributes;
use crate::StoreError;
use crate::model::{
    App, AppStatus, CredentialEntry, Developer, DeveloperStatus, KeyRecord, KeyStatus, from_millis,
};
use crate::secret::KeyHash;

macro_rules! app_select {
    () => {
        "SELECT id, developer_id, name, status, created_at FROM apps"
    };
}
/// Key listing: never selects `key_hash`, so a record cannot carry it by accident.
macro_rules! key_select {
    () => {
        "SELECT k.id, k.prefix, k.app_id, a.name AS app_name, d.email AS developer_email, \
         k.status, k.created_at, k.expires_at, k.revoked_at \
         FROM api_keys k JOIN apps a ON a.id = k.app_id JOIN developers d ON d.id = a.developer_id"
    };
}
pub(crate) use {app_select, key_select};

pub(crate) fn developer(row: &impl SqlRow) -> Result<Developer, StoreError> {
    Ok(Developer {
        id: row.text("id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        status: DeveloperStatus::parse(&row.text("status")?)?,
        created_at: from_millis(row.int("created_at")?),
    })
}

pub(crate) fn app(row: &impl SqlRow) -> Result<App, StoreError> {
    Ok(App {
        id: row.text("id")?,
        developer_id: row.text("developer_id")?,
        name: row.text("name")?,
        status: AppStatus::parse(&row.text("status")?)?,
        created_at: from_millis(row.int("created_at")?),
    })
}

pub(crate) fn key_record(row: &impl SqlRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: row.text("id")?,
        prefix: row.text("prefix")?,
        app_id: row.text("app_id")?,
        app_name: row.text("app_name")?,
        developer_email: row.text("developer_email")?,
        status: KeyStatus::parse(&row.text("status")?)?,
        created_at: from_millis(row.int("created_at")?),
        expires_at: row.opt_int("expires_at")?.map(from_millis),
        revoked_at: row.opt_int("revoked_at")?.map(from_millis),
    })
}

/// The credential part of a gateway snapshot row (see `catalog::gateway`); products are
/// attached by the caller.
pub(crate) fn credential(row: &impl SqlRow) -> Result<CredentialEntry, StoreError> {
    let hash = row.bytes("key_hash")?;
    Ok(CredentialEntry {
        key_hash: KeyHash::from_slice(&hash)?,
        key_id: row.text("key_id")?,
        prefix: row.text("prefix")?.into(),
        key_status: KeyStatus::parse(&row.text("key_status")?)?,
        expires_at: row.opt_int("expires_at")?.map(from_millis),
        app_id: row.text("app_id")?.into(),
        app_name: row.text("app_name")?.into(),
        app_status: AppStatus::parse(&row.text("app_status")?)?,
        developer_id: row.text("developer_id")?.into(),
        developer_email: row.text("developer_email")?.into(),
        developer_status: DeveloperStatus::parse(&row.text("developer_status")?)?,
        products: Vec::new(),
        app_attributes: parse_attributes(&row.text("app_attributes")?, "app")?,
        developer_attributes: parse_attributes(&row.text("developer_attributes")?, "developer")?,
    })
}
