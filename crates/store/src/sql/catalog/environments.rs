//! Environments (`test`, `prod`, ...): the scope of listeners, products and KVMs.

use std::time::SystemTime;

use super::validate::{self, Problems};
use super::{Record, check_version, docs, finish};
use crate::StoreError;
use crate::management::{Actor, Environment};
use crate::model::{creation_time, from_millis, to_millis};
use crate::sql::backend::Backend;
use crate::sql::{Arg, SqlConn, SqlRow};

macro_rules! select {
    () => {
        "SELECT name, description, version, created_at, updated_at FROM environments"
    };
}

fn decode(row: &impl SqlRow) -> Result<Environment, StoreError> {
    Ok(Environment {
        name: row.text("name")?,
        description: row.text("description")?,
        version: row.int("version")?,
        created_at: from_millis(row.int("created_at")?),
        updated_at: from_millis(row.int("updated_at")?),
    })
}

pub(crate) async fn fetch<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<Environment, StoreError> {
    let row = conn
        .fetch_opt(concat!(select!(), " WHERE name = $1"), &[Arg::Text(name)])
        .await?
        .ok_or_else(|| StoreError::not_found("environment", name))?;
    decode(&row)
}

/// Whether an environment exists (used by product validation inside its transaction).
pub(crate) async fn exists<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .fetch_opt(
            "SELECT name FROM environments WHERE name = $1",
            &[Arg::Text(name)],
        )
        .await?
        .is_some())
}

fn check(name: &str, description: &str) -> Result<(), StoreError> {
    let mut p = Problems::default();
    check_into(&mut p, name, description);
    p.finish()
}

/// Records every problem of an environment's fields in `p`.
pub(crate) fn check_into(p: &mut Problems, name: &str, description: &str) {
    validate::environment_name(p, "name", name);
    validate::free_text(p, "description", description);
}

/// Every environment, oldest first.
pub(crate) async fn all<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Vec<Environment>, StoreError> {
    let rows = conn
        .fetch_all(concat!(select!(), " ORDER BY created_at, name"), &[])
        .await?;
    rows.iter().map(decode).collect()
}

/// Inserts the row; `None` if the name is taken.
pub(crate) async fn insert<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
    description: &str,
    now: SystemTime,
) -> Result<Option<Environment>, StoreError> {
    let inserted = conn
        .exec(
            "INSERT INTO environments (name, description, version, created_at, updated_at) \
             VALUES ($1, $2, 1, $3, $3) ON CONFLICT DO NOTHING",
            &[
                Arg::Text(name),
                Arg::Text(description),
                Arg::Int(to_millis(now)),
            ],
        )
        .await?;
    Ok((inserted == 1).then(|| Environment {
        name: name.to_owned(),
        description: description.to_owned(),
        version: 1,
        created_at: now,
        updated_at: now,
    }))
}

pub(crate) async fn create<B: Backend>(
    b: &B,
    actor: &Actor,
    name: &str,
    description: &str,
) -> Result<Environment, StoreError> {
    check(name, description)?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let env = insert(&mut *tx, name, description, now)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("environment {name:?} already exists")))?;
    let record = Record::create("environment", name, docs::environment(&env));
    finish(b, tx, actor, vec![record], now).await?;
    Ok(env)
}

pub(crate) async fn ensure<B: Backend>(
    b: &B,
    actor: &Actor,
    name: &str,
) -> Result<Environment, StoreError> {
    check(name, "")?;
    {
        let mut conn = b.read_conn().await?;
        match fetch(&mut *conn, name).await {
            Err(StoreError::NotFound { .. }) => {}
            found => return found,
        }
    }
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let Some(env) = insert(&mut *tx, name, "", now).await? else {
        // Created by someone else since the read: return theirs, unchanged.
        return fetch(&mut *tx, name).await;
    };
    let record = Record::create("environment", name, docs::environment(&env));
    finish(b, tx, actor, vec![record], now).await?;
    Ok(env)
}

pub(crate) async fn get<B: Backend>(b: &B, name: &str) -> Result<Environment, StoreError> {
    let mut conn = b.read_conn().await?;
    fetch(&mut *conn, name).await
}

pub(crate) async fn list<B: Backend>(b: &B) -> Result<Vec<Environment>, StoreError> {
    let mut conn = b.read_conn().await?;
    all(&mut *conn).await
}

pub(crate) async fn update<B: Backend>(
    b: &B,
    actor: &Actor,
    name: &str,
    description: &str,
    expected_version: Option<i64>,
) -> Result<Environment, StoreError> {
    let mut p = Problems::default();
    validate::free_text(&mut p, "description", description);
    p.finish()?;
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, name).await?;
    check_version("environment", name, before.version, expected_version)?;
    if before.description == description {
        return Ok(before);
    }
    let after = update_row(&mut *tx, name, description, now).await?;
    let record = Record::change(
        "update",
        "environment",
        name,
        Some(docs::environment(&before)),
        Some(docs::environment(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
}

/// Sets the description (one version up) and returns the new state.
pub(crate) async fn update_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
    description: &str,
    now: SystemTime,
) -> Result<Environment, StoreError> {
    conn.exec(
        "UPDATE environments SET description = $2, version = version + 1, updated_at = $3 \
         WHERE name = $1",
        &[
            Arg::Text(name),
            Arg::Text(description),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    fetch(conn, name).await
}

/// Deletes the row; `Conflict` while KVM entries live in it or a product lists it.
pub(crate) async fn delete_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<(), StoreError> {
    if conn
        .fetch_opt(
            "SELECT map FROM kvm_entries WHERE environment = $1 LIMIT 1",
            &[Arg::Text(name)],
        )
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict(format!(
            "environment {name:?} still holds KVM entries; delete them first"
        )));
    }
    let users = super::products::referencing_environment(conn, name).await?;
    if let Some(product) = users.first() {
        return Err(StoreError::Conflict(format!(
            "environment {name:?} is used by API product {product:?}; remove it from the product first"
        )));
    }
    conn.exec(
        "DELETE FROM environments WHERE name = $1",
        &[Arg::Text(name)],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete<B: Backend>(
    b: &B,
    actor: &Actor,
    name: &str,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, name).await?;
    check_version("environment", name, before.version, expected_version)?;
    delete_row(&mut *tx, name).await?;
    let record = Record::delete("environment", name, docs::environment(&before));
    finish(b, tx, actor, vec![record], now).await
}
