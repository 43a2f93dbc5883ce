//! Developers: the owners of apps. Deleting one removes their apps, credentials and
//! approvals in the same transaction; deactivating one stops their credentials at every node
//! (the credential index checks the developer's status on every lookup).

use std::time::SystemTime;

use super::validate::{self, Problems};
use super::{Cursor, Record, check_version, docs, finish, page_limit, paginate, parse_attributes};
use crate::StoreError;
use crate::management::{Actor, DeveloperDetail, DeveloperSpec, Page, PageRequest};
use crate::model::{DeveloperStatus, creation_time, normalize_email, to_millis};
use crate::secret::new_id;
use crate::sql::backend::Backend;
use crate::sql::{Arg, SqlConn, SqlRow, rows};

macro_rules! select {
    () => {
        "SELECT id, email, name, status, created_at, attributes, version, updated_at \
         FROM developers"
    };
}

fn decode(row: &impl SqlRow) -> Result<DeveloperDetail, StoreError> {
    Ok(DeveloperDetail {
        developer: rows::developer(row)?,
        attributes: parse_attributes(&row.text("attributes")?, "developer")?,
        version: row.int("version")?,
        updated_at: crate::model::from_millis(row.int("updated_at")?),
    })
}

/// Reads a developer by id or (case-insensitive) e-mail.
pub(crate) async fn fetch<C: SqlConn + ?Sized>(
    conn: &mut C,
    id_or_email: &str,
) -> Result<DeveloperDetail, StoreError> {
    let wanted = id_or_email.trim();
    // Ids never contain '@', so an address can only ever match the email column.
    let email = wanted.to_lowercase();
    let row = conn
        .fetch_opt(
            concat!(select!(), " WHERE id = $1 OR email = $2"),
            &[Arg::Text(wanted), Arg::Text(&email)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("developer", wanted))?;
    decode(&row)
}

/// Validates and normalises (trimmed name, lower-cased e-mail).
fn check(spec: &DeveloperSpec) -> Result<DeveloperSpec, StoreError> {
    let mut p = Problems::default();
    let spec = check_into(&mut p, spec);
    p.finish()?;
    Ok(spec)
}

/// Records every problem of a developer's fields in `p`; returns the normalised spec.
pub(crate) fn check_into(p: &mut Problems, spec: &DeveloperSpec) -> DeveloperSpec {
    let email = normalize_email(&spec.email).unwrap_or_else(|_| {
        p.push(
            "email",
            format_args!("{:?} is not an e-mail address", spec.email),
        );
        String::new()
    });
    let name = validate::label(p, "name", &spec.name, 100);
    validate::attributes(p, "attributes", &spec.attributes);
    DeveloperSpec {
        email,
        name,
        attributes: spec.attributes.clone(),
    }
}

/// Every developer, oldest first.
pub(crate) async fn all<C: SqlConn + ?Sized>(
    conn: &mut C,
) -> Result<Vec<DeveloperDetail>, StoreError> {
    let rows = conn
        .fetch_all(concat!(select!(), " ORDER BY created_at, id"), &[])
        .await?;
    rows.iter().map(decode).collect()
}

async fn email_taken<C: SqlConn + ?Sized>(
    conn: &mut C,
    email: &str,
    except_id: &str,
) -> Result<(), StoreError> {
    let other = conn
        .fetch_opt(
            "SELECT id FROM developers WHERE email = $1 AND id <> $2",
            &[Arg::Text(email), Arg::Text(except_id)],
        )
        .await?;
    match other {
        Some(_) => Err(StoreError::Conflict(format!(
            "email: a developer with e-mail {email} already exists"
        ))),
        None => Ok(()),
    }
}

pub(crate) async fn create<B: Backend>(
    b: &B,
    actor: &Actor,
    spec: &DeveloperSpec,
) -> Result<DeveloperDetail, StoreError> {
    let spec = check(spec)?;
    let id = new_id("dev")?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let detail = insert_row(&mut *tx, &id, &spec, now).await?;
    let record = Record::create("developer", &id, docs::developer(&detail));
    finish(b, tx, actor, vec![record], now).await?;
    Ok(detail)
}

/// Inserts an active developer from a checked spec; `Conflict` if the e-mail is taken.
pub(crate) async fn insert_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: &str,
    spec: &DeveloperSpec,
    now: SystemTime,
) -> Result<DeveloperDetail, StoreError> {
    email_taken(conn, &spec.email, id).await?;
    conn.exec(
        "INSERT INTO developers (id, email, name, status, created_at, attributes, version, updated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, 1, $4)",
        &[
            Arg::Text(id),
            Arg::Text(&spec.email),
            Arg::Text(&spec.name),
            Arg::Int(to_millis(now)),
            Arg::Text(&super::attributes_text(&spec.attributes)),
        ],
    )
    .await?;
    fetch(conn, id).await
}

/// Replaces e-mail, name and attributes with a checked spec (one version up).
pub(crate) async fn update_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: &str,
    spec: &DeveloperSpec,
    now: SystemTime,
) -> Result<DeveloperDetail, StoreError> {
    email_taken(conn, &spec.email, id).await?;
    conn.exec(
        "UPDATE developers SET email = $2, name = $3, attributes = $4, \
         version = version + 1, updated_at = $5 WHERE id = $1",
        &[
            Arg::Text(id),
            Arg::Text(&spec.email),
            Arg::Text(&spec.name),
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
    status: DeveloperStatus,
    now: SystemTime,
) -> Result<DeveloperDetail, StoreError> {
    conn.exec(
        "UPDATE developers SET status = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        &[
            Arg::Text(id),
            Arg::Text(status.as_str()),
            Arg::Int(to_millis(now)),
        ],
    )
    .await?;
    fetch(conn, id).await
}

/// Deletes a developer with their apps and credentials (inside the caller's transaction) and
/// returns the audit records: the developer first, then each app and credential.
pub(crate) async fn delete_rows<C: SqlConn + ?Sized>(
    conn: &mut C,
    before: &DeveloperDetail,
) -> Result<Vec<Record>, StoreError> {
    let id = before.developer.id.as_str();
    let mut records = vec![Record::delete("developer", id, docs::developer(before))];
    for app in super::apps::of_developer(conn, id).await? {
        records.extend(super::apps::delete_rows(conn, &app).await?);
    }
    conn.exec("DELETE FROM developers WHERE id = $1", &[Arg::Text(id)])
        .await?;
    Ok(records)
}

pub(crate) async fn get<B: Backend>(
    b: &B,
    id_or_email: &str,
) -> Result<DeveloperDetail, StoreError> {
    let mut conn = b.read_conn().await?;
    fetch(&mut *conn, id_or_email).await
}

pub(crate) async fn list<B: Backend>(
    b: &B,
    status: Option<DeveloperStatus>,
    page: &PageRequest,
) -> Result<Page<DeveloperDetail>, StoreError> {
    let cursor = Cursor::decode(page)?;
    let limit = page_limit(page);
    let mut conn = b.read_conn().await?;
    let rows = conn
        .fetch_all(
            concat!(
                select!(),
                " WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
                 AND (CAST($2 AS BIGINT) IS NULL OR created_at > $2 \
                      OR (created_at = $2 AND id > $3)) \
                 ORDER BY created_at, id LIMIT $4"
            ),
            &[
                Arg::OptText(status.map(DeveloperStatus::as_str)),
                Arg::OptInt(cursor.as_ref().map(|c| c.created_at)),
                Arg::Text(cursor.as_ref().map_or("", |c| c.id.as_str())),
                Arg::Int(i64::from(limit) + 1),
            ],
        )
        .await?;
    let items = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, limit, |d| {
        (to_millis(d.developer.created_at), d.developer.id.as_str())
    }))
}

pub(crate) async fn update<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_email: &str,
    spec: &DeveloperSpec,
    expected_version: Option<i64>,
) -> Result<DeveloperDetail, StoreError> {
    let spec = check(spec)?;
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, id_or_email).await?;
    let id = before.developer.id.clone();
    check_version("developer", &id, before.version, expected_version)?;
    if (
        &before.developer.email,
        &before.developer.name,
        &before.attributes,
    ) == (&spec.email, &spec.name, &spec.attributes)
    {
        return Ok(before);
    }
    let after = update_row(&mut *tx, &id, &spec, now).await?;
    let record = Record::change(
        "update",
        "developer",
        &id,
        Some(docs::developer(&before)),
        Some(docs::developer(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
}

pub(crate) async fn set_status<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_email: &str,
    status: DeveloperStatus,
    expected_version: Option<i64>,
) -> Result<DeveloperDetail, StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, id_or_email).await?;
    let id = before.developer.id.clone();
    check_version("developer", &id, before.version, expected_version)?;
    if before.developer.status == status {
        return Ok(before);
    }
    let after = set_status_row(&mut *tx, &id, status, now).await?;
    let record = Record::change(
        "set-status",
        "developer",
        &id,
        Some(docs::developer(&before)),
        Some(docs::developer(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
}

pub(crate) async fn delete<B: Backend>(
    b: &B,
    actor: &Actor,
    id_or_email: &str,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, id_or_email).await?;
    let id = before.developer.id.clone();
    check_version("developer", &id, before.version, expected_version)?;
    let records = delete_rows(&mut *tx, &before).await?;
    finish(b, tx, actor, records, now).await
}
