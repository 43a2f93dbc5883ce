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
