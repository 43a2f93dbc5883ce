//! The gateway's error type and the table of stable error codes.
//!
//! Every error a client can see is built here, so the status, the stable `code` and the title of
//! each condition are written down exactly once (Kong's `ERRORS_HTTP_CODES`, Pingora's
//! `ErrorSource`). Turning a [`GatewayError`] into bytes happens in one place per server (the
//! proxy's error map); this module only describes the condition.

use std::borrow::Cow;
use std::fmt;

use http::{HeaderName, HeaderValue, StatusCode};

/// Who caused an error: decides log level, metrics label and whether a retry may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client sent something we refuse (bad credentials, limits, malformed input).
    Client,
    /// The upstream failed (refused, reset, too slow).
    Upstream,
    /// A gateway bug or resource problem.
    Internal,
}

impl ErrorSource {
    /// Label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Upstream => "upstream",
            Self::Internal => "internal",
        }
    }
}

/// An error the gateway answers with, as `application/problem+json`.
///
/// `code` is stable and documented (docs/errors.md); `detail` is safe to show to the client and
/// never carries upstream internals or secrets.
#[derive(Debug, Clone)]
pub struct GatewayError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: Option<Cow<'static, str>>,
    source: ErrorSource,
    headers: Vec<(HeaderName, HeaderValue)>,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
    close_connection: bool,
}

macro_rules! conditions {
    ($( $(#[$doc:meta])* $fn:ident => ($status:ident, $code:literal, $title:literal, $source:ident); )*) => {
        impl GatewayError {
            $(
                $(#[$doc])*
                pub fn $fn() -> Self {
                    Self::new(StatusCode::$status, $code, $title, ErrorSource::$source)
                }
            )*
        }

        /// Every stable code with its status and title, for documentation and tests.
        pub const ERROR_CODES: &[(&str, u16, &str)] = &[
            $( ($code, StatusCode::$status.as_u16(), $title), )*
        ];
    };
}

conditions! {
    /// No API key was presented.
    key_missing => (UNAUTHORIZED, "key.missing", "API key required", Client);
    /// The presented API key is unknown.
    key_invalid => (UNAUTHORIZED, "key.invalid", "Invalid API key", Client);
    /// The presented API key has expired.
    key_expired => (UNAUTHORIZED, "key.expired", "API key expired", Client);
    /// The presented API key was revoked.
    key_revoked => (UNAUTHORIZED, "key.revoked", "API key revoked", Client);
    /// The app owning the key was revoked.
    app_revoked => (UNAUTHORIZED, "app.revoked", "App revoked", Client);
    /// The developer owning the app is inactive.
    developer_inactive => (UNAUTHORIZED, "developer.inactive", "Developer inactive", Client);
    /// The key has no approved API product association (none, or only pending or revoked ones).
    key_not_approved => (UNAUTHORIZED, "key.not_approved", "API key not approved for any API product", Client);
    /// No approved product of the key is available in the listener's environment.
    product_environment_not_allowed => (UNAUTHORIZED, "product.environment_not_allowed", "API key not valid in this environment", Client);
    /// No approved product of the key includes the API.
    product_api_not_allowed => (UNAUTHORIZED, "product.api_not_allowed", "API key not valid for this API", Client);
    /// No approved product of the key allows the resource path.
    product_path_not_allowed => (UNAUTHORIZED, "product.path_not_allowed", "API key not valid for this resource path", Client);
    /// No approved product of the key allows the method on the resource path.
    product_method_not_allowed => (UNAUTHORIZED, "product.method_not_allowed", "API key not valid for this method", Client);
    /// No bearer token was presented (`verify-jwt`).
    token_missing => (UNAUTHORIZED, "token.missing", "Access token required", Client);
    /// The token is malformed, forged, for another issuer or audience, or otherwise invalid.
    token_invalid => (UNAUTHORIZED, "token.invalid", "Invalid access token", Client);
    /// The token's `exp` has passed.
    token_expired => (UNAUTHORIZED, "token.expired", "Access token expired", Client);
    /// A DPoP proof (RFC 9449) is missing, invalid, replayed or made with a key the token is not
    /// bound to (`verify-oauth-token`).
    dpop_invalid_proof => (UNAUTHORIZED, "dpop.invalid_proof", "Invalid DPoP proof", Client);
    /// The token lacks a scope the API or flow requires (`require-scopes`).
    token_insufficient_scope => (FORBIDDEN, "token.insufficient_scope", "Insufficient scope", Client);
    /// A rate limit (spike arrest) was exceeded.
    rate_exceeded => (TOO_MANY_REQUESTS, "rate.exceeded", "Rate limit exceeded", Client);
    /// The client IP is not allowed.
    access_denied => (FORBIDDEN, "access.denied", "Access denied", Client);
    /// A CORS preflight from an origin or with a method/header that is not allowed.
    cors_rejected => (FORBIDDEN, "cors.rejected", "CORS request not allowed", Client);
    /// The request body exceeds the configured size.
    body_too_large => (PAYLOAD_TOO_LARGE, "request.body_too_large", "Request body too large", Client);
    /// A policy must read the request body, and its `Content-Encoding` is one the gateway
    /// cannot undo (only `gzip` and `deflate` are decoded for inspection).
    content_encoding_unsupported => (UNSUPPORTED_MEDIA_TYPE, "request.content_encoding_unsupported", "Unsupported content encoding", Client);
    /// A policy must read the request body, and its `Content-Type` declares a charset under
    /// which the back end would read other characters than the policy checks (UTF-7, EBCDIC).
    charset_unsupported => (UNSUPPORTED_MEDIA_TYPE, "request.charset_unsupported", "Unsupported charset", Client);
    /// The request URI exceeds the configured length.
    uri_too_long => (URI_TOO_LONG, "request.uri_too_long", "Request URI too long", Client);
    /// Too many request headers, or a header block that is too large.
    headers_too_large => (REQUEST_HEADER_FIELDS_TOO_LARGE, "request.headers_too_large", "Request header fields too large", Client);
    /// A malformed or ambiguous request (smuggling attempts, bad header names, bad paths).
    bad_request => (BAD_REQUEST, "request.invalid", "Bad request", Client);
    /// A method the gateway never proxies (`CONNECT`: it opens no tunnels).
    method_not_allowed => (METHOD_NOT_ALLOWED, "request.method_not_allowed", "Method not allowed", Client);
    /// No API matches the host and path.
    route_not_found => (NOT_FOUND, "route.not_found", "No API matches this request", Client);
    /// Every upstream target is down or refused the connection.
    upstream_unavailable => (BAD_GATEWAY, "upstream.unavailable", "Upstream unavailable", Upstream);
    /// The upstream failed mid-exchange (reset, protocol error).
    upstream_error => (BAD_GATEWAY, "upstream.error", "Upstream error", Upstream);
    /// The upstream did not answer within the request timeout.
    upstream_timeout => (GATEWAY_TIMEOUT, "upstream.timeout", "Upstream timeout", Upstream);
    /// The gateway is shutting down or reloading its store and cannot serve this request.
    service_unavailable => (SERVICE_UNAVAILABLE, "gateway.unavailable", "Service unavailable", Internal);
    /// `kvm-lookup`: the configured entry does not exist in the request's environment.
    kvm_entry_missing => (INTERNAL_SERVER_ERROR, "kvm.entry_missing", "Configuration value missing", Internal);
    /// `kvm-lookup`: the entry's value cannot be sent in the configured header.
    kvm_value_invalid => (INTERNAL_SERVER_ERROR, "kvm.value_invalid", "Configuration value unusable", Internal);
    /// A gateway bug; details are logged, never returned.
    internal => (INTERNAL_SERVER_ERROR, "gateway.internal", "Internal error", Internal);
    /// Admin API: no, unknown, expired or revoked bearer token.
    admin_auth_required => (UNAUTHORIZED, "admin.auth_required", "Authentication required", Client);
    /// Admin API: wrong username, password or TOTP code (deliberately not saying which).
    admin_login_failed => (UNAUTHORIZED, "admin.login_failed", "Login failed", Client);
    /// Admin API: too many failed logins for this username; `Retry-After` says when to retry.
    admin_login_throttled => (TOO_MANY_REQUESTS, "admin.login_throttled", "Too many failed logins", Client);
    /// Admin API: the caller's role does not allow this operation.
    admin_forbidden => (FORBIDDEN, "admin.forbidden", "Not allowed for this role", Client);
    /// Admin API: no such entity (or route).
    admin_not_found => (NOT_FOUND, "admin.not_found", "Not found", Client);
    /// Admin API: the route exists but not with this method.
    admin_method_not_allowed => (METHOD_NOT_ALLOWED, "admin.method_not_allowed", "Method not allowed", Client);
    /// Admin API: the change clashes with existing state (duplicate name, revoked parent, in use).
    admin_conflict => (CONFLICT, "admin.conflict", "Conflict", Client);
    /// Admin API: `If-Match` does not name the entity's current version.
    admin_precondition_failed => (PRECONDITION_FAILED, "admin.precondition_failed", "Precondition failed", Client);
    /// Admin API: the body is well-formed JSON but fields are invalid; `errors` lists each path.
    admin_invalid => (UNPROCESSABLE_ENTITY, "admin.invalid", "Invalid request", Client);
    /// Admin API: malformed JSON or query parameters.
    admin_bad_request => (BAD_REQUEST, "admin.bad_request", "Malformed request", Client);
    /// Admin API: the body is not `application/json`.
    admin_unsupported_media_type => (UNSUPPORTED_MEDIA_TYPE, "admin.unsupported_media_type", "Unsupported media type", Client);
    /// Admin API: the store cannot be reached; nothing was changed; `Retry-After` is set.
    admin_store_unavailable => (SERVICE_UNAVAILABLE, "admin.store_unavailable", "Store unavailable", Internal);
}

impl GatewayError {
    /// A condition with a custom code, for policies whose codes are data (e.g. `json.depth_exceeded`)
    /// or for `raise-fault`. Prefer the named constructors.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        source: ErrorSource,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            source,
            headers: Vec::new(),
            extra: None,
            close_connection: false,
        }
    }

    /// Adds a client-safe explanation.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A token the client sent, fit to be echoed in a detail: itself when it is short plain
    /// ASCII (a content coding, a charset name), else `(unreadable)`, so a client cannot put
    /// arbitrary text into answers and logs.
    pub fn echoable(token: &str) -> &str {
        if token.len() <= 32 && token.bytes().all(|b| b.is_ascii_graphic()) {
            token
        } else {
            "(unreadable)"
        }
    }

    /// Adds a response header (e.g. `WWW-Authenticate`, `Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds a member to the problem body (e.g. the list of violations).
    pub fn with_extra(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_owned(), value);
        self
    }

    /// Asks the server to close the connection after answering (request smuggling defence).
    pub fn closing_connection(mut self) -> Self {
        self.close_connection = true;
        self
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// Stable error code, e.g. `key.invalid`.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// Short human title.
    pub fn title(&self) -> &'static str {
        self.title
    }
    /// Client-safe detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    /// Who caused it.
    pub fn source(&self) -> ErrorSource {
        self.source
    }
    /// Extra response headers.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
    /// Extra problem members.
    pub fn extra(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.extra.as_ref()
    }
    /// Whether the connection must be closed after the response.
    pub fn close_connection(&self) -> bool {
        self.close_connection
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.status.as_u16())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for (code, status, _) in ERROR_CODES {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert!(code.contains('.'), "code {code} must be namespaced");
            assert!((400..600).contains(status));
        }
    }

    #[test]
    fn builder_keeps_everything() {
        let e = GatewayError::rate_exceeded()
            .with_detail("slow down")
            .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"))
            .with_extra("limit", serde_json::json!(10));
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code(), "rate.exceeded");
        assert_eq!(e.detail(), Some("slow down"));
        assert_eq!(e.headers().len(), 1);
        assert_eq!(
            e.extra().and_then(|m| m.get("limit")),
            Some(&serde_json::json!(10))
        );
        assert_eq!(e.to_string(), "rate.exceeded (429): slow down");
    }
}
