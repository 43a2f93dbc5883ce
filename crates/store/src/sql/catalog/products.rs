//! API products: what a credential's approvals open (APIs, resource paths with Apigee's
//! wildcards, methods, environments), plus scopes, a quota setting and the approval type.
//!
//! Paths are parsed with the gateway's own matcher (`portcullis_core::ResourcePattern`) before
//! anything is stored, and stored in its canonical spelling, so what the admin saved is
//! exactly what the gateway enforces and a product that would not compile never reaches the
//! credential index.

use std::time::SystemTime;

use super::validate::{self, Problems};
use super::{
    Cursor, Record, check_version, docs, finish, page_limit, paginate, parse_attributes, parse_list,
};
use crate::StoreError;
use crate::management::{
    Actor, ApprovalType, Page, PageRequest, Product, ProductSpec, QuotaSpec, QuotaUnit,
};
use crate::model::{creation_time, from_millis, to_millis};
use crate::sql::backend::Backend;
use crate::sql::{Arg, SqlConn, SqlRow};

macro_rules! select {
    () => {
        "SELECT name, display_name, description, apis, paths, methods, environments, scopes, \
         quota_limit, quota_interval, quota_unit, approval_type, attributes, version, \
         created_at, updated_at FROM products"
    };
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("product {what} could not be decoded"))
}

/// Decodes a `products` row (the columns of `select!`).
pub(crate) fn decode(row: &impl SqlRow) -> Result<Product, StoreError> {
    let quota = match (
        row.opt_int("quota_limit")?,
        row.opt_int("quota_interval")?,
        row.opt_text("quota_unit")?,
    ) {
        (None, None, None) => None,
        (Some(limit), Some(interval), Some(unit)) => Some(QuotaSpec {
            limit: u64::try_from(limit).map_err(|_| corrupt("quota"))?,
            interval: u32::try_from(interval).map_err(|_| corrupt("quota"))?,
            unit: QuotaUnit::parse(&unit).map_err(|_| corrupt("quota unit"))?,
        }),
        _ => return Err(corrupt("quota")),
    };
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        parse_list(&row.text(col)?, &format!("product {col}"))
    };
    Ok(Product {
        name: row.text("name")?,
        spec: ProductSpec {
            display_name: row.text("display_name")?,
            description: row.text("description")?,
            apis: list("apis")?,
            paths: list("paths")?,
            methods: list("methods")?,
            environments: list("environments")?,
            scopes: list("scopes")?,
            quota,
            approval: ApprovalType::parse(&row.text("approval_type")?)
                .map_err(|_| corrupt("approval type"))?,
            attributes: parse_attributes(&row.text("attributes")?, "product")?,
        },
        version: row.int("version")?,
        created_at: from_millis(row.int("created_at")?),
        updated_at: from_millis(row.int("updated_at")?),
    })
}

pub(crate) async fn fetch<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<Product, StoreError> {
    let row = conn
        .fetch_opt(concat!(select!(), " WHERE name = $1"), &[Arg::Text(name)])
        .await?
        .ok_or_else(|| StoreError::not_found("product", name))?;
    decode(&row)
}

/// How new associations with `name` start; `NotFound` for an unknown product.
pub(crate) async fn approval_type<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<ApprovalType, StoreError> {
    let row = conn
        .fetch_opt(
            "SELECT approval_type FROM products WHERE name = $1",
            &[Arg::Text(name)],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("product", name))?;
    ApprovalType::parse(&row.text("approval_type")?).map_err(|_| corrupt("approval type"))
}

/// Names of the products that list `environment`.
pub(crate) async fn referencing_environment<C: SqlConn + ?Sized>(
    conn: &mut C,
    environment: &str,
) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for row in conn
        .fetch_all("SELECT name, environments FROM products ORDER BY name", &[])
        .await?
    {
        let envs = parse_list(&row.text("environments")?, "product environments")?;
        if envs.iter().any(|e| e == environment) {
            names.push(row.text("name")?);
        }
    }
    Ok(names)
}

/// Validates and normalises a spec (canonical paths); all problems at once.
fn check(name: Option<&str>, spec: &ProductSpec) -> Result<ProductSpec, StoreError> {
    let mut p = Problems::default();
    let spec = check_into(&mut p, name, spec);
    p.finish()?;
    Ok(spec)
}

/// Records every problem of a product's name and fields in `p`; returns the normalised spec.
pub(crate) fn check_into(p: &mut Problems, name: Option<&str>, spec: &ProductSpec) -> ProductSpec {
    if let Some(name) = name {
        validate::product_name(p, "name", name);
    }
    if spec.display_name.chars().count() > 255 || spec.display_name.chars().any(char::is_control) {
        p.push(
            "display_name",
            "must be at most 255 characters without control characters",
        );
    }
    validate::free_text(p, "description", &spec.description);
    validate::apis(p, "apis", &spec.apis);
    let paths = validate::paths(p, "paths", &spec.paths);
    validate::methods(p, "methods", &spec.methods);
    validate::environments(p, "environments", &spec.environments);
    validate::scopes(p, "scopes", &spec.scopes);
    if let Some(q) = spec.quota {
        if q.limit == 0 || i64::try_from(q.limit).is_err() {
            p.push("quota.limit", "must be between 1 and 2^63-1");
        }
        if q.interval == 0 {
            p.push("quota.interval", "must be at least 1");
        }
    }
    validate::attributes(p, "attributes", &spec.attributes);
    ProductSpec {
        paths,
        ..spec.clone()
    }
}

/// Every listed environment must exist (checked inside the write transaction).
async fn environments_exist<C: SqlConn + ?Sized>(
    conn: &mut C,
    spec: &ProductSpec,
) -> Result<(), StoreError> {
    let mut p = Problems::default();
    for (i, env) in spec.environments.iter().enumerate() {
        if !super::environments::exists(conn, env).await? {
            p.push(
                format_args!("environments[{i}]"),
                format_args!("unknown environment {env:?}"),
            );
        }
    }
    p.finish()
}

/// The column values of a spec, in the order of the INSERT/UPDATE statements ($2..$13).
struct Columns {
    apis: String,
    paths: String,
    methods: String,
    environments: String,
    scopes: String,
    attributes: String,
    quota: (Option<i64>, Option<i64>, Option<&'static str>),
}

impl Columns {
    fn of(spec: &ProductSpec) -> Self {
        Columns {
            apis: super::list_text(&spec.apis),
            paths: super::list_text(&spec.paths),
            methods: super::list_text(&spec.methods),
            environments: super::list_text(&spec.environments),
            scopes: super::list_text(&spec.scopes),
            attributes: super::attributes_text(&spec.attributes),
            quota: spec.quota.map_or((None, None, None), |q| {
                (
                    i64::try_from(q.limit).ok(),
                    Some(i64::from(q.interval)),
                    Some(q.unit.as_str()),
                )
            }),
        }
    }

    fn args<'a>(&'a self, name: &'a str, spec: &'a ProductSpec, now: SystemTime) -> [Arg<'a>; 14] {
        [
            Arg::Text(name),
            Arg::Text(&spec.display_name),
            Arg::Text(&spec.description),
            Arg::Text(&self.apis),
            Arg::Text(&self.paths),
            Arg::Text(&self.methods),
            Arg::Text(&self.environments),
            Arg::Text(&self.scopes),
            Arg::OptInt(self.quota.0),
            Arg::OptInt(self.quota.1),
            Arg::OptText(self.quota.2),
            Arg::Text(spec.approval.as_str()),
            Arg::Text(&self.attributes),
            Arg::Int(to_millis(now)),
        ]
    }
}

pub(crate) async fn create<B: Backend>(
    b: &B,
    actor: &Actor,
    name: &str,
    spec: &ProductSpec,
) -> Result<Product, StoreError> {
    let spec = check(Some(name), spec)?;
    let now = creation_time();
    let mut tx = b.begin_write().await?;
    let product = insert_row(&mut *tx, name, &spec, now).await?;
    let record = Record::create("product", name, docs::product(&product));
    finish(b, tx, actor, vec![record], now).await?;
    Ok(product)
}

/// Inserts a checked spec (its environments must exist); `Conflict` if the name is taken.
pub(crate) async fn insert_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
    spec: &ProductSpec,
    now: SystemTime,
) -> Result<Product, StoreError> {
    environments_exist(conn, spec).await?;
    let columns = Columns::of(spec);
    let inserted = conn
        .exec(
            "INSERT INTO products (name, display_name, description, apis, paths, methods, \
             environments, scopes, quota_limit, quota_interval, quota_unit, approval_type, \
             attributes, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14) \
             ON CONFLICT DO NOTHING",
            &columns.args(name, spec, now),
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "name: API product {name:?} already exists"
        )));
    }
    fetch(conn, name).await
}

/// Replaces the fields with a checked spec (one version up) and returns the new state.
pub(crate) async fn update_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
    spec: &ProductSpec,
    now: SystemTime,
) -> Result<Product, StoreError> {
    environments_exist(conn, spec).await?;
    let columns = Columns::of(spec);
    conn.exec(
        "UPDATE products SET display_name = $2, description = $3, apis = $4, paths = $5, \
         methods = $6, environments = $7, scopes = $8, quota_limit = $9, quota_interval = $10, \
         quota_unit = $11, approval_type = $12, attributes = $13, version = version + 1, \
         updated_at = $14 WHERE name = $1",
        &columns.args(name, spec, now),
    )
    .await?;
    fetch(conn, name).await
}

/// Deletes the row; `Conflict` while credentials are associated with the product.
pub(crate) async fn delete_row<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<(), StoreError> {
    let used = conn
        .fetch_opt(
            "SELECT COUNT(*) AS n FROM credential_products WHERE product = $1",
            &[Arg::Text(name)],
        )
        .await?
        .map_or(Ok(0), |r| r.int("n"))?;
    if used > 0 {
        return Err(StoreError::Conflict(format!(
            "API product {name:?} is associated with {used} credential(s); remove those associations first"
        )));
    }
    conn.exec("DELETE FROM products WHERE name = $1", &[Arg::Text(name)])
        .await?;
    Ok(())
}

/// Every product, by name.
pub(crate) async fn all<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Vec<Product>, StoreError> {
    let rows = conn
        .fetch_all(concat!(select!(), " ORDER BY name"), &[])
        .await?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn get<B: Backend>(b: &B, name: &str) -> Result<Product, StoreError> {
    let mut conn = b.read_conn().await?;
    fetch(&mut *conn, name).await
}

pub(crate) async fn list<B: Backend>(
    b: &B,
    page: &PageRequest,
) -> Result<Page<Product>, StoreError> {
    let cursor = Cursor::decode(page)?;
    let limit = page_limit(page);
    let mut conn = b.read_conn().await?;
    let rows = conn
        .fetch_all(
            concat!(
                select!(),
                " WHERE CAST($1 AS BIGINT) IS NULL OR created_at > $1 \
                 OR (created_at = $1 AND name > $2) \
                 ORDER BY created_at, name LIMIT $3"
            ),
            &[
                Arg::OptInt(cursor.as_ref().map(|c| c.created_at)),
                Arg::Text(cursor.as_ref().map_or("", |c| c.id.as_str())),
                Arg::Int(i64::from(limit) + 1),
            ],
        )
        .await?;
    let items = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, limit, |p| {
        (to_millis(p.created_at), p.name.as_str())
    }))
}

pub(crate) async fn update<B: Backend>(
    b: &B,
    actor: &Actor,
    name: &str,
    spec: &ProductSpec,
    expected_version: Option<i64>,
) -> Result<Product, StoreError> {
    let spec = check(None, spec)?;
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let before = fetch(&mut *tx, name).await?;
    check_version("product", name, before.version, expected_version)?;
    if before.spec == spec {
        return Ok(before);
    }
    let after = update_row(&mut *tx, name, &spec, now).await?;
    let record = Record::change(
        "update",
        "product",
        name,
        Some(docs::product(&before)),
        Some(docs::product(&after)),
    );
    finish(b, tx, actor, vec![record], now).await?;
    Ok(after)
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
    check_version("product", name, before.version, expected_version)?;
    delete_row(&mut *tx, name).await?;
    let record = Record::delete("product", name, docs::product(&before));
    finish(b, tx, actor, vec![record], now).await
}
