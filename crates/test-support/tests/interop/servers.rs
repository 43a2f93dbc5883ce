//! Local servers for the JWT tests: a JWKS endpoint whose document can change (key rotation) and
//! that counts fetches, and a trap listener that counts every connection made to it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

/// Serves one JWKS document at any path, with `Cache-Control: max-age=300`.
pub(crate) struct JwksServer {
    addr: SocketAddr,
    fetches: Arc<AtomicUsize>,
    body: Arc<Mutex<Bytes>>,
}

impl JwksServer {
    pub(crate) async fn start(jwks: &serde_json::Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fetches = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(Bytes::from(jwks.to_string())));
        let (f, b) = (fetches.clone(), body.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (f, b) = (f.clone(), b.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        f.fetch_add(1, Ordering::SeqCst);
                        let body = b.lock().clone();
                        async move {
                            let resp = http::Response::builder()
                                .header("content-type", "application/jwk-set+json")
                                .header("cache-control", "public, max-age=300")
                                .body(Full::new(body))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            fetches,
            body,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    /// GET requests served so far.
    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Publishes a new document (key rotation).
    pub(crate) fn publish(&self, jwks: &serde_json::Value) {
        *self.body.lock() = Bytes::from(jwks.to_string());
    }
}

/// A listener that must never be contacted: counts accepted connections and closes them.
pub(crate) struct Trap {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let c = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { addr, connections }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
