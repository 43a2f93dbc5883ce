//! One upstream at runtime: round-robin target choice, the retry rules, and the request
//! timeout.
//!
//! The retry rules protect backends from duplicated side effects: a connect failure is always
//! retried on the next target (nothing was sent), but once a connection exists a request is
//! resent only if it is idempotent and its whole body is at hand. A POST whose bytes may have
//! reached a backend is never sent twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response, Uri, Version, header};
use parking_lot::Mutex;
use portcullis_config::UpstreamSpec;
use portcullis_policy::Body;

use super::body::{BodySlot, UpstreamBody};
use super::pool::ResponseBody;
use super::target::Target;
use super::{UpstreamError, count_error};

/// An upstream's runtime: its targets with their shared health and connection pools.
///
/// Built by [`super::Upstreams::group`]; cheap to build again on every config reload.
#[derive(Debug)]
pub struct UpstreamGroup {
    spec: Arc<UpstreamSpec>,
    targets: Box<[Target]>,
    /// Round-robin cursor: the only write the hot path makes on a healthy upstream.
    next: AtomicUsize,
}

/// One target's health as reported by [`UpstreamGroup::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    /// `scheme://host:port`.
    pub origin: String,
    /// Verdict of active health checks (always `true` without them).
    pub healthy: bool,
    /// Passively ejected after consecutive connect failures.
    pub ejected: bool,
}

/// Where each attempt's body comes from.
enum BodySource {
    Empty,
    Replay(Bytes),
    /// Streaming body kept in a slot so a connect failure can hand it to the next target.
    Deferred(BodySlot),
    /// Streaming body for a request that has no second attempt.
    Once(Option<Body>),
}

/// The request head kept for retries (extensions are not cloneable and not needed upstream).
struct RetryHead {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

// === impl UpstreamGroup ===

impl UpstreamGroup {
    pub(crate) fn new(spec: Arc<UpstreamSpec>, targets: Box<[Target]>) -> Self {
        Self {
            spec,
            targets,
            next: AtomicUsize::new(0),
        }
    }

    /// The compiled spec this group runs.
    pub fn spec(&self) -> &Arc<UpstreamSpec> {
        &self.spec
    }

    /// Current health of each target, in spec order, for the admin API and tests.
    pub fn health(&self) -> Vec<TargetHealth> {
        self.targets
            .iter()
            .map(|t| {
                let now = t.state.now_ms();
                TargetHealth {
                    origin: t.state.origin().to_owned(),
                    healthy: t.state.is_healthy(),
                    ejected: t.state.is_ejected(now),
                }
            })
            .collect()
    }

    /// Sends a prepared request (origin-form URI, hop-by-hop headers removed, forwarding headers
    /// set) to a target and returns its response head; the body streams on.
    ///
    /// The URI becomes the target base path + path (origin-form) and `Host` the target
    /// authority. `replay`, when given, is the complete request body and is sent instead
    /// of `req`'s body, which makes idempotent requests retryable after a connection failed
    /// mid-exchange. `spec.request_timeout` bounds the whole call, retries included, until
    /// response headers. Upgrade requests (WebSocket) pass through: call
    /// `hyper::upgrade::on` on the 101 response.
    pub async fn send(
        &self,
        req: Request<Body>,
        replay: Option<Bytes>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let n = self.targets.len();
        if n == 0 {
            return Err(UpstreamError::Unavailable);
        }
        let (parts, body) = req.into_parts();
        let max_attempts = n.min(1 + usize::try_from(self.spec.retries).unwrap_or(usize::MAX));
        let mut source = match replay {
            Some(bytes) => BodySource::Replay(bytes),
            None if http_body::Body::is_end_stream(&body) => BodySource::Empty,
            None if max_attempts > 1 => BodySource::Deferred(Arc::new(Mutex::new(Some(body)))),
            None => BodySource::Once(Some(body)),
        };
        // Only a complete copy of the body makes resending after a connect safe.
        let resendable = matches!(source, BodySource::Empty | BodySource::Replay(_))
            && is_idempotent(&parts.method);
        // Cloning the head costs a few allocations, paid only when a second attempt is possible.
        let retry_head = (max_attempts > 1).then(|| RetryHead::of(&parts));
        let mut first = Some(parts);

        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = self.targets[0].state.now_ms();
        // Panic mode (Envoy): when every target is down or ejected, try them all anyway.
        // Health data lags reality, and a request that may succeed beats a certain 502.
        let panic = !self.targets.iter().any(|t| t.state.is_available(now));

        // One deadline for the whole call; each attempt gets what is left of it. The attempts
        // are this future's only waits, so that bounds the call. (One future with its own
        // timers rather than a `Timeout` around it: every wrapping layer copies the whole
        // request future once more per request.)
        let deadline = tokio::time::Instant::now() + self.spec.request_timeout;
        let mut attempts = 0;
        let mut last = UpstreamError::Unavailable;
        for offset in 0..n {
            let index = (start + offset) % n;
            let target = &self.targets[index];
            if !panic && !target.state.is_available(now) {
                continue;
            }
            let Some(head) = first
                .take()
                .or_else(|| retry_head.as_ref().map(RetryHead::parts))
            else {
                break;
            };
            let Some(body) = source.next_body() else {
                break;
            };
            let req = prepare(target, head, body)?;
            attempts += 1;
            let Ok(sent) = tokio::time::timeout_at(deadline, target.pool.send(req)).await else {
                count_error("timeout");
                tracing::warn!(
                    target_origin = target.state.origin(),
                    timeout_ms = self.spec.request_timeout.as_millis(),
                    "upstream gave no response headers within the request timeout"
                );
                return Err(UpstreamError::Timeout);
            };
            match sent {
                Ok(response) => {
                    target.state.record_success();
                    return Ok(response);
                }
                Err(err) if err.is_connect() => {
                    target
                        .state
                        .record_connect_failure(self.spec.eject_after_failures, self.spec.ejection);
                    count_error("connect");
                    tracing::warn!(
                        target_origin = target.state.origin(),
                        attempt = attempts,
                        error = ?err,
                        "upstream connect failed"
                    );
                    last = UpstreamError::Unavailable;
                }
                Err(err) => {
                    count_error("failed");
                    tracing::warn!(
                        target_origin = target.state.origin(),
                        attempt = attempts,
                        resendable,
                        error = ?err,
                        "upstream exchange failed after connecting"
                    );
                    last = UpstreamError::Failed;
                    if !resendable {
                        break;
                    }
                }
            }
            if attempts >= max_attempts {
                break;
            }
        }
        Err(last)
    }
}

/// Methods RFC 9110 §9.2.2 defines as idempotent: resending them has the effect of sending
/// them once.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Points a request head at a target.
fn prepare(
    target: &Target,
    mut head: http::request::Parts,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, UpstreamError> {
    head.uri = target_uri(target, head.uri.path_and_query())?;
    // Upstreams are spoken to in HTTP/1.1 whatever the client used.
    head.version = Version::HTTP_11;
    head.headers.insert(header::HOST, target.host.clone());
    Ok(Request::from_parts(head, body))
}

/// Origin-form target base path + the request's path and query (the connection already
/// points at the target). A request for `/` maps to the base path itself (`/api`, not
/// `/api/`), as Apigee appends an empty path suffix.
fn target_uri(target: &Target, pq: Option<&PathAndQuery>) -> Result<Uri, UpstreamError> {
    let spec = &target.spec;
    let path_and_query = match pq {
        Some(pq) if spec.base_path.is_empty() => pq.clone(),
        None if spec.base_path.is_empty() => PathAndQuery::from_static("/"),
        _ => {
            let (path, query) = pq.map_or(("/", None), |pq| (pq.path(), pq.query()));
            let path = if path == "/" { "" } else { path };
            let joined = match query {
                Some(q) => format!("{}{path}?{q}", spec.base_path),
                None => format!("{}{path}", spec.base_path),
            };
            PathAndQuery::try_from(joined).map_err(|err| invalid_uri(target, &err))?
        }
    };
    Ok(Uri::from(path_and_query))
}

fn invalid_uri(target: &Target, err: &dyn std::fmt::Display) -> UpstreamError {
    tracing::error!(
        target_origin = target.state.origin(),
        error = %err,
        "could not build the upstream URI"
    );
    UpstreamError::Failed
}

// === impl BodySource ===

impl BodySource {
    /// The body for the next attempt, or `None` when the streaming body is already spent.
    fn next_body(&mut self) -> Option<UpstreamBody> {
        match self {
            Self::Empty => Some(UpstreamBody::Empty),
            Self::Replay(bytes) => Some(UpstreamBody::Replay(Some(bytes.clone()))),
            Self::Deferred(slot) => slot.lock().is_some().then(|| UpstreamBody::deferred(slot)),
            Self::Once(body) => body.take().map(UpstreamBody::Streaming),
        }
    }
}

// === impl RetryHead ===

impl RetryHead {
    fn of(parts: &http::request::Parts) -> Self {
        Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        }
    }

    fn parts(&self) -> http::request::Parts {
        let mut req = Request::new(());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req.into_parts().0
    }
}
