//! `KeyRepository` semantics, written once for every SQL backend.
//!
//! Every write runs in one transaction (taken with the backend's write lock, so writers queue
//! instead of failing on a stale snapshot and change-log seqs commit in order) that also
//! appends to `change_log`, so a reader either sees the change and its log entry or neither;
//! the seq is announced to in-process listeners only after commit.

use std::time::SystemTime;

use super::backend::Backend;
use super::rows::{self, CREDENTIALS_SELECT, app_select, developer_select, key_select};
use super::{Arg, SqlConn, SqlRow};
use crate::StoreError;
use crate::model::{
    App, AppStatus, CredentialEntry, Developer, DeveloperStatus, KeyRecord, creation_time,
    normalize_email, to_millis, validate_name,
};
use crate::secret::{SecretKey, new_id};

/// How many fresh keys to draw when the 8-character prefix (≈ 47.6 bits) collides with an
/// existing one. One collision is already rare below millions of keys; five in a row means
/// something other than chance is wrong.
const KEY_ATTEMPTS: usize = 5;

pub(crate) type KeyGen<'a> = &'a mut (dyn FnMut() -> Result<SecretKey, StoreError> + Send);

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

/// Issues a key using `generate` for the secret; split out so tests can force collisions.
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
    let app = tx
        .fetch_opt(
            concat!(app_select!(), " WHERE id = $1"),
            &[Arg::Text(app_id)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("app", app_id))?;
    if rows::app(&app)?.status == AppStatus::Revoked {
        return Err(StoreError::Conflict(format!("app {app_id} is revoked")));
    }
    for _ in 0..KEY_ATTEMPTS {
        let secret = generate()?;
        let id = new_id("key")?;
        // DO NOTHING rather than catching the error: PostgreSQL aborts the whole
        // transaction on a constraint violation, SQLite does not; this behaves the same.
        let inserted = tx
            .exec(
                "INSERT INTO api_keys (id, app_id, prefix, key_hash, status, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, 'active', $5, $6) ON CONFLICT DO NOTHING",
                &[
                    Arg::Text(&id),
                    Arg::Text(app_id),
                    Arg::Text(secret.prefix()),
                    Arg::Bytes(&b.keyring().hash_credential(secret.expose()).as_bytes()[..]),
                    Arg::Int(to_millis(now)),
                    Arg::OptInt(expires_at.map(to_millis)),
                ],
            )
            .await?;
        if inserted == 0 {
            tracing::debug!("api key prefix collision, drawing a new key");
            continue;
        }
        let seq = log_change(&mut *tx, "api_key", &id, now).await?;
        let record = fetch_key(&mut *tx, &id).await?;
        commit(b, tx, Some(seq)).await?;
        return Ok((record, secret));
    }
    Err(StoreError::Conflict(
        "could not draw a key with an unused prefix".into(),
    ))
}

pub(crate) async fn ensure_developer<B: Backend>(
    b: &B,
    email: &str,
    name: &str,
) -> Result<Developer, StoreError> {
    let email = normalize_email(email)?;
    let name = validate_name("developer", name)?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let id = new_id("dev")?;
    let inserted = tx
        .exec(
            "INSERT INTO developers (id, email, name, status, created_at) \
             VALUES ($1, $2, $3, 'active', $4) ON CONFLICT (email) DO NOTHING",
            &[
                Arg::Text(&id),
                Arg::Text(&email),
                Arg::Text(&name),
                Arg::Int(to_millis(now)),
            ],
        )
        .await?;
    let seq = if inserted == 1 {
        Some(log_change(&mut *tx, "developer", &id, now).await?)
    } else {
        None
    };
    let row = tx
        .fetch_opt(
            concat!(developer_select!(), " WHERE email = $1"),
            &[Arg::Text(&email)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("developer", &email))?;
    let developer = rows::developer(&row)?;
    commit(b, tx, seq).await?;
    Ok(developer)
}

pub(crate) async fn ensure_app<B: Backend>(
    b: &B,
    developer_email: &str,
    app_name: &str,
) -> Result<App, StoreError> {
    let name = validate_name("app", app_name)?;
    // The developer is created in its own transaction; a crash between the two leaves an
    // app-less developer, which is harmless and what the next call would create anyway.
    let developer = ensure_developer(b, developer_email, developer_email).await?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let id = new_id("app")?;
    let inserted = tx
        .exec(
            "INSERT INTO apps (id, developer_id, name, status, created_at) \
             VALUES ($1, $2, $3, 'approved', $4) ON CONFLICT (developer_id, name) DO NOTHING",
            &[
                Arg::Text(&id),
                Arg::Text(&developer.id),
                Arg::Text(&name),
                Arg::Int(to_millis(now)),
            ],
        )
        .await?;
    let seq = if inserted == 1 {
        Some(log_change(&mut *tx, "app", &id, now).await?)
    } else {
        None
    };
    let row = tx
        .fetch_opt(
            concat!(app_select!(), " WHERE developer_id = $1 AND name = $2"),
            &[Arg::Text(&developer.id), Arg::Text(&name)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("app", &name))?;
    let app = rows::app(&row)?;
    commit(b, tx, seq).await?;
    Ok(app)
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
    let wanted = prefix_or_id.trim();
    if wanted.is_empty() {
        return Err(StoreError::Invalid("a key prefix or id is required".into()));
    }
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let id = tx
        .fetch_opt(
            "SELECT id FROM api_keys WHERE id = $1 OR prefix = $1",
            &[Arg::Text(wanted)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("api key", wanted))?
        .text("id")?;
    let changed = tx
        .exec(
            "UPDATE api_keys SET status = 'revoked', revoked_at = $2 \
             WHERE id = $1 AND status = 'active'",
            &[Arg::Text(&id), Arg::Int(to_millis(now))],
        )
        .await?;
    let seq = if changed == 1 {
        Some(log_change(&mut *tx, "api_key", &id, now).await?)
    } else {
        None
    };
    let record = fetch_key(&mut *tx, &id).await?;
    commit(b, tx, seq).await?;
    Ok(record)
}

pub(crate) async fn set_app_status<B: Backend>(
    b: &B,
    app_id: &str,
    status: AppStatus,
) -> Result<App, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let changed = tx
        .exec(
            "UPDATE apps SET status = $2 WHERE id = $1 AND status <> $2",
            &[Arg::Text(app_id), Arg::Text(status.as_str())],
        )
        .await?;
    let row = tx
        .fetch_opt(
            concat!(app_select!(), " WHERE id = $1"),
            &[Arg::Text(app_id)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("app", app_id))?;
    let app = rows::app(&row)?;
    let seq = if changed == 1 {
        Some(log_change(&mut *tx, "app", &app.id, now).await?)
    } else {
        None
    };
    commit(b, tx, seq).await?;
    Ok(app)
}

pub(crate) async fn set_developer_status<B: Backend>(
    b: &B,
    developer: &str,
    status: DeveloperStatus,
) -> Result<Developer, StoreError> {
    let wanted = developer.trim();
    // Ids never contain '@', so an address can only ever match the email column.
    let email = wanted.to_lowercase();
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let row = tx
        .fetch_opt(
            concat!(developer_select!(), " WHERE id = $1 OR email = $2"),
            &[Arg::Text(wanted), Arg::Text(&email)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("developer", wanted))?;
    let mut dev = rows::developer(&row)?;
    // Conditional, so a concurrent identical change on PostgreSQL (whose row lock makes this
    // statement re-check after the other commits) is logged once, not twice.
    let changed = tx
        .exec(
            "UPDATE developers SET status = $2 WHERE id = $1 AND status <> $2",
            &[Arg::Text(&dev.id), Arg::Text(status.as_str())],
        )
        .await?;
    let seq = if changed == 1 {
        Some(log_change(&mut *tx, "developer", &dev.id, now).await?)
    } else {
        None
    };
    dev.status = status;
    commit(b, tx, seq).await?;
    Ok(dev)
}

pub(crate) async fn load_credentials<B: Backend>(
    b: &B,
) -> Result<Vec<CredentialEntry>, StoreError> {
    let mut conn = b.read_conn().await?;
    let rows = conn.fetch_all(CREDENTIALS_SELECT, &[]).await?;
    rows.iter().map(rows::credential).collect()
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

async fn fetch_key<C: SqlConn + ?Sized>(conn: &mut C, id: &str) -> Result<KeyRecord, StoreError> {
    let row = conn
        .fetch_opt(concat!(key_select!(), " WHERE k.id = $1"), &[Arg::Text(id)])
        .await?
        .ok_or_else(|| StoreError::not_found("api key", id))?;
    rows::key_record(&row)
}
