//! Violation and load-error types of the OpenAPI engine.
//!
//! Violations are what a client did wrong: each carries a stable `code` (so the policy layer
//! can map it to a status and operators can alert on it), the request location it concerns and
//! a human-readable message. Load errors are what the API owner did wrong in the document: they
//! name the JSON pointer inside the document, so a broken spec is refused at deploy time rather
//! than silently letting traffic through.

/// Stable violation codes.
pub mod codes {
    /// No path template of the document matches the request path.
    pub const PATH_NOT_FOUND: &str = "openapi.path_not_found";
    /// The path exists but does not declare the request method.
    pub const METHOD_NOT_ALLOWED: &str = "openapi.method_not_allowed";
    /// A required parameter (path, query, header or cookie) is absent.
    pub const PARAMETER_MISSING: &str = "openapi.parameter_missing";
    /// A parameter is present but does not satisfy its schema.
    pub const PARAMETER_INVALID: &str = "openapi.parameter_invalid";
    /// A query parameter the operation does not declare (only with `reject_unknown_query_params`).
    pub const QUERY_PARAM_UNKNOWN: &str = "openapi.query_param_unknown";
    /// The operation requires a body and none was sent.
    pub const BODY_REQUIRED: &str = "openapi.body_required";
    /// A body was sent to an operation that declares none (only with `reject_undeclared_body`).
    pub const BODY_NOT_ALLOWED: &str = "openapi.body_not_allowed";
    /// The request content type is not among the declared media types.
    pub const CONTENT_TYPE_NOT_ALLOWED: &str = "openapi.content_type_not_allowed";
    /// The body is not well-formed or does not satisfy its schema.
    pub const BODY_INVALID: &str = "openapi.body_invalid";
    /// The response status matches no declared response and there is no `default`.
    pub const RESPONSE_STATUS_UNDECLARED: &str = "openapi.response_status_undeclared";
    /// The response content type is not among the declared media types.
    pub const RESPONSE_CONTENT_TYPE_NOT_ALLOWED: &str = "openapi.response_content_type_not_allowed";
    /// The response body is not well-formed or does not satisfy its schema.
    pub const RESPONSE_BODY_INVALID: &str = "openapi.response_body_invalid";
}

/// One way in which a request (or response) departs from the OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} at {location}: {message}")]
pub struct Violation {
    /// Stable machine-readable code, one of [`codes`].
    pub code: &'static str,
    /// What the violation concerns: `path`, `method`, `path.id`, `query.limit`,
    /// `header.x-rate`, `cookie.session`, `content-type`, `body` or `body /items/0/qty`.
    pub location: String,
    /// Human-readable explanation, safe to return to the client (it never echoes the
    /// document beyond names and constraints).
    pub message: String,
}

impl Violation {
    pub(crate) fn new(
        code: &'static str,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            location: location.into(),
            message: message.into(),
        }
    }
}

/// Why an OpenAPI document was refused at load time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The text is neither JSON nor YAML (or exceeds the YAML parser's safety budget).
    #[error("OpenAPI document does not parse as {format}: {message}")]
    Syntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// Parser message, with line and column where the parser gives them.
        message: String,
    },
    /// The `openapi` field is missing or names a version other than 3.0.x / 3.1.x.
    #[error("unsupported OpenAPI version {found}: expected 3.0.x or 3.1.x in the `openapi` field")]
    UnsupportedVersion {
        /// The value found, or `none`.
        found: String,
    },
    /// The document is structurally invalid.
    #[error("invalid OpenAPI document at {pointer}: {message}")]
    Invalid {
        /// JSON pointer into the document, for example `/paths/~1pets/get/parameters/0/in`.
        pointer: String,
        /// What is wrong there.
        message: String,
    },
    /// A `$ref` points outside the document; the gateway never fetches remote documents.
    #[error(
        "remote $ref {reference:?} at {pointer} is not supported: only local references (`#/...`) are resolved"
    )]
    RemoteRef {
        /// Where the `$ref` is.
        pointer: String,
        /// The reference as written.
        reference: String,
    },
    /// A local `$ref` points at nothing.
    #[error("unresolvable $ref {reference:?} at {pointer}")]
    UnresolvedRef {
        /// Where the `$ref` is.
        pointer: String,
        /// The reference as written.
        reference: String,
    },
    /// References (or in-place schema applicators) loop without consuming any input, which
    /// would make validation recurse forever.
    #[error("$ref cycle at {pointer}: {chain}")]
    RefCycle {
        /// Where the cycle was entered.
        pointer: String,
        /// The locations on the cycle, joined by ` -> `.
        chain: String,
    },
    /// A schema is not a valid JSON Schema (after OpenAPI 3.0 conversion).
    #[error("invalid schema at {pointer}: {message}")]
    Schema {
        /// JSON pointer of the schema in the document.
        pointer: String,
        /// The schema compiler's message.
        message: String,
    },
    /// `OpenApiOptions::base_path` is not an absolute path.
    #[error("invalid base path {0:?}: it must start with `/`")]
    BasePath(String),
}

/// Escapes one JSON pointer token (RFC 6901).
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
