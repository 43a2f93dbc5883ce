//! Upstreams for tests: one that records every request and answers 200 with a JSON echo, and
//! fault upstreams that refuse, hang, or reset.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// A recording upstream.
pub struct Recorder {
    /// Its address.
    pub addr: SocketAddr,
    name: String,
    seen: Mutex<Vec<Recorded>>,
}

impl Recorder {
    /// Starts an upstream named `name` (echoed in every answer as `upstream`).
    pub async fn start(name: &str) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind recorder");
        let rec = Arc::new(Self {
            addr: listener.local_addr().expect("local addr"),
            name: name.to_owned(),
            seen: Mutex::new(Vec::new()),
        });
        let server = rec.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rec = server.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let rec = rec.clone();
                        async move { rec.answer(req).await }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        rec
    }

    async fn answer(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let uri = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        self.seen.lock().push(Recorded {
            method: parts.method.to_string(),
            uri: uri.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        if let Some(ms) = parts
            .headers
            .get("x-test-delay-ms")
            .and_then(|v| v.to_str().ok()?.parse().ok())
        {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let doc = serde_json::json!({ "upstream": self.name, "method": parts.method.as_str(), "uri": uri, "body_bytes": body.len() });
        let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
        let h = resp.headers_mut();
        h.insert("content-type", "application/json".parse().expect("static"));
        h.insert("server", "recorder/1.0".parse().expect("static"));
        h.insert("x-powered-by", "tests".parse().expect("static"));
        Ok(resp)
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.seen.lock().len()
    }
}

/// An address nothing listens on (connections are refused).
pub async fn refused_address() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// Accepts connections, reads, never answers. Returns the address and a counter of connections.
pub async fn hanging_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (addr, count)
}

/// Reads a request head, then closes the connection with a reset. Returns the address and a
/// counter of requests received.
pub async fn resetting_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                c.fetch_add(1, Ordering::SeqCst);
                // Zero linger makes the close an RST. (Deprecated because a non-zero linger blocks
                // on drop; a zero one never does.)
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, count)
}
