//! Small real-socket upstreams for the tests: a normal hyper server, a refusing address, a
//! server that never answers and one that resets after reading a request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) method: String,
    pub(super) path_and_query: String,
    pub(super) host: String,
    pub(super) body: Bytes,
}

#[derive(Default)]
pub(super) struct Counters {
    /// Requests other than health probes.
    pub(super) requests: AtomicUsize,
    pub(super) probes: AtomicUsize,
    /// TCP connections accepted.
    pub(super) connections: AtomicUsize,
    /// Answer for `/healthz`: 200 when true, 503 when false.
    pub(super) healthy: AtomicBool,
    pub(super) seen: Mutex<Vec<Seen>>,
}

/// A hyper HTTP/1 server answering 200 with its name; `Upgrade: echo` switches to an echo
/// stream.
pub(super) struct HttpServer {
    pub(super) addr: SocketAddr,
    pub(super) counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub(super) async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        counters.healthy.store(true, Ordering::SeqCst);
        let shared = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let counters = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(name, Arc::clone(&counters), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self {
            addr,
            counters,
            task,
        }
    }

    pub(super) fn requests(&self) -> usize {
        self.counters.requests.load(Ordering::SeqCst)
    }

    pub(super) fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    pub(super) fn probes(&self) -> usize {
        self.counters.probes.load(Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    name: &'static str,
    counters: Arc<Counters>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/healthz" {
        counters.probes.fetch_add(1, Ordering::SeqCst);
        let status = if counters.healthy.load(Ordering::SeqCst) {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let mut response = Response::new(Full::new(Bytes::from_static(b"health")));
        *response.status_mut() = status;
        return Ok(response);
    }
    counters.requests.fetch_add(1, Ordering::SeqCst);
    if req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v == "echo")
    {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let upgraded = on_upgrade.await.unwrap();
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 64];
            let n = io.read(&mut buf).await.unwrap();
            io.write_all(&buf[..n]).await.unwrap();
            io.flush().await.unwrap();
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response
            .headers_mut()
            .insert(header::UPGRADE, "echo".parse().unwrap());
        response
            .headers_mut()
            .insert(header::CONNECTION, "upgrade".parse().unwrap());
        return Ok(response);
    }
    let method = req.method().to_string();
    let path_and_query = req.uri().path_and_query().unwrap().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    counters.seen.lock().push(Seen {
        method,
        path_and_query,
        host,
        body,
    });
    Ok(Response::new(Full::new(Bytes::from_static(
        name.as_bytes(),
    ))))
}

/// An address nothing listens on: bound, then released.
pub(super) fn refused_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Accepts connections and never answers; counts connections.
pub(super) struct HangingServer {
    pub(super) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HangingServer {
    pub(super) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Self { addr, task }
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head, then resets the connection (zero linger); counts requests.
pub(super) struct ResettingServer {
    pub(super) addr: SocketAddr,
    pub(super) requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl ResettingServer {
    pub(super) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    stream.set_zero_linger().unwrap();
                    drop(stream);
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    pub(super) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for ResettingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `HttpServer` behind TLS with a fresh self-signed certificate for `localhost`.
pub(super) struct TlsServer {
    pub(super) addr: SocketAddr,
    /// The certificate, to trust in a client.
    pub(super) cert: rustls::pki_types::CertificateDer<'static>,
    pub(super) counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl TlsServer {
    pub(super) async fn start(name: &'static str) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, counters) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(move |req| handle(name, Arc::clone(&counters), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            cert,
            counters,
            task,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
