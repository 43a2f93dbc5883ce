//! Per-request state: the request being handled, its body, the response once there is one, and
//! the context that policies fill for later policies and for the access log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use portcullis_core::{GatewayError, Identity};

use crate::Mode;

/// Error type carried by streaming bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming body, request or response.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A complete response produced by a policy (e.g. `raise-fault`, a CORS preflight answer).
pub type Reply = http::Response<Bytes>;

/// The request body: streamed through unless a policy needs to read it.
pub enum RequestBody {
    /// Not read yet; forwarded as it arrives.
    Streaming(Body),
    /// Read fully (a policy needed it); forwarded from memory.
    Buffered(Bytes),
    /// Read fully and content-coded (`Content-Encoding: gzip`, RFC 9110 §8.4): forwarded as
    /// received, inspected decoded, since decoded is how the back end reads it.
    Coded {
        /// The bytes as received, which go upstream unchanged.
        wire: Bytes,
        /// The body with its codings undone, or why they cannot be (an unsupported coding,
        /// corrupt data, a decoded size over the limit).
        content: Result<Bytes, GatewayError>,
    },
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Streaming(_) => f.write_str("Streaming"),
            Self::Buffered(b) => write!(f, "Buffered({} bytes)", b.len()),
            Self::Coded { wire, content } => match content {
                Ok(c) => write!(f, "Coded({} bytes, {} decoded)", wire.len(), c.len()),
                Err(e) => write!(f, "Coded({} bytes, {})", wire.len(), e.code()),
            },
        }
    }
}

impl RequestBody {
    /// What body-reading policies inspect: the buffered body with any content coding undone;
    /// `Ok(None)` while it streams. The error, when the coding cannot be undone, is meant to be
    /// returned as the policy's own, so that its `mode` applies: a body nobody can read is
    /// never passed as inspected.
    pub fn content(&self) -> Result<Option<&Bytes>, GatewayError> {
        match self {
            Self::Streaming(_) => Ok(None),
            Self::Buffered(b) => Ok(Some(b)),
            Self::Coded { content, .. } => content.as_ref().map(Some).map_err(Clone::clone),
        }
    }

    /// The bytes forwarded upstream, if the body was read.
    pub fn wire(&self) -> Option<&Bytes> {
        match self {
            Self::Buffered(b) | Self::Coded { wire: b, .. } => Some(b),
            Self::Streaming(_) => None,
        }
    }
}

/// Something a policy noticed: a monitor-mode block, a detected attack. Logged with the request
/// and later exported as a security event.
#[derive(Debug, Clone)]
pub struct PolicyEvent {
    /// Policy kind.
    pub policy: &'static str,
    /// Stable code of what happened (e.g. `rate.exceeded`).
    pub code: &'static str,
    /// Mode the policy ran in; `Monitor` means the request was let through.
    pub mode: Mode,
    /// Client-safe description (never secrets or matched payloads in full).
    pub detail: Option<String>,
}

/// What the gateway knows about a request besides its bytes.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// Request id (from a trusted `X-Request-Id` or generated).
    pub request_id: Arc<str>,
    /// Real client IP (after trusted-proxy rules).
    pub client_ip: IpAddr,
    /// Environment of the listener the request arrived on (`default` unless configured).
    pub environment: Arc<str>,
    /// Matched API name.
    pub api: Arc<str>,
    /// Base path of the matched API: normalised, no trailing slash, `/` for the root. See
    /// [`RequestCtx::path_suffix`].
    pub base_path: Arc<str>,
    /// Matched flow name, if any.
    pub flow: Option<Arc<str>>,
    /// Normalised request path (what routing and policies saw, and what is forwarded).
    pub path: String,
    /// Caller identity, once a credential policy established it.
    pub identity: Option<Identity>,
    /// When the request arrived.
    pub received_at: Instant,
    /// Events recorded by policies.
    pub events: Vec<PolicyEvent>,
    /// How the client addressed the request (set by the proxy; `None` only in tests).
    pub origin: Option<RequestOrigin>,
}

impl RequestCtx {
    /// The normalised path after the API's base path (Apigee's `proxy.pathsuffix`), which API
    /// product resource paths are matched against: with base path `/orders/v1`, `/orders/v1/a/b`
    /// gives `/a/b` and `/orders/v1` gives the empty string. With base path `/` it is the whole
    /// path. The query string is never part of it.
    pub fn path_suffix(&self) -> &str {
        if &*self.base_path == "/" {
            return &self.path;
        }
        match self.path.strip_prefix(&*self.base_path) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            // Not under the base path (cannot happen for a routed request): the whole path, so
            // a product can never be satisfied by a suffix the request does not have.
            _ => &self.path,
        }
    }
}

/// One request/response exchange as policies see it.
#[derive(Debug)]
pub struct Exchange {
    /// Request line and headers (the URI's path is already normalised).
    pub request: http::request::Parts,
    /// Request body.
    pub body: RequestBody,
    /// Response head, during the response phase.
    pub response: Option<http::response::Parts>,
    /// Context.
    pub ctx: RequestCtx,
}

/// How the client addressed the request, in [`RequestCtx::origin`] (set by the proxy; a plain
/// field, so the hot path allocates nothing for it):
/// the listener's scheme and the `Host` (or HTTP/2 `:authority`) the client sent. Policies that
/// must rebuild the URL the client used (DPoP `htu`, RFC 9449) read it; the request URI itself
/// holds only the normalised path and query.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    /// TLS was terminated on the listener (`https`), else `http`.
    pub https: bool,
    /// The requested host (with port, if the client sent one).
    pub host: Option<http::HeaderValue>,
}

/// A tighter request body limit set by a policy (e.g. `request-size-limit`) in
/// `Exchange::request.extensions`; the proxy enforces it while streaming the body upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(base_path: &str, path: &str) -> RequestCtx {
        RequestCtx {
            request_id: "r".into(),
            client_ip: [127, 0, 0, 1].into(),
            environment: "default".into(),
            api: "api".into(),
            base_path: base_path.into(),
            flow: None,
            path: path.into(),
            identity: None,
            received_at: Instant::now(),
            events: Vec::new(),
            origin: None,
        }
    }

    #[test]
    fn path_suffix_is_the_path_below_the_base_path() {
        for (base, path, suffix) in [
            ("/orders/v1", "/orders/v1/a/b", "/a/b"),
            ("/orders/v1", "/orders/v1", ""),
            ("/orders/v1", "/orders/v1/", "/"),
            ("/", "/", "/"),
            ("/", "/x/y", "/x/y"),
            // Not on a segment boundary: never shortened.
            ("/orders/v1", "/orders/v10/a", "/orders/v10/a"),
        ] {
            assert_eq!(ctx(base, path).path_suffix(), suffix, "{base} {path}");
        }
    }
}
