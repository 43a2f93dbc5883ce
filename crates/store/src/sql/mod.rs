//! Backend-neutral SQL: the queries, the row decoding and the migration runner shared by the
//! SQLite and PostgreSQL backends.
//!
//! The repository logic is written once, against two tiny adapter traits ([`SqlConn`],
//! [`SqlRow`]) that each backend implements through [`sqlx_adapter!`], so a fix to a query or
//! to transaction ordering cannot reach one backend and miss the other. The SQL is kept
//! portable (`$n` placeholders, `ON CONFLICT DO NOTHING`, `RETURNING`); only connection setup,
//! write locking and the change marker differ per backend.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod backend;
pub(crate) mod catalog;
pub(crate) mod delegate;
pub(crate) mod delegate_admin;
pub(crate) mod delegate_catalog;
pub(crate) mod delegate_oauth;
pub(crate) mod kvm;
pub(crate) mod oauth;
pub(crate) mod repo;
pub(crate) mod rows;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};

use crate::StoreError;

/// A bound parameter. Only the column types the schema uses exist here, so both drivers are
/// known to encode every one of them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    OptInt(Option<i64>),
    OptText(Option<&'a str>),
    Bytes(&'a [u8]),
    OptBytes(Option<&'a [u8]>),
}

/// A fetched row, read by column name.
pub(crate) trait SqlRow: Send {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError>;
}

/// One connection (plain, pooled or inside a transaction) able to run portable SQL.
#[async_trait]
pub(crate) trait SqlConn: Send {
    type Row: SqlRow;
    /// Runs a statement, returning the number of rows it changed.
    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    async fn fetch_opt(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Self::Row>, StoreError>;
    async fn fetch_all(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Self::Row>, StoreError>;
}

/// Implements [`SqlConn`] and [`SqlRow`] for one sqlx driver.
macro_rules! sqlx_adapter {
    ($db:ty, $conn:ty, $row:ty) => {
        fn bind_args(
            sql: &'static str,
            args: &[$crate::sql::Arg<'_>],
        ) -> sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments> {
            use $crate::sql::Arg;
            args.iter().fold(sqlx::query(sql), |q, arg| match *arg {
                Arg::Text(v) => q.bind(v.to_owned()),
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v.map(str::to_owned)),
                Arg::Bytes(v) => q.bind(v.to_vec()),
                Arg::OptBytes(v) => q.bind(v.map(<[u8]>::to_vec)),
            })
        }

        impl $crate::sql::SqlRow for $row {
            fn text(&self, col: &str) -> Result<String, $crate::StoreError> {
                sqlx::Row::try_get(self, col).map_err($crate::sql::map_err)
            }
            fn int(&self, col: &str) -> Result<i64, $crate::StoreError> {
                sqlx::Row::try_get(self, col).map_err($crate::sql::map_err)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, $crate::StoreError> {
                sqlx::Row::try_get(self, col).map_err($crate::sql::map_err)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, $crate::StoreError> {
                sqlx::Row::try_get(self, col).map_err($crate::sql::map_err)
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>, $crate::StoreError> {
                sqlx::Row::try_get(self, col).map_err($crate::sql::map_err)
            }
        }

        #[async_trait::async_trait]
        impl $crate::sql::SqlConn for $conn {
            type Row = $row;
            async fn exec(
                &mut self,
                sql: &'static str,
                args: &[$crate::sql::Arg<'_>],
            ) -> Result<u64, $crate::StoreError> {
                let done = bind_args(sql, args)
                    .execute(&mut *self)
                    .await
                    .map_err($crate::sql::map_err)?;
                Ok(done.rows_affected())
            }
            async fn fetch_opt(
                &mut self,
                sql: &'static str,
                args: &[$crate::sql::Arg<'_>],
            ) -> Result<Option<$row>, $crate::StoreError> {
                bind_args(sql, args)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err($crate::sql::map_err)
            }
            async fn fetch_all(
                &mut self,
                sql: &'static str,
                args: &[$crate::sql::Arg<'_>],
            ) -> Result<Vec<$row>, $crate::StoreError> {
                bind_args(sql, args)
                    .fetch_all(&mut *self)
                    .await
                    .map_err($crate::sql::map_err)
            }
        }
    };
}
pub(crate) use sqlx_adapter;

/// Maps driver errors without copying their text into our message.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("an entity with the same unique value already exists".into())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Conflict("the entity is still referenced by another one".into())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt("a stored value could not be decoded".into())
        }
        _ => StoreError::unavailable(e),
    }
}

/// An embedded migration: version, description, SQL (from `include_str!`).
pub(crate) type EmbeddedMigration = (i64, &'static str, &'static str);

/// Built by hand instead of with `sqlx::migrate!` so the crate does not compile sqlx's
/// proc-macro stack (which would build the bundled SQLite a second time, for the host); the
/// checksums are the same as the macro's. Unit tests check each list against its directory.
fn migrator(migrations: &[EmbeddedMigration]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// Runs pending migrations. Two processes opening a fresh database at the same moment can
/// race (the loser sees a stale snapshot or an already-applied version); a short retry lets
/// the loser find the schema in place.
pub(crate) async fn run_migrations<'a, A>(
    migrations: &[EmbeddedMigration],
    pool: A,
) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a> + Copy,
    <A::Connection as std::ops::Deref>::Target: Migrate,
{
    let migrator = migrator(migrations);
    let mut attempt = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "retrying store migration");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(StoreError::unavailable(e)),
        }
    }
}

/// Test helper: the registered migrations must be exactly the files in `dir`.
#[cfg(test)]
pub(crate) fn assert_registered(dir: &str, migrations: &[EmbeddedMigration]) {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    files.sort();
    let registered: Vec<String> = migrations
        .iter()
        .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
        .collect();
    assert_eq!(files, registered);
}
