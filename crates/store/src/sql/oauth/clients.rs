//! Client lookup and authentication: apps are the OAuth clients, a credential's consumer key is
//! the `client_id` and its consumer secret the `client_secret`.
//!
//! Both are stored only as keyed hashes; a presented id is looked up by its hash and a secret
//! is compared hash to hash in constant time. Every failure (unknown key, no secret, wrong
//! secret, revoked or expired credential, revoked app, inactive developer) is the same
//! `Unauthorized`, so the token endpoint cannot be used to tell which keys exist.

use std::time::SystemTime;

use super::super::backend::Backend;
use super::super::{Arg, SqlConn, SqlRow};
use super::{json_list, json_object};
use crate::StoreError;
use crate::management::Attributes;
use crate::model::{from_millis, to_millis};
use crate::oauth::{ClientProduct, OAuthClient};

macro_rules! client_select {
    () => {
        "SELECT k.id AS credential_id, k.prefix, k.status AS key_status, k.expires_at, \
         a.id AS app_id, a.name AS app_name, a.status AS app_status, a.callback_urls, \
         a.attributes AS app_attributes, d.id AS developer_id, d.email AS developer_email, \
         d.status AS developer_status \
         FROM api_keys k JOIN apps a ON a.id = k.app_id JOIN developers d ON d.id = a.developer_id"
    };
}

const PRODUCTS_SELECT: &str = "SELECT p.name, p.scopes, p.attributes \
     FROM credential_products cp JOIN products p ON p.name = cp.product \
     WHERE cp.credential_id = $1 AND cp.status = 'approved' ORDER BY p.name";

/// Whether the credential, app and developer in `row` are all usable at `now`.
pub(super) fn usable(row: &impl SqlRow, now: SystemTime) -> Result<bool, StoreError> {
    let key_ok = row.text("key_status")? == "active"
        && row
            .opt_int("expires_at")?
            .is_none_or(|t| t > to_millis(now));
    Ok(
        key_ok
            && row.text("app_status")? == "approved"
            && row.text("developer_status")? == "active",
    )
}

async fn finish<C: SqlConn + ?Sized>(
    conn: &mut C,
    row: &C::Row,
) -> Result<OAuthClient, StoreError> {
    if !usable(row, SystemTime::now())? {
        return Err(StoreError::Unauthorized);
    }
    let credential_id = row.text("credential_id")?;
    let products = conn
        .fetch_all(PRODUCTS_SELECT, &[Arg::Text(&credential_id)])
        .await?
        .iter()
        .map(|p| {
            let attributes: Attributes = json_object(&p.text("attributes")?, "attributes")?
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect();
            Ok(ClientProduct {
                name: p.text("name")?,
                scopes: json_list(&p.text("scopes")?, "scopes")?,
                attributes,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let app_attributes: Attributes = json_object(&row.text("app_attributes")?, "attributes")?
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
    Ok(OAuthClient {
        credential_id,
        prefix: row.text("prefix")?,
        app_id: row.text("app_id")?,
        app_name: row.text("app_name")?,
        developer_id: row.text("developer_id")?,
        developer_email: row.text("developer_email")?,
        callback_urls: json_list(&row.text("callback_urls")?, "callback_urls")?,
        app_attributes,
        products,
    })
}

pub(crate) async fn oauth_client<B: Backend>(
    b: &B,
    client_id: &str,
) -> Result<OAuthClient, StoreError> {
    let hash = b.keyring().hash_credential(client_id);
    let mut conn = b.read_conn().await?;
    let row = conn
        .fetch_opt(
            concat!(client_select!(), " WHERE k.key_hash = $1"),
            &[Arg::Bytes(hash.as_bytes())],
        )
        .await?
        .ok_or(StoreError::Unauthorized)?;
    finish(&mut *conn, &row).await
}

pub(crate) async fn authenticate_oauth_client<B: Backend>(
    b: &B,
    client_id: &str,
    client_secret: &str,
) -> Result<OAuthClient, StoreError> {
    let keyring = b.keyring();
    let hash = keyring.hash_credential(client_id);
    let presented = keyring.hash_credential(client_secret);
    let mut conn = b.read_conn().await?;
    let row = conn
        .fetch_opt(
            concat!(client_select!(), " WHERE k.key_hash = $1"),
            &[Arg::Bytes(hash.as_bytes())],
        )
        .await?;
    let Some(row) = row else {
        return Err(StoreError::Unauthorized);
    };
    let stored = conn
        .fetch_opt(
            "SELECT secret_hash FROM api_keys WHERE key_hash = $1 AND secret_hash IS NOT NULL",
            &[Arg::Bytes(hash.as_bytes())],
        )
        .await?
        .map(|r| r.bytes("secret_hash"))
        .transpose()?
        .ok_or(StoreError::Unauthorized)?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(&stored, presented.as_bytes()).is_err() {
        return Err(StoreError::Unauthorized);
    }
    finish(&mut *conn, &row).await
}

pub(crate) async fn oauth_client_by_credential<B: Backend>(
    b: &B,
    credential_id: &str,
) -> Result<OAuthClient, StoreError> {
    let mut conn = b.read_conn().await?;
    let row = conn
        .fetch_opt(
            concat!(client_select!(), " WHERE k.id = $1"),
            &[Arg::Text(credential_id)],
        )
        .await?
        .ok_or(StoreError::Unauthorized)?;
    finish(&mut *conn, &row).await
}

/// `from_millis` re-exported for siblings decoding optional times.
pub(super) fn opt_time(v: Option<i64>) -> Option<SystemTime> {
    v.map(from_millis)
}
