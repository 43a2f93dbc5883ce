//! An in-process gateway on ephemeral ports, built from a YAML snippet, with its store in a
//! temporary directory and its access log captured.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use portcullis_app::{Running, ServeOptions};
use portcullis_store::{Actor, AdminRepository, AdminRole, Keyring, SqliteStore};

/// A running gateway for one test.
pub struct TestGateway {
    /// The running app.
    pub running: Running,
    /// The config file.
    pub config_path: PathBuf,
    /// The SQLite file.
    pub db_path: PathBuf,
    log: Arc<Mutex<Vec<u8>>>,
    admin_auth: tokio::sync::OnceCell<String>,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends the store and admin settings a test config leaves out.
fn complete(yaml: &str, db: &std::path::Path) -> String {
    let mut text = yaml.to_owned();
    if !text.contains("\nstore:") && !text.starts_with("store:") {
        text.push_str(&format!("\nstore: {{ sqlite: \"{}\" }}\n", db.display()));
    }
    if !text.contains("\nadmin:") && !text.starts_with("admin:") {
        text.push_str("\nadmin: { address: \"127.0.0.1:0\" }\n");
    }
    text
}

/// The master keyring every test gateway uses, so a second store handle (or a second node)
/// recognises the credentials the first one issued.
pub fn test_keyring() -> Arc<Keyring> {
    Arc::new(Keyring::from_master(&[0x42; 32]))
}

impl TestGateway {
    /// Starts a gateway from `yaml` (listeners should bind `127.0.0.1:0`).
    pub async fn start(yaml: &str) -> Self {
        Self::start_with(yaml, None)
            .await
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
    }

    /// Starts with an optional config-file watch interval; returns the start error instead of
    /// panicking.
    pub async fn start_with(yaml: &str, watch: Option<Duration>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db_path = dir.path().join("portcullis.db");
        let config_path = dir.path().join("portcullis.yaml");
        std::fs::write(&config_path, complete(yaml, &db_path)).map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let running = portcullis_app::start(ServeOptions {
            config: config_path.clone(),
            watch_interval: watch,
            access_log: Some(Box::new(Capture(log.clone()))),
            keyring: Some(test_keyring()),
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(Self {
            running,
            config_path,
            db_path,
            log,
            admin_auth: tokio::sync::OnceCell::new(),
            _dir: dir,
        })
    }

    /// Address of the first listener.
    pub fn addr(&self) -> SocketAddr {
        self.running.listeners[0].1
    }

    /// `http://<first listener><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// `http://<admin><path>`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.admin)
    }

    /// Replaces the config file (store/admin completed as at start). Does not reload.
    pub fn write_config(&self, yaml: &str) {
        let text = complete(yaml, &self.db_path);
        let tmp = self.config_path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(&tmp, &self.config_path).expect("replace config");
    }

    /// Opens a second handle on the gateway's store (as the CLI would).
    pub async fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.db_path, test_keyring())
            .await
            .expect("open store")
    }

    /// Creates an app and a key through a separate store handle and waits until the gateway's
    /// credential index has it. The key is approved for [`crate::ALL_PRODUCT`] (created if
    /// missing), which opens everything, so it passes `verify-api-key`'s product check
    /// wherever the key itself is good. Returns the plaintext key.
    pub async fn create_key(&self, app: &str) -> String {
        let store = self.store().await;
        crate::catalog::ensure_product(
            &store,
            crate::ALL_PRODUCT,
            &crate::product_spec(&[], &[], &[], &[]),
        )
        .await
        .expect("product");
        self.issue_key(&store, app, &[crate::ALL_PRODUCT]).await.key
    }

    /// Creates an admin user with `role` and an API token for it (named `<username>-token`)
    /// through a separate store handle, as `portcullis admin create-user` would. Returns the
    /// bearer token.
    pub async fn admin_token(&self, username: &str, role: AdminRole) -> String {
        let store = self.store().await;
        store
            .create_admin_user(&Actor::system(), username, "test-support password", role)
            .await
            .expect("create admin user");
        let (_, secret) = store
            .create_admin_token(
                &Actor::system(),
                username,
                &format!("{username}-token"),
                role,
                None,
            )
            .await
            .expect("create admin token");
        secret.expose().to_owned()
    }

    /// `Bearer <token>` of an `admin`-role API token, created on first use: the value of the
    /// `Authorization` header every `/admin/v1` request needs.
    pub async fn admin_auth(&self) -> String {
        self.admin_auth
            .get_or_init(|| async {
                format!(
                    "Bearer {}",
                    self.admin_token("test-admin", AdminRole::Admin).await
                )
            })
            .await
            .clone()
    }

    /// Access log lines written so far, parsed.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.log.lock())
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (up to 5 s) until at least `n` access log lines exist.
    pub async fn wait_for_log_lines(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..500 {
            let lines = self.log_lines();
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.log_lines()
    }

    /// Graceful shutdown.
    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}
