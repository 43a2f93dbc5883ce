//! Token endpoint throughput: client_credentials against the authorization server on loopback,
//! with its real SQLite store (WAL, one write transaction per token) in a temporary directory.
//!
//!     cargo run --release -p portcullis-oauth --example token_bench -- [seconds] [connections] [opaque|jwt] [full|normal]
//!
//! The last argument is the store's commit durability (`Durability`: `full`, the default, flushes
//! every commit; `normal` survives process crashes but not power loss).
//!
//! The load generator runs in the same process (keep-alive HTTP/1.1 connections, one request in
//! flight each), so the figure is conservative: client and server share the machine's cores.
//! bench/oauth_token.sh runs it and records the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis_oauth::{AuthorizationServer, LocalTokens, Settings};
use portcullis_store::{
    Actor, AppSpec, ApprovalType, Attributes, CatalogRepository, CredentialSpec, DeveloperSpec,
    Durability, Keyring, OAuthRepository, ProductSpec, SqliteStore,
};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let conns: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let format = args.get(3).cloned().unwrap_or_else(|| "opaque".into());
    let durability = match args.get(4).map(String::as_str) {
        Some("normal") => Durability::Normal,
        _ => Durability::Full,
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let keyring = Arc::new(Keyring::ephemeral());
    let store = Arc::new(
        SqliteStore::open_with(&dir.path().join("bench.db"), keyring.clone(), durability)
            .await
            .expect("store"),
    );
    let actor = Actor::system();
    store
        .create_developer(
            &actor,
            &DeveloperSpec {
                email: "bench@example.com".into(),
                name: "Bench".into(),
                attributes: Default::default(),
            },
        )
        .await
        .expect("developer");
    let app = store
        .create_app(
            &actor,
            "bench@example.com",
            &AppSpec {
                name: "bench".into(),
                callback_urls: vec![],
                attributes: Default::default(),
            },
        )
        .await
        .expect("app");
    let mut attributes = Attributes::new();
    attributes.insert("token_format".into(), format.clone());
    store
        .create_product(
            &actor,
            "orders",
            &ProductSpec {
                display_name: "Orders".into(),
                description: String::new(),
                apis: vec![],
                paths: vec!["/**".into()],
                methods: vec![],
                environments: vec![],
                scopes: vec!["orders.read".into()],
                quota: None,
                approval: ApprovalType::Auto,
                attributes,
            },
        )
        .await
        .expect("product");
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec!["orders".into()],
                expires_at: None,
            },
        )
        .await
        .expect("credential");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let settings = Settings::new(addr, format!("http://{addr}"));
    let server = AuthorizationServer::new(
        settings,
        store.clone() as Arc<dyn OAuthRepository>,
        keyring,
        Arc::new(LocalTokens::default()),
    )
    .await
    .expect("server");
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(portcullis_oauth::serve(
        listener,
        server.router(),
        None,
        stop_rx,
    ));

    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            issued.consumer_key.expose(),
            issued.consumer_secret.expose()
        ))
    );
    let url = format!("http://{addr}/oauth2/token");
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let warmup = Duration::from_secs(2);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, url, auth, ok, failed) = (
            client.clone(),
            url.clone(),
            auth.clone(),
            ok.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let req = http::Request::post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from_static(
                        b"grant_type=client_credentials&scope=orders.read",
                    )))
                    .expect("request");
                let counted = Instant::now() >= measure_from;
                match client.request(req).await {
                    Ok(resp) => {
                        let good = resp.status() == 200;
                        let _ = resp.into_body().collect().await;
                        if counted {
                            if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        if counted {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = ok.load(Ordering::Relaxed);
    let rate = n as f64 / seconds as f64;
    println!(
        "format={format} connections={conns} seconds={seconds} tokens={n} failed={} tokens_per_s={rate:.0}",
        failed.load(Ordering::Relaxed)
    );
}
