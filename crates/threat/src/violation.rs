//! The violation type shared by the JSON and XML engines.
//!
//! One shape for both formats keeps the policy layer simple: it maps any violation to a 400
//! response carrying the stable `code`, the location and the limit.

/// A body rejected by a threat-protection engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} at {path}: {detail}")]
pub struct Violation {
    /// Stable machine-readable code, for example `json.depth_exceeded`.
    pub code: &'static str,
    /// Location of the offending node: a JSONPath (`$.a.b[3]`) or an XPath-like path
    /// (`/order/item[2]/@sku`).
    pub path: String,
    /// The configured limit that was exceeded, when the violation is a limit violation.
    pub limit: Option<u64>,
    /// Human-readable explanation (for `*.invalid`, includes the byte offset).
    pub detail: String,
}
