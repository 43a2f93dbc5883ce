//! What can go wrong on the way to an upstream, in the three shapes a client may be told about.
//!
//! The variants carry no addresses or error text on purpose: the client-facing
//! [`GatewayError`] must never reveal the topology behind the gateway, so the details are
//! logged where the failure happens and only the kind travels on.

use portcullis_core::GatewayError;

/// Why an upstream exchange produced no response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made to any target tried (refused, unreachable, connect timeout,
    /// TLS handshake failure).
    #[error("no upstream target accepted a connection")]
    Unavailable,
    /// No response headers within the upstream's request timeout.
    #[error("upstream did not answer within the request timeout")]
    Timeout,
    /// A connection was made but the exchange failed (reset, protocol error) and could not be
    /// retried safely.
    #[error("upstream exchange failed")]
    Failed,
}

// === impl UpstreamError ===

impl UpstreamError {
    /// The client-facing error: 502 `upstream.unavailable`, 504 `upstream.timeout` or
    /// 502 `upstream.error`, with no upstream detail.
    pub fn to_gateway_error(&self) -> GatewayError {
        match self {
            Self::Unavailable => GatewayError::upstream_unavailable(),
            Self::Timeout => GatewayError::upstream_timeout(),
            Self::Failed => GatewayError::upstream_error(),
        }
    }

    /// Stable label for logs and the `kind` label of `portcullis_upstream_errors_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Failed => "failed",
        }
    }
}
