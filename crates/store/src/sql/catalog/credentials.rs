//! Credentials (consumer key + secret) and their per-product approvals.
//!
//! `api_keys` is the credentials table. The key and the secret are drawn from the OS RNG
//! (`pcl_`/`pcs_` + 32 base62 characters, about 190 bits each), returned once, and stored only
//! as keyed hashes (`Keyring::hash_credential`); a fast keyed hash is enough at that entropy.
//! Rotation issues a second credential with the same approvals and shortens the old one's
//! life, so both work during the overlap and clients can switch without downtime.

use std::collections::HashMap;
use std::time::SystemTime;

use super::validate::Problems;
use super::{Record, check_version, docs, finish, validate};
use crate::management::{
    Actor, ApprovalStatus, ApprovalType, CredentialDetail, CredentialSpec, IssuedCredential,
    ProductApproval,
};
use crate::model::{AppStatus, KeyStatus, creation_time, to_millis};
use crate::secret::{SecretKey, new_id};
use crate::sql::backend::Backend;
use crate::sql::repo::KeyGen;
use crate::sql::{Arg, SqlConn, SqlRow, rows};
use crate::{Keyring, StoreError};

/// How many fresh keys to draw when the 8-character prefix (≈ 47.6 bits) collides with an
/// existing one. One collision is already rare below millions of keys; five in a row means
/// something other than chance is wrong.
const KEY_ATTEMPTS: usize = 5;

/// Never selects `key_hash` or `secret_hash`, so a record cannot carry them by accident.
macro_rules! select {
    () => {
        "SELECT k.id, k.prefix, k.app_id, a.name AS app_name, d.email AS developer_email, \
         k.status, k.created_at, k.expires_at, k.revoked_at, k.version \
         FROM api_keys k JOIN apps a ON a.id = k.app_id JOIN developers d ON d.id = a.developer_id"
    };
}

fn decode(
    row: &impl SqlRow,
    products: Vec<ProductApproval>,
) -> Result<CredentialDetail, StoreError> {
    Ok(CredentialDetail {
        key: rows::key_record(row)?,
        products,
        version: row.int("version")?,
    })
}

fn approval(row: &impl SqlRow) -> Result<ProductApproval, StoreError> {
    Ok(ProductApproval {
        product: row.text("product")?,
        status: ApprovalStatus::parse(&row.text("status")?)
            .map_err(|_| StoreError::Corrupt("unknown approval status".into()))?,
    })
}

/// Reads a credential by id or prefix.
pub(crate) async fn fetch<C: SqlConn + ?Sized>(
    conn: &mut C,
    id_or_prefix: &str,
) -> Result<CredentialDetail, StoreError> {
    let wanted = id_or_prefix.trim();
    if wanted.is_empty() {
        return Err(StoreError::Invalid(
            "a credential id or prefix is required".into(),
        ));
    }
    let row = conn
        .fetch_opt(
            concat!(select!(), " WHERE k.id = $1 OR k.prefix = $1"),
            &[Arg::Text(wanted)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("credential", wanted))?;
    let id = row.text("id")?;
    let products = conn
        .fetch_all(
            "SELECT product, status FROM credential_products WHERE credential_id = $1 \
             ORDER BY product",
            &[Arg::Text(&id)],
        )
        .await?
        .iter()
        .map(approval)
        .collect::<Result<_, _>>()?;
    decode(&row, products)
}

/// An app's credentials, oldest first (the app is not checked).
pub(crate) async fn of_app<C: SqlConn + ?Sized>(
    conn: &mut C,
    app_id: &str,
) -> Result<Vec<CredentialDetail>, StoreError> {
    let mut approvals: HashMap<String, Vec<ProductApproval>> = HashMap::new();
    for row in conn
        .fetch_all(
            "SELECT cp.credential_id, cp.product, cp.status FROM credential_products cp \
             JOIN api_keys k ON k.id = cp.credential_id WHERE k.app_id = $1 ORDER BY cp.product",
            &[Arg::Text(app_id)],
        )
        .await?
    {
        approvals
            .entry(row.text("credential_id")?)
            .or_default()
            .push(approval(&row)?);
    }
    conn.fetch_all(
        concat!(
            select!(),
            " WHERE k.app_id = $1 ORDER BY k.created_at, k.id"
        ),
        &[Arg::Text(app_id)],
    )
    .await?
    .iter()
    .map(|row| decode(row, approvals.remove(&row.text("id")?).unwrap_or_default()))
    .collect()
}

/// A freshly inserted key row: its id and the plaintexts, which exist nowhere else.
pub(crate) struct NewKey {
    pub id: String,
    pub key: SecretKey,
    pub secret: Option<SecretKey>,
}

/// Inserts a credential row for `app_id` (status active, version 1), drawing a new key while
/// its prefix collides. With `with_secret`, also draws a consumer secret.
pub(crate) async fn insert_key<C: SqlConn + ?Sized>(
    conn: &mut C,
    keyring: &Keyring,
    app_id: &str,
    expires_at: Option<SystemTime>,
    now: SystemTime,
    generate: KeyGen<'_>,
    with_secret: bool,
) -> Result<NewKey, StoreError> {
    for _ in 0..KEY_ATTEMPTS {
        let key = generate()?;
        let secret = if with_secret {
            Some(SecretKey::generate_marked(
                crate::secret::CONSUMER_SECRET_MARKER,
            )?)
        } else {
            None
        };
        let secret_hash = secret.as_ref().map(|s| keyring.hash_credential(s.expose()));
        let id = new_id("key")?;
        // DO NOTHING rather than catching the error: PostgreSQL aborts the whole
        // transaction on a constraint violation, SQLite does not; this behaves the same.
        let inserted = conn
            .exec(
                "INSERT INTO api_keys (id, app_id, prefix, key_hash, secret_hash, status, \
                 created_at, expires_at, version, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, 1, $6) ON CONFLICT DO NOTHING",
                &[
                    Arg::Text(&id),
                    Arg::Text(app_id),
                    Arg::Text(key.prefix()),
                    Arg::Bytes(&keyring.hash_credential(key.expose()).as_bytes()[..]),
                    Arg::OptBytes(secret_hash.as_ref().map(|h| &h.as_bytes()[..])),
                    Arg::Int(to_millis(now)),
                    Arg::OptInt(expires_at.map(to_millis)),
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(NewKey { id, key, secret });
        }
        tracing::debug!("api key prefix collision, drawing a new key");
    }
    Err(StoreError::Conflict(
        "could not draw a key with an unused prefix".into(),
    ))
}

/// Refuses to issue credentials for a revoked app.
pub(crate) async fn issuable_app<C: SqlConn + ?Sized>(
    conn: &mut C,
    app_id: &str,
) -> Result<String, StoreError> {
    let app = super::apps::fetch(conn, app_id).await?;
    if app.app.status == AppStatus::Revoked {
        return Err(StoreError::Conflict(format!(
            "app {} is revoked",
            app.app.id
        )));
    }
    Ok(app.app.id)
}

async fn insert_approval<C: SqlConn + ?Sized>(
    conn: &mut C,
    credential_id: &str,
    product: &str,
    status: ApprovalStatus,
    now: SystemTime,
) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO credential_products (credential_id, product, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4)",
        &[
            Arg::Text(credential_id),
            Arg::Text(product),
            Arg::Text(status.as_str()),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    Ok(())
}

/// The status a new association with `product` starts in (`NotFound` for an unknown product).
async fn initial_status<C: SqlConn + ?Sized>(
    conn: &mut C,
    product: &str,
) -> Result<ApprovalStatus, StoreError> {
    Ok(match super::products::approval_type(conn, product).await? {
        ApprovalType::Auto => ApprovalStatus::Approved,
        ApprovalType::Manual => ApprovalStatus::Pending,
    })
}

async fn bump<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: &str,
    now: SystemTime,
) -> Result<(), StoreError> {
    conn.exec(
        "UPDATE api_keys SET version = version + 1, updated_at = $2 WHERE id = $1",
        &[Arg::Text(id), Arg::Int(to_millis(now))],
    )
    .await?;
    Ok(())
}

fn check_spec(spec: &CredentialSpec, now: SystemTime) -> Result<(), StoreError> {
    let mut p = Problems::default();
    for (i, product) in spec.products.iter().enumerate() {
        validate::product_name(&mut p, &format!("products[{i}]"), product);
        if let Some(first) = spec.products[..i].iter().position(|x| x == product) {
            p.push(
                format_args!("products[{i}]"),
                format_args!("duplicate of products[{first}]"),
            );
        }
    }
    if spec.products.len() > validate::MAX_ITEMS {
        p.push(
            "products",
            format_args!("at most {} entries", validate::MAX_ITEMS),
        );
    }
    if spec.expires_at.is_some_and(|t| t <= now) {
        p.push("expires_at", "must be in the future");
    }
    p.finish()
}

pub(crate) async fn create<B: Backend>(
    b: &B,
    actor: &Actor,
    app_id: &str,
    spec: &CredentialSpec,
) -> Result<IssuedCredential, StoreError> {
    let now = creation_time();
    check_spec(spec, now)?;
    let mut tx = b.begin_write().await?;
    let app_id = issuable_app(&mut *tx, app_id).await?;
    let mut statuses = Vec::with_capacity(spec.products.len());
    for product in &spec.products {
        statuses.push((product.as_str(), initial_status(&mut *tx, product).await?));
    }
    let generate = &mut SecretKey::generate;
    let new = insert_key(
        &mut *tx,
        b.keyring(),
        &app_id,
        spec.expires_at,
        now,
        generate,
        true,
    )
    .await?;
    for (product, status) in statuses {
        insert_approval(&mut *tx, &new.id, product, status, now).await?;
    }
    let credential = fetch(&mut *tx, &new.id).await?;
    let record = Record::create("credential", &new.id, docs::credential(&credential));
    finish(b, tx, actor, vec![record], now).await?;
    issued(credential, new)
}

fn issued(credential: CredentialDetail, new: NewKey) -> Result<IssuedCredential, StoreError> {
    let consumer_secret = new
        .secret
        .ok_or_else(|| StoreError::Corrupt("credential issued without a secret".into()))?;
    Ok(IssuedCredential {
        credential,
        consumer_key: new.key,
        consumer_secret,
    })
}

pub(crate) async fn get<B: Backend>(
    b: &B,
    id_or_prefix: &str,
) -> Result<CredentialDetail, StoreError> {
    let mut conn = b.read_conn().await?;
    fetch(&mut *conn, id_or_prefix).await
}

pub(crate) async fn list<B: Backend>(
    b: &B,
    app_id: &str,
) -> Result<Vec<CredentialDetail>, StoreError> {
    let mut conn = b.read_conn().await?;
    let app = super::apps::fetch(&mut *conn, app_id).await?;
    of_app(&mut *conn, &app.app.id).await
}

pub(crate) async fn rotate<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_prefix: &str,
    old_expires_at: SystemTime,
) -> Result<IssuedCredential, StoreError> {
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let old = fetch(&mut *tx, id_or_prefix).await?;
    if old.key.status == KeyStatus::Revoked {
        return Err(StoreError::Conflict(format!(
            "credential {} is revoked; issue a new one instead of rotating it",
            old.key.id
        )));
    }
    let app_id = issuable_app(&mut *tx, &old.key.app_id).await?;
    // The new credential lives as long as the old one was meant to; the old one ends at the
    // chosen time, but never later than it would have anyway, and never in the past.
    let lifetime = old
        .key
        .expires_at
        .and_then(|exp| exp.duration_since(old.key.created_at).ok());
    let new_expiry = lifetime.map(|l| now + l);
    let old_expiry = old_expires_at.max(now);
    let old_expiry = old.key.expires_at.map_or(old_expiry, |e| e.min(old_expiry));
    let generate = &mut SecretKey::generate;
    let new = insert_key(
        &mut *tx,
        b.keyring(),
        &app_id,
        new_expiry,
        now,
        generate,
        true,
    )
    .await?;
    for p in &old.products {
        insert_approval(&mut *tx, &new.id, &p.product, p.status, now).await?;
    }
    tx.exec(
        "UPDATE api_keys SET expires_at = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        &[
            Arg::Text(&old.key.id),
            Arg::Int(to_millis(old_expiry)),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    let old_after = fetch(&mut *tx, &old.key.id).await?;
    let credential = fetch(&mut *tx, &new.id).await?;
    let mut created = docs::credential(&credential);
    created["rotated_from"] = serde_json::Value::String(old.key.id.clone());
    let records = vec![
        Record::change(
            "rotate",
            "credential",
            &old.key.id,
            Some(docs::credential(&old)),
            Some(docs::credential(&old_after)),
        ),
        Record::create("credential", &new.id, created),
    ];
    finish(b, tx, actor, records, now).await?;
    issued(credential, new)
}

pub(crate) async fn revoke<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_prefix: &str,
    expected_version: Option<i64>,
) -> Result<CredentialDetail, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, id_or_prefix).await?;
    let id = before.key.id.clone();
    check_version("credential", &id, before.version, expected_version)?;
    if before.key.status == KeyStatus::Revoked {
        return Ok(before);
    }
    tx.exec(
        "UPDATE api_keys SET status = 'revoked', revoked_at = $2, version = version + 1, \
         updated_at = $2 WHERE id = $1",
        &[Arg::Text(&id), Arg::Int(to_millis(now))],
    )
    .await?;
    let after = fetch(&mut *tx, &id).await?;
    let record = Record::change(
        "revoke",
        "credential",
        &id,
        Some(docs::credential(&before)),
        Some(docs::credential(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
}

fn check_product(product: &str) -> Result<(), StoreError> {
    let mut p = Problems::default();
    validate::product_name(&mut p, "product", product);
    p.finish()
}

/// Runs one change to a credential's associations: reads it, applies `change` (which
/// returns the audit action, or `None` for a no-op), bumps its version, audits and commits.
macro_rules! association_write {
    ($b:expr, $actor:expr, $id_or_prefix:expr, $expected:expr, |$tx:ident, $before:ident, $now:ident| $body:block) => {{
        let $now = SystemTime::now();
        let mut $tx = $b.begin_write().await?;
        let $before = fetch(&mut *$tx, $id_or_prefix).await?;
        let id = $before.key.id.clone();
        check_version("credential", &id, $before.version, $expected)?;
        let action: Option<&'static str> = $body;
        let Some(action) = action else {
            return Ok($before);
        };
        bump(&mut *$tx, &id, $now).await?;
        let after = fetch(&mut *$tx, &id).await?;
        let record = Record::change(
            action,
            "credential",
            &id,
            Some(docs::credential(&$before)),
            Some(docs::credential(&after)),
        );
        finish($b, $tx, $actor, vec![record], $now).await?;
        Ok(after)
    }};
}

pub(crate) async fn add_product<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_prefix: &str,
    product: &str,
) -> Result<CredentialDetail, StoreError> {
    check_product(product)?;
    association_write!(b, actor, id_or_prefix, None, |tx, before, now| {
        let status = initial_status(&mut *tx, product).await?;
        if before.products.iter().any(|p| p.product == product) {
            return Err(StoreError::Conflict(format!(
                "credential {} is already associated with product {product:?}",
                before.key.id
            )));
        }
        insert_approval(&mut *tx, &before.key.id, product, status, now).await?;
        Some("add-product")
    })
}

pub(crate) async fn set_product_status<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_prefix: &str,
    product: &str,
    status: ApprovalStatus,
    expected_version: Option<i64>,
) -> Result<CredentialDetail, StoreError> {
    check_product(product)?;
    association_write!(
        b,
        actor,
        id_or_prefix,
        expected_version,
        |tx, before, now| {
            let current = association(&before, product)?;
            if current == status {
                None
            } else {
                tx.exec(
                    "UPDATE credential_products SET status = $3, updated_at = $4 \
                 WHERE credential_id = $1 AND product = $2",
                    &[
                        Arg::Text(&before.key.id),
                        Arg::Text(product),
                        Arg::Text(status.as_str()),
                        Arg::Int(to_millis(now)),
                    ],
                )
                .await?;
                Some("set-product-status")
            }
        }
    )
}

pub(crate) async fn remove_product<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_prefix: &str,
    product: &str,
) -> Result<CredentialDetail, StoreError> {
    check_product(product)?;
    association_write!(b, actor, id_or_prefix, None, |tx, before, now| {
        association(&before, product)?;
        let _ = now;
        tx.exec(
            "DELETE FROM credential_products WHERE credential_id = $1 AND product = $2",
            &[Arg::Text(&before.key.id), Arg::Text(product)],
        )
        .await?;
        Some("remove-product")
    })
}

/// The status of one association, `NotFound` when the credential has none with `product`.
fn association(c: &CredentialDetail, product: &str) -> Result<ApprovalStatus, StoreError> {
    c.products
        .iter()
        .find(|p| p.product == product)
        .map(|p| p.status)
        .ok_or_else(|| {
            StoreError::not_found("credential product", &format!("{}/{product}", c.key.id))
        })
}
