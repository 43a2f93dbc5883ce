//! OAuth error responses (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3): a JSON body with
//! `error` and `error_description`, `Cache-Control: no-store`, and for `invalid_client` a 401
//! with `WWW-Authenticate` naming the scheme the client tried (Basic by default).
//!
//! Descriptions are fixed texts: they never echo client input, secrets or store internals.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use portcullis_store::StoreError;

/// An OAuth protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// RFC 6749 error code.
    pub code: &'static str,
    /// Client-safe description.
    pub description: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// For `invalid_client` when the client used HTTP Basic: answer with a Basic challenge.
    pub basic_challenge: bool,
}

impl OAuthError {
    const fn new(code: &'static str, status: StatusCode, description: &'static str) -> Self {
        Self {
            code,
            description,
            status,
            basic_challenge: false,
        }
    }

    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, description)
    }
    /// Client authentication failed.
    pub const fn invalid_client() -> Self {
        Self::new(
            "invalid_client",
            StatusCode::UNAUTHORIZED,
            "client authentication failed",
        )
    }
    /// The grant (code, refresh token) is invalid, expired, revoked, or was issued to another
    /// client or redirect URI.
    pub const fn invalid_grant(description: &'static str) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, description)
    }
    /// The client may not use this grant type.
    pub const fn unauthorized_client(description: &'static str) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, description)
    }
    /// Unknown grant type.
    pub const fn unsupported_grant_type() -> Self {
        Self::new(
            "unsupported_grant_type",
            StatusCode::BAD_REQUEST,
            "grant_type must be client_credentials, authorization_code or refresh_token",
        )
    }
    /// A requested scope is not granted to the client.
    pub const fn invalid_scope() -> Self {
        Self::new(
            "invalid_scope",
            StatusCode::BAD_REQUEST,
            "a requested scope is not granted to this client by its approved API products",
        )
    }
    /// The `DPoP` header's proof is invalid, or a DPoP-bound refresh token came without a
    /// proof by its key (RFC 9449 §5).
    pub const fn invalid_dpop_proof(description: &'static str) -> Self {
        Self::new("invalid_dpop_proof", StatusCode::BAD_REQUEST, description)
    }
    /// The store or a signing key is unavailable.
    pub const fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "the authorization server is temporarily unavailable",
        )
    }
    /// An internal failure.
    pub const fn server_error() -> Self {
        Self::new(
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "the authorization server failed",
        )
    }

    /// Marks an `invalid_client` as answering a Basic attempt.
    pub fn basic(mut self) -> Self {
        self.basic_challenge = true;
        self
    }

    /// Maps a store failure: authentication failures become `invalid_client`, everything else
    /// is logged and becomes `temporarily_unavailable` / `server_error`.
    pub fn from_store(e: &StoreError) -> Self {
        match e {
            StoreError::Unauthorized | StoreError::NotFound { .. } => Self::invalid_client(),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "oauth: store unavailable");
                Self::temporarily_unavailable()
            }
            _ => {
                tracing::error!(error = %e, "oauth: store failure");
                Self::server_error()
            }
        }
    }
}

/// Headers every token-endpoint response carries (RFC 6749 §5.1).
pub(crate) fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.code,
            "error_description": self.description,
        });
        let mut resp = (self.status, Json(body)).into_response();
        no_store(&mut resp);
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.basic_challenge {
                "Basic realm=\"portcullis\", charset=\"UTF-8\""
            } else {
                "Basic realm=\"portcullis\""
            };
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}
