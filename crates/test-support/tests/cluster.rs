//! Two gateway nodes sharing one PostgreSQL store (each with its own connection pool, change
//! feed and in-memory index, as two processes would have): catalog changes of every kind
//! (issuing, product approval and revocation, app revocation, developer deactivation, credential
//! revocation, and their reversals) made through a third handle reach both nodes within a
//! second at the 99th percentile (LISTEN/NOTIFY change feed, polling fallback). The figures are
//! printed. Skipped, with a message, when PostgreSQL is not reachable — unless
//! `PORTCULLIS_REQUIRE_POSTGRES=1` (CI), which turns the skip into a failure.

use std::time::{Duration, Instant};

use portcullis_store::{
    Actor, AppStatus, ApprovalStatus, CatalogRepository, CredentialSpec, DeveloperStatus,
    KeyRepository, PgStore,
};
use portcullis_test_support::{
    ALL_PRODUCT, Recorder, TestGateway, ensure_product, get, product_spec, test_keyring,
};
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

/// The stable code a node answers `key` with (`ok` for 200).
async fn verdict(url: &str, key: &str) -> String {
    let reply = get(url, &[("x-api-key", key)]).await;
    if reply.status == 200 {
        "ok".into()
    } else {
        reply.json()["code"].as_str().unwrap_or("?").to_owned()
    }
}

/// Polls `url` until it answers `want`; returns how long that took from `since`.
async fn until_verdict(url: &str, key: &str, want: &str, since: Instant) -> Duration {
    loop {
        if verdict(url, key).await == want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{url} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One change of the catalog and what every node must answer afterwards.
#[derive(Debug, Clone, Copy)]
enum Change {
    Issue,
    RevokeApproval,
    Approve,
    RevokeApp,
    RestoreApp,
    DeactivateDeveloper,
    ActivateDeveloper,
    RevokeCredential,
}

const ROUND: [Change; 8] = [
    Change::Issue,
    Change::RevokeApproval,
    Change::Approve,
    Change::RevokeApp,
    Change::RestoreApp,
    Change::DeactivateDeveloper,
    Change::ActivateDeveloper,
    Change::RevokeCredential,
];

/// The key of the current round and its ids.
#[derive(Default)]
struct Current {
    key: String,
    prefix: String,
    app_id: String,
}

/// Applies `change` through `admin`; returns the verdict both nodes must reach.
async fn apply(admin: &PgStore, change: Change, cur: &mut Current) -> &'static str {
    let actor = Actor::system();
    match change {
        Change::Issue => {
            let app = admin.ensure_app("dev@example.com", "shop").await.unwrap();
            let spec = CredentialSpec {
                products: vec![ALL_PRODUCT.into()],
                expires_at: None,
            };
            let issued = admin
                .create_credential(&actor, &app.id, &spec)
                .await
                .unwrap();
            cur.key = issued.consumer_key.expose().to_owned();
            cur.prefix = issued.credential.key.prefix;
            cur.app_id = app.id;
            "ok"
        }
        Change::RevokeApproval | Change::Approve => {
            let (status, want) = match change {
                Change::Approve => (ApprovalStatus::Approved, "ok"),
                _ => (ApprovalStatus::Revoked, "key.not_approved"),
            };
            admin
                .set_credential_product_status(&actor, &cur.prefix, ALL_PRODUCT, status, None)
                .await
                .unwrap();
            want
        }
        Change::RevokeApp | Change::RestoreApp => {
            let (status, want) = match change {
                Change::RestoreApp => (AppStatus::Approved, "ok"),
                _ => (AppStatus::Revoked, "app.revoked"),
            };
            admin
                .set_app_status_by(&actor, &cur.app_id, status, None)
                .await
                .unwrap();
            want
        }
        Change::DeactivateDeveloper | Change::ActivateDeveloper => {
            let (status, want) = match change {
                Change::ActivateDeveloper => (DeveloperStatus::Active, "ok"),
                _ => (DeveloperStatus::Inactive, "developer.inactive"),
            };
            admin
                .set_developer_status_by(&actor, "dev@example.com", status, None)
                .await
                .unwrap();
            want
        }
        Change::RevokeCredential => {
            admin
                .revoke_credential(&actor, &cur.prefix, None)
                .await
                .unwrap();
            "key.revoked"
        }
    }
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_see_catalog_changes_within_a_second() {
    let Some((url, schema)) = fresh_schema().await else {
        return;
    };
    let up = Recorder::start("up").await;
    let a = TestGateway::start(&config(&url, &up.url())).await;
    let b = TestGateway::start(&config(&url, &up.url())).await;
    let admin = PgStore::connect(&url, test_keyring()).await.unwrap();
    ensure_product(&admin, ALL_PRODUCT, &product_spec(&[], &[], &[], &[]))
        .await
        .unwrap();
    let (url_a, url_b) = (a.url("/x"), b.url("/x"));

    // Per change: the time from the write's commit until *both* nodes answer accordingly.
    let mut delays = Vec::new();
    let mut cur = Current::default();
    for change in ROUND.iter().cycle().take(3 * ROUND.len()) {
        let want = apply(&admin, *change, &mut cur).await;
        let since = Instant::now();
        let (da, db) = tokio::join!(
            until_verdict(&url_a, &cur.key, want, since),
            until_verdict(&url_b, &cur.key, want, since)
        );
        delays.push((*change, da.max(db)));
    }
    let mut sorted: Vec<Duration> = delays.iter().map(|(_, d)| *d).collect();
    sorted.sort();
    let (p50, p99, max) = (
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        *sorted.last().unwrap(),
    );
    eprintln!(
        "propagation to both nodes over {} changes: p50 {p50:?}, p99 {p99:?}, max {max:?}",
        sorted.len()
    );
    for (change, d) in &delays {
        eprintln!("  {change:?}: {d:?}");
    }
    assert!(sorted.len() >= 20);
    assert!(p99 < Duration::from_secs(1), "p99 propagation {p99:?}");
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
