//! Listeners: accept TCP, terminate TLS (ALPN h2 / http/1.1), serve HTTP/1.1 and HTTP/2 (h2c
//! with prior knowledge on plain listeners) through [`crate::handler`], and shut down
//! gracefully: stop accepting, let in-flight requests finish within the grace period.

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use portcullis_config::EdgeLimits;
use portcullis_config::client_certs::ClientCertSpec;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::framing::{FramingFlags, ScanIo};
use crate::gateway::Gateway;
use crate::handler::{ConnInfo, handle};
use portcullis_policy::Body;

mod plain;

/// A TLS setup problem (missing or invalid files).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or parsing the PEM files failed.
    #[error("cannot load {path}: {reason}")]
    Pem {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate/key pair.
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds a TLS acceptor from PEM files, offering h2 and http/1.1 by ALPN.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    tls_acceptor_with_client_certs(cert, key, None)
}

/// [`tls_acceptor`], asking clients for certificates verified against `client_certs`' CAs
/// (mutual TLS; see [`crate::client_cert`]).
pub fn tls_acceptor_with_client_certs(
    cert: &Path,
    key: &Path,
    client_certs: Option<&ClientCertSpec>,
) -> Result<TlsAcceptor, TlsError> {
    let pem_err = |path: &Path, e: &dyn std::fmt::Display| TlsError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, &e))?;
    if certs.is_empty() {
        return Err(pem_err(cert, &"no certificate found"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = crate::client_cert::verifier_for(client_certs, &provider)?;
    let builder =
        ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves one listener until `shutdown` flips to true, then drains it.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    name: Arc<str>,
    gateway: Arc<Gateway>,
    shutdown: watch::Receiver<bool>,
) {
    // Every connection task holds a clone of `alive`; once the listener drops its own, `recv`
    // returns `None` when the last connection has ended.
    let (alive, mut drained) = mpsc::channel::<()>(1);
    // A listener's environment is part of the settings a reload cannot change, so it is read
    // once here rather than per request.
    let environment = listener_environment(&gateway, &name);
    let mut stop = shutdown.clone();
    let stop = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, listener = %name, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = ConnInfo {
                    peer,
                    tls: tls.is_some(),
                    listener: name.clone(),
                    environment: environment.clone(),
                    client_cert: None,
                    framing: Arc::new(FramingFlags::default()),
                    peer_header: OnceLock::new(),
                };
                let limits = gateway.snapshot().limits.clone();
                let drain = Drain { stop: shutdown.clone(), _alive: alive.clone() };
                let gateway = gateway.clone();
                // Two task types: the plain one stays small while its connection idles.
                match &tls {
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        tokio::spawn(serve_tls(stream, acceptor, conn, gateway, limits, drain));
                    }
                    None => {
                        tokio::spawn(plain::serve(stream, conn, gateway, limits, drain));
                    }
                }
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    drop(alive);
    let grace = gateway.snapshot().limits.shutdown_grace;
    if tokio::time::timeout(grace, drained.recv()).await.is_err() {
        tracing::warn!(listener = %name, "grace period ended with connections still open");
    }
}

/// What a connection task needs for graceful shutdown: the listener's stop signal, and a token
/// whose drop tells the listener the connection has ended.
struct Drain {
    stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Drain {
    /// Resolves once the listener is stopping.
    async fn stopping(&mut self) {
        let _ = self.stop.wait_for(|stop| *stop).await;
    }
}

/// The environment configured for the listener called `name`.
fn listener_environment(gateway: &Gateway, name: &str) -> Arc<str> {
    let snapshot = gateway.snapshot();
    snapshot
        .server
        .listeners
        .iter()
        .find(|l| l.name == name)
        .map_or_else(
            || portcullis_config::model::DEFAULT_ENVIRONMENT.into(),
            |l| l.environment.clone(),
        )
}

/// hyper's default limit on a request's header fields, up to which it parses a head in arrays on
/// the stack; any other limit costs two heap arrays (of the limit's length, filled) per request.
const HYPER_INLINE_HEADERS: usize = 100;

/// Most header lines a request head may have before the framing scanner refuses it (see
/// [`ScanIo::refusing_heads_over`]): the configured limit, or hyper's inline one when that is
/// larger (the handler's edge check then answers heads between the two).
fn head_line_limit(limits: &EdgeLimits) -> usize {
    limits.max_headers.max(HYPER_INLINE_HEADERS)
}

/// The connection's IO, scanned for framing, refusing heads with too many header lines with the
/// gateway's own logged 431.
fn scan_io<T>(
    io: T,
    gateway: &Arc<Gateway>,
    conn: &Arc<ConnInfo>,
    limits: &EdgeLimits,
) -> ScanIo<T> {
    let (gateway, conn) = (gateway.clone(), conn.clone());
    ScanIo::new(io, conn.framing.clone())
        .buffering_heads_up_to(hyper_read_buffer(limits))
        .refusing_heads_over(
            head_line_limit(limits),
            Box::new(move |line: &[u8]| crate::handler::refused_head(&gateway, &conn, line)),
        )
}

/// hyper's read buffer: a little beyond our limits, so that our own checks answer with
/// problem+json; hyper's bare 431 remains the backstop.
fn hyper_read_buffer(limits: &EdgeLimits) -> usize {
    limits
        .max_header_bytes
        .saturating_add(limits.max_uri_length)
        .saturating_add(4096)
        .max(8192)
}

/// hyper's connection builder. `header_timer`: hyper runs the header read timeout (plain
/// connections run their own, see [`plain`]).
fn builder(limits: &EdgeLimits, header_timer: bool) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timer.then_some(limits.header_read_timeout))
        .max_buf_size(hyper_read_buffer(limits))
        .keep_alive(true);
    // The scanner never lets hyper see more header lines than this, so hyper's own limit (and
    // its bare 431) never trips; hyper's inline default is kept when it suffices.
    let lines = head_line_limit(limits);
    if lines > HYPER_INLINE_HEADERS {
        b.http1().max_headers(lines);
    }
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)));
    b
}

/// The hyper service for one connection.
fn service(
    gateway: Arc<Gateway>,
    conn: Arc<ConnInfo>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future: Send + 'static,
> + Send
+ 'static {
    // Shared by the connection's requests: one reference count per request, not one per field.
    // The handler's own future, not one wrapping it (see `handle`).
    service_fn(move |req| handle(gateway.clone(), req, conn.clone()))
}

/// A TLS connection: handshake, then hyper for the connection's whole life.
async fn serve_tls(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    conn: ConnInfo,
    gateway: Arc<Gateway>,
    limits: EdgeLimits,
    mut drain: Drain,
) {
    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
    let tls_stream = match handshake.await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    // Once per connection: every request on it carries the same certificate.
    let conn = Arc::new(ConnInfo {
        client_cert: crate::client_cert::peer_thumbprint(tls_stream.get_ref().1),
        ..conn
    });
    let builder = builder(&limits, true);
    let connection = builder
        .serve_connection_with_upgrades(
            TokioIo::new(scan_io(tls_stream, &gateway, &conn, &limits)),
            service(gateway, conn),
        )
        .into_owned();
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = drain.stopping() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
