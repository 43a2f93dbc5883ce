//! One request's way through the gateway:
//!
//! ```text
//! edge checks → normalise path → route (host, base path) → flow → strip the client's hop-by-hop
//!   headers → body limit / buffering → pipeline request phase → upstream
//!   → pipeline response phase → client
//! ```
//!
//! Any step may answer early; errors become responses only through [`crate::errors`].

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use portcullis_config::{ApiRoute, FlowRoute, Snapshot};
use portcullis_core::GatewayError;
use portcullis_policy::{
    Body, Exchange, Pipeline, RequestBody, RequestCtx, RequestOrigin, RequestOutcome,
};

use crate::api_metrics::ApiMetrics;
use crate::body::{BodyStats, Limited, Observed, OnComplete, collect_limited};
use crate::content_coding;
use crate::edge::{check_head, check_method_parameter, too_many_headers};
use crate::errors::{error_response, http1_bytes};
use crate::forwarding::{
    X_REQUEST_ID, acceptable_request_id, client_ip, peer_header, peer_trusted, set_forwarding,
    strip_hop_by_hop,
};
use crate::framing::FramingFlags;
use crate::gateway::Gateway;
use crate::normalize::{normalize_path, without_segment_parameters};
use crate::observe::{LogRecord, Observer, millis};
use crate::upstream::{ResponseBody, UpstreamGroup};

/// What the listener knows about the connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Remote address.
    pub peer: SocketAddr,
    /// Whether TLS was terminated.
    pub tls: bool,
    /// Listener name.
    pub listener: Arc<str>,
    /// The environment the listener serves: only APIs deployed to it are routed.
    pub environment: Arc<str>,
    /// Framing evidence from the connection's raw bytes (see [`crate::framing`]).
    pub framing: Arc<FramingFlags>,
    /// The verified client certificate's thumbprint (mutual TLS listeners only).
    pub client_cert: Option<portcullis_core::ClientCertThumbprint>,
    /// `peer`'s address as forwarding header text, formatted on the first request (see
    /// [`ConnInfo::peer_header`]).
    pub peer_header: OnceLock<HeaderValue>,
}

impl ConnInfo {
    /// The peer's address as the forwarding headers write it, formatted once per connection.
    pub fn peer_header(&self) -> &HeaderValue {
        self.peer_header.get_or_init(|| peer_header(self.peer.ip()))
    }
}

/// Everything the log line needs that is known before the response body streams.
struct Pending {
    observer: Arc<Observer>,
    metrics: Arc<ApiMetrics>,
    started: Instant,
    rec: LogRecord,
    /// Told when the response is over, so the listener knows when the connection is idle.
    framing: Arc<FramingFlags>,
}

impl OnComplete for Pending {
    fn complete(self: Box<Self>, bytes_out: u64, completed: bool) {
        let Pending {
            observer,
            metrics,
            started,
            mut rec,
            framing,
        } = *self;
        framing.response_done();
        rec.bytes_out = bytes_out;
        rec.completed = completed;
        rec.total_ms = millis(started.elapsed());
        observer.record(rec, &metrics);
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|e| match e {}).boxed_unsync()
}

/// 32 random lower-case hex digits, written in place (no formatting machinery, no allocation).
fn new_request_id() -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = rand::random::<u128>();
    let mut id = [0u8; 32];
    for digit in id.iter_mut().rev() {
        *digit = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
    id
}

/// The request id: a trusted proxy's `X-Request-Id` if well-formed, else a new random one; as
/// text (context, log) and as the header value sent both ways, built once.
fn request_id(headers: &http::HeaderMap, peer_is_trusted: bool) -> (Arc<str>, HeaderValue) {
    match headers.get(&X_REQUEST_ID) {
        Some(v) if peer_is_trusted && acceptable_request_id(v) => {
            (Arc::from(v.to_str().unwrap_or_default()), v.clone())
        }
        _ => {
            let id = new_request_id();
            let text = std::str::from_utf8(&id).expect("hex digits are ASCII");
            let value = HeaderValue::from_bytes(&id).expect("hex digits are a valid header value");
            (Arc::from(text), value)
        }
    }
}

/// The host the client asked for, as routing reads it: the URI authority (HTTP/2 `:authority`,
/// or an HTTP/1.1 absolute-form target, whose `Host` RFC 9112 §3.2.2 says to ignore), else
/// `Host`.
fn requested_host<B>(req: &Request<B>) -> Option<HeaderValue> {
    req.uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .or_else(|| req.headers().get(header::HOST).cloned())
}

/// Handles one request.
///
/// This future is what hyper runs for the request, as it is: it owns its connection's handles
/// and is never awaited inside another future. A request's future is large (kilobytes: the
/// exchange, the log record, the upstream call), and each future wrapping it would copy all of
/// it once more per request.
pub async fn handle(
    gw: Arc<Gateway>,
    mut req: Request<Incoming>,
    conn: Arc<ConnInfo>,
) -> Result<Response<Body>, Infallible> {
    let (gw, conn) = (&*gw, &*conn);
    let started = Instant::now();
    // Only the log line shows the path: no copy per request when it is off.
    let logging = gw.observer().logging();
    let runtime = gw.current();
    let snap = &runtime.snapshot;
    let peer = conn.peer.ip();
    let trusted = peer_trusted(peer, &snap.trusted_proxies);
    let client = client_ip(peer, req.headers(), &snap.trusted_proxies);
    let (request_id, request_id_value) = request_id(req.headers(), trusted);
    let mut rec = LogRecord::new(
        request_id.clone(),
        conn.listener.clone(),
        conn.environment.clone(),
        req.method(),
        client,
    );
    let client_upgrade = is_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let ambiguous = conn.framing.next_request_is_ambiguous()
        && req.headers().contains_key(header::TRANSFER_ENCODING);
    let routed = if ambiguous {
        Err(GatewayError::bad_request()
            .with_detail("both Content-Length and Transfer-Encoding are present")
            .closing_connection())
    } else if req.method() == http::Method::CONNECT {
        // Closing: a client that asked for a tunnel may already be sending the tunnel's bytes.
        Err(GatewayError::method_not_allowed()
            .with_detail("CONNECT is not supported: the gateway opens no tunnels")
            .closing_connection())
    } else {
        route(snap, &conn.environment, &req)
    };
    let Routed { api, flow, path } = match routed {
        Ok(r) => r,
        Err(err) => {
            if logging {
                rec.path = req.uri().path().chars().take(256).collect();
            }
            return Ok(finish_error(
                gw,
                conn,
                &runtime.unrouted,
                &err,
                &request_id,
                rec,
                started,
            ));
        }
    };
    rec.api = Some(api.name.clone());
    rec.flow = flow.map(|f| f.name.clone());
    if logging {
        rec.path.clone_from(&path);
    }
    let pipeline: &Pipeline = flow.map_or(&api.pipeline, |f| &f.pipeline);
    let host = requested_host(&req);

    let (mut parts, body) = req.into_parts();
    // The client's hop-by-hop headers (and those its `Connection` names) go now, before the
    // policies: stripped later, a client could name a header a policy adds for the upstream.
    strip_hop_by_hop(&mut parts.headers, client_upgrade.is_some());
    // Policies and the upstream see the normalised path (plus the original query).
    let normalised = match parts.uri.query() {
        Some(q) => format!("{path}?{q}").parse().ok(),
        None if parts.uri.path() != path => path.parse().ok(),
        None => None,
    };
    if let Some(uri) = normalised {
        parts.uri = uri;
    }
    if let Some(cert) = &conn.client_cert {
        parts.extensions.insert(cert.clone());
    }
    let mut ex = Exchange {
        request: parts,
        body: RequestBody::Buffered(Bytes::new()),
        response: None,
        ctx: RequestCtx {
            request_id: request_id.clone(),
            client_ip: client,
            environment: conn.environment.clone(),
            api: api.name.clone(),
            base_path: api.base_path.clone(),
            flow: flow.map(|f| f.name.clone()),
            path,
            identity: None,
            received_at: started,
            events: Vec::new(),
            origin: Some(RequestOrigin {
                https: conn.tls,
                host: host.clone(),
            }),
        },
    };
    let stats = Arc::new(BodyStats::default());
    let (outcome, ran) = request_phase(&mut ex, pipeline, api.max_body, body, &stats).await;

    let mut upstream_answered = false;
    let response = match outcome {
        RequestOutcome::Forward => {
            let up_start = Instant::now();
            let target = Target {
                group: &runtime.groups[api.index],
                api,
                conn,
                peer_is_trusted: trusted,
                host: host.as_ref(),
                request_id: &request_id_value,
            };
            // Prepared, sent and answered in three steps rather than one `async fn`: a
            // wrapping future would copy the upstream call's (kilobytes) once more.
            let result = match upstream_request(&mut ex, &target) {
                Ok((up, replay)) => target
                    .group
                    .send(up, replay)
                    .await
                    .map_err(|e| e.to_gateway_error())
                    .map(|resp| client_response(resp, conn, client_upgrade)),
                Err(err) => Err(err),
            };
            rec.upstream_ms = Some(millis(up_start.elapsed()));
            upstream_answered = result.is_ok();
            result.map_err(|e| {
                // A body that went over its limit while streaming makes the upstream call fail;
                // the client gets the 413 it earned, not a 502.
                if stats.too_large.load(Ordering::Relaxed) {
                    too_large(api.max_body)
                } else {
                    e
                }
            })
        }
        RequestOutcome::Respond(reply) => Ok(reply.map(full)),
        RequestOutcome::Fail(err) => Err(err),
    };
    let response = match response {
        Ok(r) => r,
        Err(err) => {
            rec.code = Some(err.code());
            error_response(&err, &request_id).map(full)
        }
    };
    let mut response = response_phase(
        &mut ex,
        pipeline,
        ran,
        upstream_answered,
        response,
        &mut rec,
    )
    .await;
    if !response.headers().contains_key(&X_REQUEST_ID) {
        response
            .headers_mut()
            .insert(&X_REQUEST_ID, request_id_value);
    }
    rec.status = response.status().as_u16();
    rec.bytes_in = stats.bytes_in.load(Ordering::Relaxed);
    if let Some(identity) = &ex.ctx.identity {
        rec.app_id = Some(identity.app_id.clone());
        // Token-based identities may have no developer.
        rec.developer_id =
            (!identity.developer_id.is_empty()).then(|| identity.developer_id.clone());
    }
    rec.product = ex
        .request
        .extensions
        .get::<portcullis_core::ApiProduct>()
        .map(|p| p.0.clone());
    rec.events = ex.ctx.events.iter().map(|e| e.code).collect();
    for e in &ex.ctx.events {
        metrics::counter!(crate::observe::names::MONITOR_EVENTS, "policy" => e.policy, "code" => e.code)
            .increment(1);
    }
    Ok(observe(
        gw,
        conn,
        &runtime.metrics[api.index],
        response,
        rec,
        started,
    ))
}

/// Applies the body limit, buffers the body if a policy reads it, and runs the request phase.
async fn request_phase(
    ex: &mut Exchange,
    pipeline: &Pipeline,
    max_body: u64,
    body: Incoming,
    stats: &Arc<BodyStats>,
) -> (RequestOutcome, usize) {
    let declared = ex
        .request
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body) {
        return (RequestOutcome::Fail(too_large(max_body)), 0);
    }
    // Most requests have no body: no limit wrapper to build (two boxes) and throw away.
    ex.body = if body.is_end_stream() {
        RequestBody::Buffered(Bytes::new())
    } else {
        let body: Body = body.map_err(Into::into).boxed_unsync();
        if pipeline.needs_request_body() {
            // One limit and one count: wrapping the streaming limit in `collect_limited`'s
            // own counted bytes_in twice.
            match collect_limited(body, max_body, stats.clone()).await {
                // Policies judge the body as the back end reads it: decoded.
                Ok(wire) => {
                    match content_coding::decode(&ex.request.headers, &wire, max_body).transpose() {
                        None => RequestBody::Buffered(wire),
                        Some(content) => RequestBody::Coded { wire, content },
                    }
                }
                Err(_) if stats.too_large.load(Ordering::Relaxed) => {
                    return (RequestOutcome::Fail(too_large(max_body)), 0);
                }
                Err(_) => {
                    let err =
                        GatewayError::bad_request().with_detail("request body could not be read");
                    return (RequestOutcome::Fail(err), 0);
                }
            }
        } else {
            RequestBody::Streaming(Limited::new(body, max_body, stats.clone()).boxed_unsync())
        }
    };
    pipeline.run_request(ex).await
}

/// Runs the response phase over the response head (the body streams untouched); a policy may
/// replace the whole response.
async fn response_phase(
    ex: &mut Exchange,
    pipeline: &Pipeline,
    ran: usize,
    upstream_answered: bool,
    response: Response<Body>,
    rec: &mut LogRecord,
) -> Response<Body> {
    let (parts, body) = response.into_parts();
    ex.response = Some(parts);
    let replaced = pipeline.run_response(ex, ran, upstream_answered).await;
    let parts = ex
        .response
        .take()
        .expect("the response head was set just above");
    match replaced {
        None | Some(RequestOutcome::Forward) => Response::from_parts(parts, body),
        Some(RequestOutcome::Respond(reply)) => reply.map(full),
        Some(RequestOutcome::Fail(err)) => {
            rec.code = Some(err.code());
            error_response(&err, &ex.ctx.request_id).map(full)
        }
    }
}

fn too_large(limit: u64) -> GatewayError {
    GatewayError::body_too_large().with_detail(format!("request body exceeds {limit} bytes"))
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

struct Routed<'s> {
    api: &'s Arc<ApiRoute>,
    flow: Option<&'s FlowRoute>,
    path: String,
}

/// Edge checks, path normalisation and routing (among the APIs deployed to `environment`).
fn route<'s>(
    snap: &'s Snapshot,
    environment: &str,
    req: &Request<Incoming>,
) -> Result<Routed<'s>, GatewayError> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    check_head(
        uri_len,
        req.method(),
        req.version(),
        req.headers(),
        &snap.limits,
    )?;
    check_method_parameter(req.method(), req.uri().query(), &snap.limits)?;
    let path = normalize_path(req.uri().path())
        .map_err(|e| GatewayError::bad_request().with_detail(e.detail()))?;
    let host = req
        .uri()
        .host()
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok())
        .map(|h| {
            let h = if h.starts_with('[') {
                h.split_inclusive(']').next().unwrap_or(h)
            } else {
                h.split(':').next().unwrap_or(h)
            };
            // `api.example.com.` is the same fully qualified name as `api.example.com`.
            let h = h.strip_suffix('.').unwrap_or(h);
            // Hosts arrive in lower case almost always: no copy then.
            if h.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(h.to_ascii_lowercase())
            } else {
                Cow::Borrowed(h)
            }
        });
    let api = snap
        .route(environment, host.as_deref(), &path)
        .ok_or_else(|| {
            GatewayError::route_not_found().with_detail("no API is configured for this path")
        })?;
    let relative = api.remainder(&path).unwrap_or_default();
    let flow = api.flow(req.method(), relative);
    // Servlet back ends (Tomcat, Jetty, Spring) read `/admin;x/secret` as `/admin/secret`: if
    // that reading is another API's or flow's, the policies that ran would not be the ones
    // meant for what the back end serves.
    if path.contains(';') {
        let plain = without_segment_parameters(&path);
        let same = snap
            .route(environment, host.as_deref(), &plain)
            .is_some_and(|other| {
                Arc::ptr_eq(other, api)
                    && match (
                        flow,
                        other.flow(req.method(), other.remainder(&plain).unwrap_or_default()),
                    ) {
                        (None, None) => true,
                        (Some(a), Some(b)) => std::ptr::eq(a, b),
                        _ => false,
                    }
            });
        if !same {
            return Err(GatewayError::bad_request().with_detail(
                "path segment parameters (';') change which API or flow the request is for",
            ));
        }
    }
    Ok(Routed { api, flow, path })
}

/// Where and how a request goes upstream.
struct Target<'a> {
    group: &'a UpstreamGroup,
    api: &'a ApiRoute,
    conn: &'a ConnInfo,
    peer_is_trusted: bool,
    host: Option<&'a HeaderValue>,
    /// `X-Request-Id` for the upstream.
    request_id: &'a HeaderValue,
}

/// The request to send upstream, made of the exchange's (its headers and body are taken), and
/// the complete body to resend on a retry when the body was buffered.
fn upstream_request(
    ex: &mut Exchange,
    target: &Target<'_>,
) -> Result<(Request<Body>, Option<Bytes>), GatewayError> {
    let Target {
        group: _,
        api,
        conn,
        peer_is_trusted,
        host,
        request_id,
    } = *target;
    let relative = if api.strip_base_path {
        api.remainder(&ex.ctx.path).unwrap_or_default()
    } else {
        ex.ctx.path.as_str()
    };
    let relative = if relative.is_empty() { "/" } else { relative };
    // Usually the request's own (already normalised) path goes upstream unchanged: reuse it
    // rather than format and parse it again.
    let uri = match ex.request.uri.path_and_query() {
        Some(pq) if pq.path() == relative => http::Uri::from(pq.clone()),
        _ => {
            let pq = match ex.request.uri.query() {
                Some(q) => format!("{relative}?{q}"),
                None => relative.to_owned(),
            };
            pq.parse()
                .map_err(|_| GatewayError::bad_request().with_detail("invalid request target"))?
        }
    };
    let mut headers = std::mem::take(&mut ex.request.headers);
    headers.remove(header::HOST);
    set_forwarding(
        &mut headers,
        conn.peer_header(),
        peer_is_trusted,
        if conn.tls { "https" } else { "http" },
        host,
    );
    headers.insert(&X_REQUEST_ID, request_id.clone());
    let body = std::mem::replace(&mut ex.body, RequestBody::Buffered(Bytes::new()));
    let limit = ex
        .request
        .extensions
        .get::<portcullis_policy::BodyLimit>()
        .map(|l| l.0);
    let (body, replay) = match body {
        // An empty body must look empty (end of stream) so no `Content-Length: 0` is invented.
        // `Empty` is zero-sized: boxing it allocates nothing.
        RequestBody::Buffered(b) | RequestBody::Coded { wire: b, .. } if b.is_empty() => (
            http_body_util::Empty::new()
                .map_err(|e| match e {})
                .boxed_unsync(),
            None,
        ),
        RequestBody::Buffered(b) | RequestBody::Coded { wire: b, .. } => (full(b.clone()), Some(b)),
        RequestBody::Streaming(b) => match limit {
            Some(limit) => {
                let stats = Arc::new(BodyStats::default());
                (Limited::new(b, limit, stats).boxed_unsync(), None)
            }
            None => (b, None),
        },
    };
    let mut up = Request::new(body);
    *up.method_mut() = ex.request.method.clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    Ok((up, replay))
}

/// The upstream's response as the client gets it (hop-by-hop headers stripped); a 101 to an
/// upgrade request bridges the two upgraded connections.
fn client_response(
    mut resp: Response<ResponseBody>,
    conn: &ConnInfo,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<Body> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        // No more heads on this connection: its header timeout stops (see `server::plain`).
        conn.framing.upgraded();
        tokio::spawn(bridge(client_upgrade, hyper::upgrade::on(&mut resp)));
        let (mut parts, _) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers, true);
        return Response::from_parts(parts, full(Bytes::new()));
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
}

/// Copies bytes both ways between the upgraded client and upstream connections.
async fn bridge(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(upstream)) = (client.await, upstream.await) else {
        tracing::debug!("websocket upgrade did not complete");
        return;
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

fn finish_error(
    gw: &Gateway,
    conn: &ConnInfo,
    metrics: &Arc<ApiMetrics>,
    err: &GatewayError,
    request_id: &str,
    mut rec: LogRecord,
    started: Instant,
) -> Response<Body> {
    rec.status = err.status().as_u16();
    rec.code = Some(err.code());
    observe(
        gw,
        conn,
        metrics,
        error_response(err, request_id).map(full),
        rec,
        started,
    )
}

/// The whole HTTP/1.1 answer (431, problem+json, closing the connection) to a head the framing
/// scanner refused for having more than the header-line limit: hyper never parsed it, so only
/// its request line is known. Logged and counted like any refused request.
pub fn refused_head(gw: &Gateway, conn: &ConnInfo, request_line: &[u8]) -> Bytes {
    let started = Instant::now();
    let runtime = gw.current();
    let mut words = request_line.split(|&b| b == b' ');
    let method = words
        .next()
        .and_then(|m| http::Method::from_bytes(m).ok())
        .unwrap_or_default();
    let (request_id, _) = request_id(&http::HeaderMap::new(), false);
    let mut rec = LogRecord::new(
        request_id.clone(),
        conn.listener.clone(),
        conn.environment.clone(),
        &method,
        conn.peer.ip(),
    );
    if gw.observer().logging() {
        let target = words.next().unwrap_or_default();
        let path = target.split(|&b| b == b'?').next().unwrap_or_default();
        rec.path = String::from_utf8_lossy(path).chars().take(256).collect();
    }
    let err = too_many_headers(&runtime.snapshot.limits).closing_connection();
    let bytes = http1_bytes(&error_response(&err, &request_id));
    rec.status = err.status().as_u16();
    rec.code = Some(err.code());
    rec.bytes_out = bytes.len() as u64;
    rec.completed = true;
    rec.total_ms = millis(started.elapsed());
    gw.observer().record(rec, &runtime.unrouted);
    bytes
}

/// Wraps the body so the access log line and metrics are written when it is done.
fn observe(
    gw: &Gateway,
    conn: &ConnInfo,
    metrics: &Arc<ApiMetrics>,
    resp: Response<Body>,
    rec: LogRecord,
    started: Instant,
) -> Response<Body> {
    let pending = Box::new(Pending {
        observer: gw.observer().clone(),
        metrics: metrics.clone(),
        started,
        rec,
        framing: conn.framing.clone(),
    });
    resp.map(|b| Observed::new(b, pending).boxed_unsync())
}
