//! Start-up, signals and shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use portcullis_config::{ConfigErrors, StoreSpec, load_file};
use portcullis_policies::PolicyDeps;
use portcullis_proxy::gateway::Gateway;
use portcullis_proxy::observe::Observer;
use portcullis_proxy::server;
use portcullis_store::{
    Actor, DEFAULT_POLL, IndexSync, KeyIndex, Keyring, KvmSnapshot, KvmSync, MASTER_KEY_ENV,
    PgStore, SqliteStore, Store, StoreError, StoreSync,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::App;

/// How to run.
pub struct ServeOptions {
    /// The config file.
    pub config: PathBuf,
    /// How often the config file is checked for changes (None: never).
    pub watch_interval: Option<Duration>,
    /// Where access log lines go (default: standard output).
    pub access_log: Option<Box<dyn std::io::Write + Send>>,
    /// The master keyring; `None` finds it as [`load_keyring`] says.
    pub keyring: Option<Arc<Keyring>>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config file is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error("cannot bind {name} on {address}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        address: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// TLS files are unusable.
    #[error("listener {name}: {source}")]
    Tls {
        /// Listener name.
        name: String,
        /// Why.
        source: server::TlsError,
    },
}

/// A started gateway.
pub struct Running {
    /// Bound API listeners (name, address).
    pub listeners: Vec<(String, SocketAddr)>,
    /// Bound admin address.
    pub admin: SocketAddr,
    /// Bound address of the built-in OAuth authorization server, if configured.
    pub authorization_server: Option<SocketAddr>,
    /// The application.
    pub app: Arc<App>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Address of the named listener.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// Stops accepting, lets in-flight requests finish (within the grace period), then returns.
    pub async fn shutdown(mut self) {
        self.app.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Environment variable naming a master key file (alternative to `PORTCULLIS_MASTER_KEY`).
pub const MASTER_KEY_FILE_ENV: &str = "PORTCULLIS_MASTER_KEY_FILE";

/// Finds the master key: `PORTCULLIS_MASTER_KEY` (base64), else the file named by
/// `PORTCULLIS_MASTER_KEY_FILE`, else, for the embedded SQLite default only, `master.key` next
/// to the database file, created on first run. A PostgreSQL cluster must be given its key
/// explicitly: nodes generating their own would not recognise each other's credentials.
pub fn load_keyring(spec: &StoreSpec) -> Result<Arc<Keyring>, StoreError> {
    if let Some(k) = Keyring::from_env()? {
        return Ok(Arc::new(k));
    }
    if let Some(path) = std::env::var_os(MASTER_KEY_FILE_ENV) {
        return Ok(Arc::new(Keyring::from_file(std::path::Path::new(&path))?));
    }
    match spec {
        StoreSpec::Sqlite(db) => {
            let file = db.with_file_name("master.key");
            Ok(Arc::new(Keyring::load_or_create_file(&file)?))
        }
        StoreSpec::Postgres(_) => Err(StoreError::Invalid(format!(
            "a PostgreSQL store needs the cluster's master key: set {MASTER_KEY_ENV} (base64, 32 \
             bytes) or {MASTER_KEY_FILE_ENV}"
        ))),
    }
}

/// Opens the configured store backend with the deployment's master key (`keyring`, or the
/// one [`load_keyring`] finds).
pub async fn open_store(
    spec: &StoreSpec,
    keyring: Option<Arc<Keyring>>,
) -> Result<(Arc<dyn Store>, Arc<Keyring>), StoreError> {
    let keyring = match keyring {
        Some(k) => k,
        None => load_keyring(spec)?,
    };
    let store: Arc<dyn Store> = match spec {
        StoreSpec::Sqlite(path) => Arc::new(SqliteStore::open(path, Arc::clone(&keyring)).await?),
        StoreSpec::Postgres(url) => Arc::new(PgStore::connect(url, Arc::clone(&keyring)).await?),
    };
    Ok((store, keyring))
}

/// Loads the config, opens the store, binds everything and starts serving.
pub async fn start(opts: ServeOptions) -> Result<Running, StartError> {
    // Installed first: metric handles resolved before the recorder exists would be no-ops.
    let metrics = metrics_handle();
    let keys = Arc::new(KeyIndex::new());
    let kvm = Arc::new(KvmSnapshot::new());
    let deps = PolicyDeps {
        keys: keys.clone(),
        kvm: kvm.clone(),
        ..Default::default()
    };
    let snapshot = {
        let path = opts.config.clone();
        let deps = deps.clone();
        tokio::task::spawn_blocking(move || load_file(&path, &deps))
            .await
            .expect("config compilation should not panic")?
    };
    let server_settings = snapshot.server.clone();
    let (store, keyring) = open_store(&server_settings.store, opts.keyring.clone()).await?;
    keys.bind_keyring(keyring.clone());
    let served = provision_environments(store.as_ref(), &snapshot).await?;
    let followers = vec![
        IndexSync::follower(store.clone(), keys),
        KvmSync::follower(store.clone(), kvm, served),
    ];
    StoreSync::refresh(store.as_ref(), &followers).await?;

    let observer = match opts.access_log {
        Some(w) => Observer::with_writer(snapshot.access_log, w),
        None => Observer::new(snapshot.access_log),
    };
    let mut tls = Vec::new();
    for l in &server_settings.listeners {
        let acceptor = match &l.tls {
            Some((cert, key)) => Some(
                server::tls_acceptor_with_client_certs(cert, key, l.client_certs.as_ref())
                    .map_err(|source| StartError::Tls {
                        name: l.name.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        tls.push(acceptor);
    }
    let gateway = Gateway::new(snapshot, observer);
    let app = Arc::new(App {
        config_path: opts.config.clone(),
        deps,
        gateway: gateway.clone(),
        server: server_settings.clone(),
        generation: AtomicU64::new(1),
        ready: AtomicBool::new(false),
        reload_lock: tokio::sync::Mutex::new(()),
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut bound = Vec::new();
    for (spec, acceptor) in server_settings.listeners.iter().zip(tls) {
        let listener =
            TcpListener::bind(spec.address)
                .await
                .map_err(|source| StartError::Bind {
                    name: spec.name.clone(),
                    address: spec.address,
                    source,
                })?;
        let addr = listener.local_addr().unwrap_or(spec.address);
        bound.push((spec.name.clone(), addr));
        tracing::info!(listener = %spec.name, %addr, tls = acceptor.is_some(), "listening");
        tasks.spawn(server::serve(
            listener,
            acceptor,
            spec.name.as_str().into(),
            gateway.clone(),
            shutdown_rx.clone(),
        ));
    }
    let admin_listener = TcpListener::bind(server_settings.admin)
        .await
        .map_err(|source| StartError::Bind {
            name: "admin".into(),
            address: server_settings.admin,
            source,
        })?;
    let admin = admin_listener.local_addr().unwrap_or(server_settings.admin);
    tracing::info!(%admin, "admin listening");
    let router = portcullis_admin::router(portcullis_admin::AdminDeps {
        control: app.clone(),
        metrics,
        store: store.clone(),
        session_ttl: portcullis_admin::DEFAULT_SESSION_TTL,
    });
    let mut admin_stop = shutdown_rx.clone();
    tasks.spawn(async move {
        let stop = async move {
            let _ = admin_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = portcullis_admin::serve(admin_listener, router, stop).await {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    let authorization_server = crate::oauth::start(
        server_settings.authorization_server.as_ref(),
        store.clone(),
        keyring.clone(),
        &app.deps().oauth,
        &mut tasks,
        shutdown_rx.clone(),
    )
    .await?;
    let sync = StoreSync::spawn(store, followers, DEFAULT_POLL);
    let mut sync_stop = shutdown_rx.clone();
    tasks.spawn(async move {
        let _ = sync_stop.wait_for(|s| *s).await;
        sync.abort();
    });
    if let Some(every) = opts.watch_interval {
        // Digest taken now, not inside the task, so a change made right after start is seen.
        let initial = tokio::fs::read(&app.config_path)
            .await
            .ok()
            .map(|b| digest(&b));
        tasks.spawn(watch_file(app.clone(), every, initial, shutdown_rx.clone()));
    }
    app.ready.store(true, Ordering::SeqCst);
    Ok(Running {
        listeners: bound,
        admin,
        authorization_server,
        app,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// Creates (if missing) every environment the config names, so API products and KVM entries
/// can refer to them. Returns the environments this node's listeners serve: the ones whose
/// key-value maps it loads.
async fn provision_environments(
    store: &dyn Store,
    snapshot: &portcullis_config::Snapshot,
) -> Result<Vec<String>, StoreError> {
    let served: std::collections::BTreeSet<String> = snapshot
        .server
        .listeners
        .iter()
        .map(|l| l.environment.to_string())
        .collect();
    let named = snapshot
        .apis
        .iter()
        .filter_map(|api| api.environments.as_deref())
        .chain(snapshot.environments.as_deref())
        .flatten()
        .map(|e| e.to_string());
    let all: std::collections::BTreeSet<String> = served.iter().cloned().chain(named).collect();
    for env in &all {
        store.ensure_environment(&Actor::system(), env).await?;
    }
    Ok(served.into_iter().collect())
}

/// Polls the config file's content; a change triggers a reload. Polling (rather than inotify)
/// also catches editors that replace the file and config-map symlink swaps.
fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

async fn watch_file(
    app: Arc<App>,
    every: Duration,
    mut last: Option<u64>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let stop = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = &mut stop => return,
        }
        let Ok(bytes) = tokio::fs::read(&app.config_path).await else {
            continue;
        };
        let now = Some(digest(&bytes));
        if now != last {
            last = now;
            let _ = app.reload("file-change").await;
        }
    }
}

/// Runs until SIGTERM or Ctrl-C; SIGHUP reloads the config.
pub async fn run(opts: ServeOptions) -> Result<(), StartError> {
    // The handlers first: `start` already serves on the listeners while it sets up the rest,
    // and a SIGHUP that arrived before its handler existed would kill the process (the default
    // action) instead of reloading. One that arrives during start-up reloads once it is done.
    #[cfg(unix)]
    let (mut hup, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::hangup()).expect("installing a SIGHUP handler should not fail"),
            signal(SignalKind::terminate()).expect("installing a SIGTERM handler should not fail"),
        )
    };
    let running = start(opts).await?;
    let app = running.app.clone();
    #[cfg(unix)]
    {
        loop {
            tokio::select! {
                _ = hup.recv() => { let _ = app.reload("sighup").await; }
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
