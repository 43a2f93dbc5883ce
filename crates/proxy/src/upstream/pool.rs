//! Keep-alive HTTP/1.1 connections to one target, reused last-in first-out.
//!
//! This replaces hyper-util's general-purpose client on the hot path: that client spawns a
//! task per request to hand the connection back once it is ready, and looks the pool up by
//! (scheme, authority) under a global lock. Here each target owns its idle stack (found
//! through the group, no lookup), and a connection goes back onto it from the response body
//! itself, when the body ends. Whether a reused connection is really ready is settled at
//! checkout (`SendRequest::ready`), which is free when it is and waits out the moment in
//! which the connection task is still finishing the previous exchange.
//!
//! The most recently used connection is reused first: it is the least likely to have been
//! closed by the backend's idle timeout, and the oldest ones age out at the bottom.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use parking_lot::Mutex;
use portcullis_policy::BoxError;
use tower_service::Service;

use super::body::UpstreamBody;

/// Dials a target: TCP (connect timeout, `TCP_NODELAY`) plus TLS for https targets.
pub(crate) type Connector = HttpsConnector<HttpConnector>;

/// Idle pooled connections are closed after this long (matches common backend keep-alives).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// One target's connections: how to dial it and the idle ones.
pub(crate) struct TargetPool {
    connector: Connector,
    /// `scheme://authority`, what the connector dials.
    origin: Uri,
    max_idle: usize,
    /// Oldest at the front, most recently returned at the back.
    idle: Mutex<VecDeque<Idle>>,
}

struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// Why an exchange failed, split where the retry rules need it.
pub(crate) enum SendError {
    /// No connection: refused, unreachable, connect timeout, TLS handshake. Nothing was sent.
    Connect(BoxError),
    /// The connection existed; the request may have reached the backend.
    Exchange(hyper::Error),
}

/// The upstream response body. Hands its connection back to the pool when it ends; a body
/// dropped before its end takes the connection down with it (its state is unknown).
pub struct ResponseBody {
    inner: Incoming,
    home: Option<Home>,
}

struct Home {
    pool: Arc<TargetPool>,
    sender: SendRequest<UpstreamBody>,
}

// === impl TargetPool ===

impl TargetPool {
    pub(crate) fn new(connector: Connector, origin: Uri, max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            connector,
            origin,
            max_idle,
            idle: Mutex::new(VecDeque::new()),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection, or a new one.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
    ) -> Result<Response<ResponseBody>, SendError> {
        while let Some(mut sender) = self.checkout() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(response) => return Ok(self.wrap(response, sender)),
                // The backend closed the connection before the request was written: the
                // request comes back untouched and may go on another connection.
                Err(mut err) => match err.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(SendError::Exchange(err.into_error())),
                },
            }
        }
        // Boxed: dialling and the handshake (a TLS stream included) would otherwise make the
        // future of every exchange on a pooled connection as large as theirs, and futures are
        // moved by copying them.
        Box::pin(self.send_on_new(req)).await
    }

    /// Sends `req` on a new connection.
    async fn send_on_new(
        self: &Arc<Self>,
        req: Request<UpstreamBody>,
    ) -> Result<Response<ResponseBody>, SendError> {
        let mut sender = self.connect().await?;
        match sender.send_request(req).await {
            Ok(response) => Ok(self.wrap(response, sender)),
            Err(err) => Err(SendError::Exchange(err)),
        }
    }

    async fn connect(&self) -> Result<SendRequest<UpstreamBody>, SendError> {
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(SendError::Connect)?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(SendError::Connect)?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|err| SendError::Connect(err.into()))?;
        // The one task per connection: drives it until closed, or hands the IO over to
        // `hyper::upgrade::on` after a 101 (WebSocket pass-through).
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// The most recent idle connection still worth trying.
    fn checkout(&self) -> Option<SendRequest<UpstreamBody>> {
        let mut idle = self.idle.lock();
        while let Some(conn) = idle.pop_back() {
            if conn.since.elapsed() >= IDLE_TIMEOUT {
                // Everything below is older still.
                idle.clear();
                return None;
            }
            if !conn.sender.is_closed() {
                return Some(conn.sender);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<UpstreamBody>) {
        if self.max_idle == 0 || sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock();
        while idle
            .front()
            .is_some_and(|conn| now.duration_since(conn.since) >= IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        if idle.len() >= self.max_idle {
            idle.pop_front();
        }
        idle.push_back(Idle { sender, since: now });
    }

    fn wrap(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: SendRequest<UpstreamBody>,
    ) -> Response<ResponseBody> {
        // After a 101 the connection belongs to whoever takes the upgrade.
        let reusable = response.status() != StatusCode::SWITCHING_PROTOCOLS;
        response.map(|inner| {
            let mut body = ResponseBody {
                inner,
                home: reusable.then(|| Home {
                    pool: Arc::clone(self),
                    sender,
                }),
            };
            // HEAD, 204, 304 or `Content-Length: 0`: nobody may ever poll this body.
            if body.inner.is_end_stream() {
                body.release();
            }
            body
        })
    }
}

impl std::fmt::Debug for TargetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetPool")
            .field("origin", &self.origin)
            .field("max_idle", &self.max_idle)
            .field("idle", &self.idle.lock().len())
            .finish_non_exhaustive()
    }
}

// === impl SendError ===

impl SendError {
    /// Whether no connection was made, so nothing can have reached the backend.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

impl std::fmt::Debug for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(err) => f.debug_tuple("Connect").field(err).finish(),
            Self::Exchange(err) => f.debug_tuple("Exchange").field(err).finish(),
        }
    }
}

// === impl ResponseBody ===

impl ResponseBody {
    fn release(&mut self) {
        if let Some(Home { pool, sender }) = self.home.take() {
            pool.checkin(sender);
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => this.release(),
            Some(Ok(_)) if this.inner.is_end_stream() => this.release(),
            Some(Ok(_)) => {}
            Some(Err(_)) => this.home = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("pooled", &self.home.is_some())
            .finish_non_exhaustive()
    }
}
