//! The admin router on a real store (a temporary SQLite file, or a fresh PostgreSQL schema),
//! driven in process with `tower::ServiceExt::oneshot`, plus helpers to mint callers.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use portcullis_admin::{AdminDeps, Control};
use portcullis_config::ConfigErrors;
use portcullis_store::{Actor, AdminRole, Keyring, PgStore, SqliteStore, Store};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use tower::ServiceExt;

/// A password every test user gets.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A `Control` standing in for the gateway: counts reloads.
pub(crate) struct FakeControl;

#[async_trait]
impl Control for FakeControl {
    async fn reload(&self) -> Result<u64, ConfigErrors> {
        Ok(2)
    }
    fn ready(&self) -> bool {
        true
    }
    fn status(&self) -> Value {
        json!({"generation": 1, "apis": []})
    }
}

/// The admin router on one private store.
pub(crate) struct Harness {
    pub(crate) router: Router,
    pub(crate) store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

/// One response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn etag(&self) -> String {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no ETag on {self:?}"))
            .to_owned()
    }

    /// The `path`s of a 422's `errors`.
    pub(crate) fn error_paths(&self) -> Vec<String> {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.text
        );
        self.body["errors"]
            .as_array()
            .expect("errors list")
            .iter()
            .map(|e| e["path"].as_str().expect("path").to_owned())
            .collect()
    }

    /// Asserts a problem+json answer with `status` and `code`.
    pub(crate) fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
    }
}

pub(crate) fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::from_master(&[7; 32]))
}

fn build(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> Harness {
    let router = portcullis_admin::router(AdminDeps {
        control: Arc::new(FakeControl),
        metrics: None,
        store: store.clone(),
        session_ttl: Duration::from_secs(3600),
    });
    Harness {
        router,
        store,
        _dir: dir,
    }
}

/// On a temporary SQLite file, with the concrete handle (to close it: an unreachable store).
pub(crate) async fn sqlite_handle() -> (Harness, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("admin.db"), keyring())
            .await
            .expect("open sqlite"),
    );
    (build(store.clone(), Some(dir)), store)
}

/// On a temporary SQLite file.
pub(crate) async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("admin.db"), keyring())
        .await
        .expect("open sqlite");
    build(Arc::new(store), Some(dir))
}

/// On a fresh PostgreSQL schema, or `None` (after saying why) when PostgreSQL is unreachable
/// and `PORTCULLIS_REQUIRE_POSTGRES` is not `1`.
pub(crate) async fn postgres() -> Option<Harness> {
    let base = std::env::var("PORTCULLIS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut conn = match tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::PgConnection::connect(&base),
    )
    .await
    {
        Ok(Ok(c)) => c,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "connect timed out".into(),
            };
            assert!(
                std::env::var("PORTCULLIS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PostgreSQL required but not reachable: {why}"
            );
            eprintln!("SKIPPED: PostgreSQL not reachable at 127.0.0.1:5432 ({why})");
            return None;
        }
    };
    let schema = format!("admin_{:016x}", random_u64());
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = PgStore::connect(&url, keyring())
        .await
        .expect("connect pg store");
    Some(build(Arc::new(store), None))
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

impl Harness {
    /// Creates a user with `role` and an API token named after it; returns the bearer token.
    pub(crate) async fn token(&self, username: &str, role: AdminRole) -> String {
        self.store
            .create_admin_user(&Actor::system(), username, PASSWORD, role)
            .await
            .expect("create admin user");
        let (_, secret) = self
            .store
            .create_admin_token(
                &Actor::system(),
                username,
                &format!("{username}-ci"),
                role,
                None,
            )
            .await
            .expect("create admin token");
        secret.expose().to_owned()
    }

    /// Sends a request; `body` is sent as JSON.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }
}
