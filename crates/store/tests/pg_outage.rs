//! PostgreSQL going away under a running gateway: calls fail fast with `Unavailable`, the
//! index keeps serving its last snapshot, and once the server is back the listener
//! reconnects and changes flow again. The outage is simulated with a TCP proxy in front of
//! the real server, so the test needs no privileges over the database.

#[path = "contract/harness.rs"]
mod harness;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use harness::{TestDb, eventually, run_postgres, start_index};
use portcullis_store::{KeyLookup, KeyRepository, PgStore, StoreError};
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One fixed master key for every handle in this test binary, so handles agree on hashes.
fn test_keyring() -> std::sync::Arc<portcullis_store::Keyring> {
    std::sync::Arc::new(portcullis_store::Keyring::from_master(&[5; 32]))
}

/// Forwards `127.0.0.1:port` to the server; `stop` cuts every connection and refuses new ones.
struct Proxy {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(port: u16, upstream: String) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                registry.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Proxy { port, tasks }
    }

    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn outage_keeps_the_snapshot_and_recovers(db: TestDb) {
    let TestDb::Postgres { url, .. } = &db else {
        unreachable!()
    };
    let direct: PgConnectOptions = url.parse().unwrap();
    let upstream = format!("{}:{}", direct.get_host(), direct.get_port());
    let proxy = Proxy::start(0, upstream.clone()).await;
    let via_proxy = url.replacen(&upstream, &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(&via_proxy, url, "the URL must go through the proxy");

    let writer = db.open().await;
    let gateway: Arc<dyn KeyRepository> =
        Arc::new(PgStore::connect(&via_proxy, test_keyring()).await.unwrap());
    let index = start_index(Arc::clone(&gateway), Duration::from_millis(50)).await;
    let mut feed = gateway.subscribe_changes().expect("feed");
    let app = writer.ensure_app("a@example.com", "shop").await.unwrap();
    let (rec, secret) = writer.create_key(&app.id, None).await.unwrap();
    eventually(&index, secret.expose(), KeyLookup::is_valid).await;

    proxy.stop();
    for _ in 0..2 {
        let started = Instant::now();
        let err = gateway.list_keys(None).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(took <= Duration::from_millis(2500), "took {took:?}");
        eprintln!("read during outage: unavailable after {took:?}");
    }
    // Revoked meanwhile, but the gateway cannot know: it keeps serving what it had.
    writer.revoke_key(&rec.prefix).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(index.lookup(secret.expose(), SystemTime::now()).is_valid());
    assert!(!feed.state().connected, "the listener noticed the outage");

    let restarted = Instant::now();
    let _proxy = Proxy::start(proxy.port, upstream).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while index.lookup(secret.expose(), SystemTime::now()).is_valid() {
        assert!(
            Instant::now() < deadline,
            "revocation never arrived after recovery"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let caught_up = restarted.elapsed();
    while !feed.state().connected {
        assert!(Instant::now() < deadline, "listener never reconnected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let relistening = restarted.elapsed();
    eprintln!(
        "after recovery: index caught up in {caught_up:?}, listening again in {relistening:?}"
    );
    let (_, fresh) = writer.create_key(&app.id, None).await.unwrap();
    eventually(&index, fresh.expose(), KeyLookup::is_valid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_keeps_the_snapshot_and_recovers() {
    run_postgres(outage_keeps_the_snapshot_and_recovers).await;
}
