//! A fresh PostgreSQL schema per test on the shared test database, so tests (and the processes
//! they start) can share one store without seeing each other's rows.

use std::time::Instant;

use sqlx::Connection;

const BASE: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database URL (`PORTCULLIS_TEST_PG_URL`, default the local trust-auth server).
pub fn pg_base_url() -> String {
    std::env::var("PORTCULLIS_TEST_PG_URL").unwrap_or_else(|_| BASE.into())
}

/// A schema created for one test; [`PgSchema::url`] pins `search_path` to it.
pub struct PgSchema {
    /// Connection URL whose sessions use only this schema.
    pub url: String,
    /// The schema's name.
    pub name: String,
}

impl PgSchema {
    /// Creates a fresh schema, or returns None (the caller skips) when PostgreSQL is not
    /// reachable — unless `PORTCULLIS_REQUIRE_POSTGRES=1` (CI), which turns the skip into a
    /// failure.
    pub async fn fresh(prefix: &str) -> Option<Self> {
        let base = pg_base_url();
        let mut conn = match sqlx::PgConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("PORTCULLIS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "PostgreSQL required but not reachable: {e}"
                );
                eprintln!("SKIPPED: PostgreSQL not reachable at {base} ({e})");
                return None;
            }
        };
        let name = format!("{prefix}_{:016x}", rand_u64());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        Some(Self {
            url: format!("{base}?options=-c%20search_path%3D{name}"),
            name,
        })
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        let mut conn = sqlx::PgConnection::connect(&pg_base_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}
