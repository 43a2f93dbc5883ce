//! The caller identity a credential policy attaches to a request.

use std::sync::Arc;

/// Who is calling: set by `verify-api-key` (later OAuth policies), read by rate limits, logs and
/// analytics. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// App id.
    pub app_id: Arc<str>,
    /// App name.
    pub app_name: Arc<str>,
    /// Developer id.
    pub developer_id: Arc<str>,
    /// Developer e-mail.
    pub developer_email: Arc<str>,
    /// Public prefix of the credential used (never the secret).
    pub credential: Arc<str>,
}

/// The API product that admitted a request (Apigee's analytics dimension `api_product`). A
/// credential policy that matched a product (`verify-api-key`) puts it in
/// `request.extensions`; the access log records it next to the app and developer. It is a
/// separate value rather than a field of [`Identity`] because not every credential has one
/// (JWTs, legacy keys under `require_product: false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiProduct(pub Arc<str>);
