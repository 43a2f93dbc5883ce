//! Load-time options of the OpenAPI engine.

/// How strictly an [`OpenApiValidator`](super::OpenApiValidator) enforces the document.
///
/// The defaults follow a positive security model where that is safe for well-written
/// documents (undeclared bodies are refused, formats are checked) and stay lenient where real
/// clients commonly add noise (unknown query parameters such as cache busters are allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiOptions {
    /// A prefix stripped from request paths before matching (for example `/v1`). `None` when
    /// the caller already passes the path relative to the API's base path.
    pub base_path: Option<String>,
    /// Reject query parameters the operation does not declare.
    pub reject_unknown_query_params: bool,
    /// Reject a non-empty body sent to an operation that declares no `requestBody`.
    pub reject_undeclared_body: bool,
    /// Check `format` keywords (`date-time`, `email`, `uuid`, `ipv4`, ...). Integer formats
    /// `int32`/`int64` are always enforced as ranges.
    pub validate_formats: bool,
    /// Compile `pattern`s with a backtracking engine (look-around, backreferences) under a
    /// step budget, instead of refusing such patterns at load. Off by default: the default
    /// engine runs in linear time, so no pattern can be turned into a ReDoS.
    pub backtracking_patterns: bool,
    /// Stop collecting after this many violations, so that a hostile body with thousands of
    /// errors cannot make the error report itself expensive.
    pub max_violations: usize,
}

impl Default for OpenApiOptions {
    fn default() -> Self {
        Self {
            base_path: None,
            reject_unknown_query_params: false,
            reject_undeclared_body: true,
            validate_formats: true,
            backtracking_patterns: false,
            max_violations: 32,
        }
    }
}
