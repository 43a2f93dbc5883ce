//! `KeyRepository` semantics, written once for every SQL backend.
//!
//! Every write runs in one transaction (taken with the backend's write lock, so writers queue
//! instead of failing on a stale snapshot and change-log seqs commit in order) that also
//! appends to `change_log`, so a reader either sees the change and its log entry or neither;
//! the seq is announced to in-process listeners only after commit.
//!
//! The writes are thin wrappers over the management-plane implementation in
//! [`super::catalog`] (same validation, versions and audit entries, with the actor `cli`), so
//! the two paths cannot disagree about what a change does.

use std::time::SystemTime;

use super::backend::Backend;
use super::catalog::{Record, apps, credentials, developers, docs, finish};
use super::rows::{self, app_select, key_select};
use super::{Arg, SqlConn, SqlRow};
use crate::StoreError;
use crate::management::{Actor, AppSpec, Attributes, DeveloperSpec};
use crate::model::{
    App, AppStatus, CredentialEntry, Developer, DeveloperStatus, KeyRecord, creation_time,
    normalize_email, to_millis, validate_name,
};
use crate::secret::SecretKey;

pub(crate) type KeyGen<'a> = &'a mut (dyn FnMut() -> Result<SecretKey, StoreError> + Send);

/// Who the audit log names for writes through `KeyRepository` (the `portcullis keys` CLI).
fn legacy_actor() -> Actor {
    Actor("cli".into())
}

/// Commits `tx` and announces `seq` (if the transaction logged a change) to in-process
/// listeners, in that order, so a listener never reloads before the change is visible.
pub(crate) async fn commit<B: Backend>(
    b: &B,
    tx: B::Tx,
    seq: Option<i64>,
) -> Result<(), StoreError> {
    B::commit_tx(tx).await?;
    if let Some(seq) = seq {
        b.publish_local(seq);
    }
    Ok(())
}

/// Issues a key (no consumer secret, no products) using `generate` for the secret; split out
/// so tests can force prefix collisions.
pub(crate) async fn create_key_with<B: Backend>(
    b: &B,
    app_id: &str,
    expires_at: Option<SystemTime>,
    generate: KeyGen<'_>,
) -> Result<(KeyRecord, SecretKey), StoreError> {
    let now = creation_time();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(StoreError::Invalid("expiry must be in the future".into()));
    }
    let mut tx = b.begin_write().await?;
    let app_id = credentials::issuable_app(&mut *tx, app_id).await?;
    let new = credentials::insert_key(
        &mut *tx,
        b.keyring(),
        &app_id,
        expires_at,
        now,
        generate,
        false,
    )
    .await?;
    let detail = credentials::fetch(&mut *tx, &new.id).await?;
    let record = Record::create("credential", &new.id, docs::credential(&detail));
    finish(b, tx, &legacy_actor(), vec![record], now).await?;
    Ok((detail.key, new.key))
}

pub(crate) async fn ensure_developer<B: Backend>(
    b: &B,
    email: &str,
    name: &str,
) -> Result<Developer, StoreError> {
    let email = normalize_email(email)?;
    match developers::get(b, &email).await {
        Err(StoreError::NotFound { .. }) => {}
        found => return found.map(|d| d.developer),
    }
    let spec = DeveloperSpec {
        email: email.clone(),
        name: name.to_owned(),
        attributes: Attributes::new(),
    };
    match developers::create(b, &legacy_actor(), &spec).await {
        // Created concurrently by someone else: theirs is the one to return.
        Err(StoreError::Conflict(_)) => developers::get(b, &email).await.map(|d| d.developer),
        created => created.map(|d| d.developer),
    }
}

pub(crate) async fn ensure_app<B: Backend>(
    b: &B,
    developer_email: &str,
    app_name: &str,
) -> Result<App, StoreError> {
    let name = validate_name("app", app_name)?;
    let developer = ensure_developer(b, developer_email, developer_email).await?;
    match find_app(b, &developer.email, &name).await {
        Err(StoreError::NotFound { .. }) => {}
        found => return found,
    }
    let spec = AppSpec {
        name: name.clone(),
        ..AppSpec::default()
    };
    match apps::create(b, &legacy_actor(), &developer.id, &spec).await {
        Err(StoreError::Conflict(_)) => find_app(b, &developer.email, &name).await,
        created => created.map(|d| d.app),
    }
}

pub(crate) async fn find_app<B: Backend>(
    b: &B,
    developer_email: &str,
    app_name: &str,
) -> Result<App, StoreError> {
    let email = normalize_email(developer_email)?;
    let name = app_name.trim();
    let mut conn = b.read_conn().await?;
    let row = conn
        .fetch_opt(
            concat!(
                app_select!(),
                " WHERE name = $2 AND developer_id = (SELECT id FROM developers WHERE email = $1)"
            ),
            &[Arg::Text(&email), Arg::Text(name)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("app", &format!("{email}/{name}")))?;
    rows::app(&row)
}

pub(crate) async fn list_keys<B: Backend>(
    b: &B,
    app_filter: Option<&str>,
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut conn = b.read_conn().await?;
    // Two fixed statements instead of `$1 IS NULL OR ...`, which PostgreSQL cannot type.
    let rows = match app_filter {
        None => {
            conn.fetch_all(concat!(key_select!(), " ORDER BY k.created_at, k.id"), &[])
                .await?
        }
        Some(app) => {
            conn.fetch_all(
                concat!(
                    key_select!(),
                    " WHERE a.id = $1 OR a.name = $1 ORDER BY k.created_at, k.id"
                ),
                &[Arg::Text(app)],
            )
            .await?
        }
    };
    rows.iter().map(rows::key_record).collect()
}

pub(crate) async fn revoke_key<B: Backend>(
    b: &B,
    prefix_or_id: &str,
) -> Result<KeyRecord, StoreError> {
    if prefix_or_id.trim().is_empty() {
        return Err(StoreError::Invalid("a key prefix or id is required".into()));
    }
    match credentials::revoke(b, &legacy_actor(), prefix_or_id, None).await {
        Ok(detail) => Ok(detail.key),
        // This trait has always called them API keys.
        Err(StoreError::NotFound { id, .. }) => Err(StoreError::NotFound {
            entity: "api key",
            id,
        }),
        Err(e) => Err(e),
    }
}

pub(crate) async fn set_app_status<B: Backend>(
    b: &B,
    app_id: &str,
    status: AppStatus,
) -> Result<App, StoreError> {
    apps::set_status(b, &legacy_actor(), app_id, status, None)
        .await
        .map(|d| d.app)
}

pub(crate) async fn set_developer_status<B: Backend>(
    b: &B,
    developer: &str,
    status: DeveloperStatus,
) -> Result<Developer, StoreError> {
    developers::set_status(b, &legacy_actor(), developer, status, None)
        .await
        .map(|d| d.developer)
}

pub(crate) async fn load_credentials<B: Backend>(
    b: &B,
) -> Result<Vec<CredentialEntry>, StoreError> {
    super::catalog::gateway::load_credentials(b).await
}

pub(crate) async fn log_change<C: SqlConn + ?Sized>(
    conn: &mut C,
    entity: &str,
    entity_id: &str,
    at: SystemTime,
) -> Result<i64, StoreError> {
    conn.fetch_opt(
        "INSERT INTO change_log (entity, entity_id, at) VALUES ($1, $2, $3) RETURNING seq",
        &[
            Arg::Text(entity),
            Arg::Text(entity_id),
            Arg::Int(to_millis(at)),
        ],
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt("change log insert returned no seq".into()))?
    .int("seq")
}
