//! Compiled operations and what a matched request exposes to later policies.

use std::sync::Arc;

use http::Method;

use super::media::Media;
use super::params::Param;

/// One security requirement: every listed scheme must be satisfied. An operation's
/// requirements are alternatives: satisfying any one of them is enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityRequirement {
    /// The schemes of this requirement, in document order.
    pub schemes: Vec<SchemeRequirement>,
}

/// A named security scheme (`components.securitySchemes`) with the scopes it must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeRequirement {
    /// Scheme name, a key of `components.securitySchemes`.
    pub name: String,
    /// Required scopes (OAuth2/OIDC) or roles; empty for schemes without scopes.
    pub scopes: Vec<String>,
}

/// The operation a request was matched to, returned by a successful validation.
///
/// Cheap to clone (one reference count) and independent of the validator's lifetime, so it
/// can be kept in per-request state until the response phase.
#[derive(Debug, Clone)]
pub struct MatchedOperation {
    pub(crate) op: Arc<Operation>,
    pub(crate) path_params: Vec<(String, String)>,
}

/// Where a declared response applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKey {
    Exact(u16),
    /// `2XX` and friends: the hundreds digit.
    Range(u16),
    Default,
}

/// A declared response: the media types its body may have (empty: body not described).
#[derive(Debug)]
pub(crate) struct ResponseSpec {
    pub(crate) status: StatusKey,
    pub(crate) media: Vec<Media>,
}

/// A declared request body.
#[derive(Debug)]
pub(crate) struct RequestBody {
    pub(crate) required: bool,
    pub(crate) media: Vec<Media>,
}

/// One compiled operation (path template + method).
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) template: String,
    pub(crate) operation_id: Option<String>,
    pub(crate) security: Option<Vec<SecurityRequirement>>,
    pub(crate) params: Vec<Param>,
    pub(crate) body: Option<RequestBody>,
    pub(crate) responses: Vec<ResponseSpec>,
}

/// All operations of one path template.
#[derive(Debug)]
pub(crate) struct PathEntry {
    pub(crate) ops: Vec<Arc<Operation>>,
    /// `Allow` header value, for 405 answers.
    pub(crate) allow: String,
}

impl MatchedOperation {
    /// The `operationId`, when the document gives one.
    pub fn operation_id(&self) -> Option<&str> {
        self.op.operation_id.as_deref()
    }

    /// The path template as written in the document, for example `/orders/{id}`.
    pub fn path_template(&self) -> &str {
        &self.op.template
    }

    /// The declared method (`GET` for a `HEAD` request answered by a `GET` operation).
    pub fn method(&self) -> &Method {
        &self.op.method
    }

    /// Security requirements (operation-level, else document-level): `None` when the document
    /// declares none, `Some(&[])` when the operation explicitly needs no authentication.
    pub fn security(&self) -> Option<&[SecurityRequirement]> {
        self.op.security.as_deref()
    }

    /// Decoded path variables, by template name.
    pub fn path_params(&self) -> &[(String, String)] {
        &self.path_params
    }
}

impl ResponseSpec {
    /// The spec that applies to `status`: exact code, then `nXX` range, then `default`.
    pub(crate) fn find(specs: &[ResponseSpec], status: u16) -> Option<&ResponseSpec> {
        specs
            .iter()
            .find(|s| s.status == StatusKey::Exact(status))
            .or_else(|| {
                specs
                    .iter()
                    .find(|s| s.status == StatusKey::Range(status / 100))
            })
            .or_else(|| specs.iter().find(|s| s.status == StatusKey::Default))
    }
}
