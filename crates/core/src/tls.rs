//! What the TLS layer learnt about the client, for policies.

use std::sync::Arc;

/// The verified TLS client certificate of the connection a request came over: its SHA-256
/// thumbprint, base64url without padding (the `x5t#S256` of RFC 8705 §3.1). The listener puts
/// it in `request.extensions` only when the client presented a certificate that chained to the
/// listener's `client_ca`; it is computed once per connection, not per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertThumbprint(pub Arc<str>);
