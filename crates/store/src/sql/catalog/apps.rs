//! Apps: belong to a developer and own credentials. Revoking an app stops all its
//! credentials at every node (the index checks the app's status on every lookup); deleting
//! one removes its credentials and their approvals in the same transaction.

use std::time::SystemTime;

use super::validate::{self, Problems};
use super::{
    Cursor, Record, check_version, docs, finish, page_limit, paginate, parse_attributes, parse_list,
};
use crate::StoreError;
use crate::management::{Actor, AppDetail, AppSpec, Page, PageRequest};
use crate::model::{AppStatus, creation_time, from_millis, to_millis};
use crate::secret::new_id;
use crate::sql::backend::Backend;
use crate::sql::{Arg, SqlConn, SqlRow, rows};

macro_rules! select {
    () => {
        "SELECT id, developer_id, name, status, created_at, callback_urls, attributes, version, \
         updated_at FROM apps"
    };
}

fn decode(row: &impl SqlRow) -> Result<AppDetail, StoreError> {
    Ok(AppDetail {
        app: rows::app(row)?,
        callback_urls: parse_list(&row.text("callback_urls")?, "app callback_urls")?,
        attributes: parse_attributes(&row.text("attributes")?, "app")?,
        version: row.int("version")?,
        updated_at: from_millis(row.int("updated_at")?),
    })
}

/// Reads an app by id.
pub(crate) async fn fetch<C: SqlConn + ?Sized>(
    conn: &mut C,
    app_id: &str,
) -> Result<AppDetail, StoreError> {
    let wanted = app_id.trim();
    let row = conn
        .fetch_opt(concat!(select!(), " WHERE id = $1"), &[Arg::Text(wanted)])
        .await?
        .ok_or_else(|| StoreError::not_found("app", wanted))?;
    decode(&row)
}

/// A developer's apps, oldest first.
pub(crate) async fn of_developer<C: SqlConn + ?Sized>(
    conn: &mut C,
    developer_id: &str,
) -> Result<Vec<AppDetail>, StoreError> {
    let rows = conn
        .fetch_all(
            concat!(
                select!(),
                " WHERE developer_id = $1 ORDER BY created_at, id"
            ),
            &[Arg::Text(developer_id)],
        )
        .await?;
    rows.iter().map(decode).collect()
}

/// Deletes an app with its credentials and their approvals (inside the caller's
/// transaction) and returns the audit records: the app first, then each credential.
pub(crate) async fn delete_rows<C: SqlConn + ?Sized>(
    conn: &mut C,
    app: &AppDetail,
) -> Result<Vec<Record>, StoreError> {
    let id = app.app.id.as_str();
    let mut records = vec![Record::delete("app", id, docs::app(app))];
    for cred in super::credentials::of_app(conn, id).await? {
        records.push(Record::delete(
            "credential",
            &cred.key.id,
            docs::credential(&cred),
        ));
    }
    conn.exec(
        "DELETE FROM credential_products WHERE credential_id IN \
         (SELECT id FROM api_keys WHERE app_id = $1)",
        &[Arg::Text(id)],
    )
    .await?;
    conn.exec("DELETE FROM api_keys WHERE app_id = $1", &[Arg::Text(id)])
        .await?;
    conn.exec("DELETE FROM apps WHERE id = $1", &[Arg::Text(id)])
        .await?;
    Ok(records)
}

/// Validates and normalises (trimmed name).
fn check(spec: &AppSpec) -> Result<AppSpec, StoreError> {
    let mut p = Problems::default();
    let spec = check_into(&mut p, spec);
    p.finish()?;
    Ok(spec)
}

/// Records every problem of an app's fields in `p`; returns the normalised spec.
pub(crate) fn check_into(p: &mut Problems, spec: &AppSpec) -> AppSpec {
    let name = validate::label(p, "name", &spec.name, 100);
    validate::callback_urls(p, "callback_urls", &spec.callback_urls);
    validate::attributes(p, "attributes", &spec.attributes);
    for (name, problem) in crate::client_metadata::check(&spec.attributes) {
        p.push(format_args!("attributes[{name:?}]"), problem);
    }
    AppSpec {
        name,
        callback_urls: spec.callback_urls.clone(),
        attributes: spec.attributes.clone(),
    }
}

/// Every app, oldest first.
pub(crate) async fn all<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Vec<AppDetail>, StoreError> {
    let rows = conn
        .fetch_all(concat!(select!(), " ORDER BY created_at, id"), &[])
        .await?;
    rows.iter().map(decode).collect()
}

async fn name_taken<C: SqlConn + ?Sized>(
    conn: &mut C,
    developer_id: &str,
    name: &str,
    except_id: &str,
) -> Result<(), StoreError> {
    let other = conn
        .fetch_opt(
            "SELECT id FROM apps WHERE developer_id = $1 AND name = $2 AND id <> $3",
            &[
                Arg::Text(developer_id),
                Arg::Text(name),
                Arg::Text(except_id),
            ],
        )
        .await?;
    match other {
        Some(_) => Err(StoreError::Conflict(format!(
            "name: the developer already has an app named {name:?}"
        ))),
        None => Ok(()),
    }
}

pub(crate) async fn create<B: Backend>(
    b: &B,
    actor: &Actor,
    developer: &str,
    spec: &AppSpec,
) -> Result<AppDetail, StoreError> {
    let spec = check(spec)?;
    let id = new_id("app")?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let dev = super::developers::fetch(&mut *tx, developer).await?;
    let detail = insert_row(&mut *tx, &id, &dev.developer.id, &spec, now).await?;
    let record = Record::create("app", &id, docs::app(&detail));
    finish(b, tx, actor, vec![record], now).await?;
    Ok(detail)
}

/// Inserts an approved app from a checked spec; `Conflict` if the developer already has an
/// app of that name.
pub(crate) async fn insert_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: &str,
    developer_id: &str,
    spec: &AppSpec,
    now: SystemTime,
) -> Result<AppDetail, StoreError> {
    name_taken(conn, developer_id, &spec.name, id).await?;
    conn.exec(
        "INSERT INTO apps (id, developer_id, name, status, created_at, callback_urls, \
         attributes, version, updated_at) VALUES ($1, $2, $3, 'approved', $4, $5, $6, 1, $4)",
        &[
            Arg::Text(id),
            Arg::Text(developer_id),
            Arg::Text(&spec.name),
            Arg::Int(to_millis(now)),
            Arg::Text(&super::list_text(&spec.callback_urls)),
            Arg::Text(&super::attributes_text(&spec.attributes)),
        ],
    )
    .await?;
    fetch(conn, id).await
}

/// Replaces name, callback URLs and attributes of `before` with a checked spec.
pub(crate) async fn update_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    before: &AppDetail,
    spec: &AppSpec,
    now: SystemTime,
) -> Result<AppDetail, StoreError> {
    let id = before.app.id.as_str();
    name_taken(conn, &before.app.developer_id, &spec.name, id).await?;
    conn.exec(
        "UPDATE apps SET name = $2, callback_urls = $3, attributes = $4, \
         version = version + 1, updated_at = $5 WHERE id = $1",
        &[
            Arg::Text(id),
            Arg::Text(&spec.name),
            Arg::Text(&super::list_text(&spec.callback_urls)),
            Arg::Text(&super::attributes_text(&spec.attributes)),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    fetch(conn, id).await
}

/// Sets the status (one version up) and returns the new state.
pub(crate) async fn set_status_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: &str,
    status: AppStatus,
    now: SystemTime,
) -> Result<AppDetail, StoreError> {
    conn.exec(
        "UPDATE apps SET status = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        &[
            Arg::Text(id),
            Arg::Text(status.as_str()),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    fetch(conn, id).await
}

pub(crate) async fn get<B: Backend>(b: &B, app_id: &str) -> Result<AppDetail, StoreError> {
    let mut conn = b.read_conn().await?;
    fetch(&mut *conn, app_id).await
}

pub(crate) async fn list<B: Backend>(
    b: &B,
    developer: Option<&str>,
    status: Option<AppStatus>,
    page: &PageRequest,
) -> Result<Page<AppDetail>, StoreError> {
    let cursor = Cursor::decode(page)?;
    let limit = page_limit(page);
    let mut conn = b.read_conn().await?;
    let developer_id = match developer {
        Some(d) => Some(super::developers::fetch(&mut *conn, d).await?.developer.id),
        None => None,
    };
    let rows = conn
        .fetch_all(
            concat!(
                select!(),
                " WHERE (CAST($1 AS TEXT) IS NULL OR developer_id = $1) \
                 AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
                 AND (CAST($3 AS BIGINT) IS NULL OR created_at > $3 \
                      OR (created_at = $3 AND id > $4)) \
                 ORDER BY created_at, id LIMIT $5"
            ),
            &[
                Arg::OptText(developer_id.as_deref()),
                Arg::OptText(status.map(AppStatus::as_str)),
                Arg::OptInt(cursor.as_ref().map(|c| c.created_at)),
                Arg::Text(cursor.as_ref().map_or("", |c| c.id.as_str())),
                Arg::Int(i64::from(limit) + 1),
            ],
        )
        .await?;
    let items = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, limit, |a| {
        (to_millis(a.app.created_at), a.app.id.as_str())
    }))
}

pub(crate) async fn update<B: Backend>(
    b: &B,
    actor: &Actor,
    app_id: &str,
    spec: &AppSpec,
    expected_version: Option<i64>,
) -> Result<AppDetail, StoreError> {
    let spec = check(spec)?;
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, app_id).await?;
    let id = before.app.id.clone();
    check_version("app", &id, before.version, expected_version)?;
    if (&before.app.name, &before.callback_urls, &before.attributes)
        == (&spec.name, &spec.callback_urls, &spec.attributes)
    {
        return Ok(before);
    }
    let after = update_row(&mut *tx, &before, &spec, now).await?;
    let record = Record::change(
        "update",
        "app",
        &id,
        Some(docs::app(&before)),
        Some(docs::app(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
}

pub(crate) async fn set_status<B: Backend>(
    b: &B,
    actor: &Actor,
    app_id: &str,
    status: AppStatus,
    expected_version: Option<i64>,
) -> Result<AppDetail, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, app_id).await?;
    let id = before.app.id.clone();
    check_version("app", &id, before.version, expected_version)?;
    if before.app.status == status {
        return Ok(before);
    }
    let after = set_status_row(&mut *tx, &id, status, now).await?;
    let record = Record::change(
        "set-status",
        "app",
        &id,
        Some(docs::app(&before)),
        Some(docs::app(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
}

pub(crate) async fn delete<B: Backend>(
    b: &B,
    actor: &Actor,
    app_id: &str,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, app_id).await?;
    check_version("app", &before.app.id, before.version, expected_version)?;
    let records = delete_rows(&mut *tx, &before).await?;
    finish(b, tx, actor, records, now).await
}
