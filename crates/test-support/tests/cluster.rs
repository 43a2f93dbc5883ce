//! Two gateway nodes sharing one PostgreSQL store: a key created or revoked through the store
//! takes effect on both nodes within a second (LISTEN/NOTIFY change feed, polling fallback).
//! Skipped, with a message, when PostgreSQL is not reachable — unless
//! `PORTCULLIS_REQUIRE_POSTGRES=1` (CI), which turns the skip into a failure.

use std::time::{Duration, Instant};

use portcullis_store::{KeyRepository, PgStore};
use portcullis_test_support::{Recorder, TestGateway, get, test_keyring};
use sqlx::Connection;

const BASE: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema on the test database (URL, schema name), or None (skip) when PostgreSQL is
/// unreachable.
async fn fresh_schema() -> Option<(String, String)> {
    let base = std::env::var("PORTCULLIS_TEST_PG_URL").unwrap_or_else(|_| BASE.into());
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("PORTCULLIS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PostgreSQL required but not reachable: {e}"
            );
            eprintln!("SKIPPED: PostgreSQL not reachable at 127.0.0.1:5432 ({e})");
            return None;
        }
    };
    let schema = format!("gw_{:016x}", rand_u64());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    Some((
        format!("{base}?options=-c%20search_path%3D{schema}"),
        schema,
    ))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

fn config(url: &str, upstream: &str) -> String {
    format!(
        "listeners: [ {{ name: p, address: \"127.0.0.1:0\" }} ]\nstore: {{ postgres: \"{url}\" }}\napis:\n  - name: x\n    base_path: /\n    upstream: {{ targets: [\"{upstream}\"] }}\n    policies: {{ request: [ {{ verify-api-key: {{}} }} ] }}\n"
    )
}

/// Polls `url` with `key` until the status is `want`; returns how long it took.
async fn until_status(url: &str, key: &str, want: u16) -> Duration {
    let started = Instant::now();
    loop {
        if get(url, &[("x-api-key", key)]).await.status.as_u16() == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "status {want} not reached"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_see_key_changes_within_a_second() {
    let Some((url, schema)) = fresh_schema().await else {
        return;
    };
    let up = Recorder::start("up").await;
    let a = TestGateway::start(&config(&url, &up.url())).await;
    let b = TestGateway::start(&config(&url, &up.url())).await;
    let admin = PgStore::connect(&url, test_keyring()).await.unwrap();
    let app = admin.ensure_app("dev@example.com", "shop").await.unwrap();

    let mut delays = Vec::new();
    for _ in 0..5 {
        let (record, secret) = admin.create_key(&app.id, None).await.unwrap();
        let key = secret.expose().to_owned();
        delays.push(until_status(&a.url("/x"), &key, 200).await);
        delays.push(until_status(&b.url("/x"), &key, 200).await);
        admin.revoke_key(&record.prefix).await.unwrap();
        delays.push(until_status(&a.url("/x"), &key, 401).await);
        delays.push(until_status(&b.url("/x"), &key, 401).await);
    }
    delays.sort();
    let worst = *delays.last().unwrap();
    eprintln!(
        "propagation through both gateways: median {:?}, max {worst:?} over {} observations",
        delays[delays.len() / 2],
        delays.len()
    );
    assert!(
        worst <= Duration::from_secs(1),
        "a change took {worst:?} to reach a node"
    );
    a.stop().await;
    b.stop().await;
    admin.close().await;
    let base = std::env::var("PORTCULLIS_TEST_PG_URL").unwrap_or_else(|_| BASE.into());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}
