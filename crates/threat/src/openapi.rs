//! OpenAPI positive security model: only requests the API's contract describes get through.
//!
//! Negative models (signatures, injection patterns) catch known attacks; a positive model
//! refuses everything the API never promised to handle: undeclared paths and methods
//! (forgotten debug endpoints, verb tampering), missing or mistyped parameters, repeated
//! parameters (HTTP parameter pollution), bodies of undeclared content types (the classic way
//! around JSON inspection) and bodies that do not match their schema (mass assignment, type
//! confusion). This module loads an OpenAPI 3.0 or 3.1 document once, compiles every schema
//! up front, and then validates requests in microseconds; responses can be checked too, which
//! the gateway does in monitor mode to spot data leaks and contract drift.
//!
//! Loading never touches the network: only document-local `$ref`s are followed, and loops are
//! rejected with their location. See [`OpenApiValidator::load`].
//!
//! ```
//! use portcullis_threat::openapi::{OpenApiOptions, OpenApiValidator, RequestView, codes};
//!
//! let doc = r#"
//! openapi: 3.0.3
//! info: {title: Orders, version: "1"}
//! paths:
//!   /orders/{id}:
//!     get:
//!       operationId: getOrder
//!       parameters:
//!         - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
//!       responses: {"200": {description: An order}}
//! "#;
//! let validator = OpenApiValidator::load(doc, &OpenApiOptions::default())?;
//! let headers = http::HeaderMap::new();
//! let mut req = RequestView {
//!     method: "GET",
//!     path: "/orders/42",
//!     query: None,
//!     headers: &headers,
//!     content_type: None,
//!     body: None,
//! };
//! let op = validator.validate_request(&req).expect("valid request");
//! assert_eq!(op.operation_id(), Some("getOrder"));
//!
//! req.path = "/orders/0";
//! let violations = validator.validate_request(&req).unwrap_err();
//! assert_eq!((violations[0].code, violations[0].location.as_str()), (codes::PARAMETER_INVALID, "path.id"));
//! # Ok::<(), portcullis_threat::openapi::LoadError>(())
//! ```

mod body;
mod build;
mod convert;
mod document;
mod error;
mod extract;
mod instance;
mod media;
mod operation;
mod options;
mod params;
mod request;
mod router;
mod schema;
mod visibility;

use std::sync::Arc;

pub use body::DUPLICATE_KEYS;
pub use error::{LoadError, Violation, codes};
pub use operation::{MatchedOperation, SchemeRequirement, SecurityRequirement};
pub use options::OpenApiOptions;
pub use request::RequestView;

use body::Parsed;
use document::Version;

use crate::json::JsonView;
use operation::{PathEntry, ResponseSpec};
use request::Collector;
use router::Router;

/// A compiled OpenAPI document, ready to validate requests. Immutable and `Send + Sync`:
/// build it once per configuration and share it across requests.
#[derive(Debug)]
pub struct OpenApiValidator {
    router: Router<PathEntry>,
    opts: OpenApiOptions,
    base_path: Option<String>,
    version: Version,
}

impl OpenApiValidator {
    /// Parses (JSON or YAML), checks and compiles an OpenAPI 3.0.x or 3.1.x document.
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming the location in the document for syntax errors, unsupported
    /// versions, structural mistakes, remote, dangling or looping `$ref`s, and invalid schemas.
    pub fn load(doc: &str, opts: &OpenApiOptions) -> Result<Self, LoadError> {
        let base_path = match opts.base_path.as_deref().map(|b| b.trim_end_matches('/')) {
            None | Some("") => None,
            Some(b) if b.starts_with('/') => Some(b.to_owned()),
            Some(b) => return Err(LoadError::BasePath(b.to_owned())),
        };
        let mut root = document::parse(doc)?;
        let version = document::version(&root)?;
        document::check_refs(&root)?;
        convert::convert_document(&mut root, version);
        let mut response_root = root.clone();
        visibility::relax_required(&mut root, visibility::Direction::Request);
        visibility::relax_required(&mut response_root, visibility::Direction::Response);
        let mut compilers = build::Compilers {
            request: schema::SchemaCompiler::new(&root, opts)?,
            response: schema::SchemaCompiler::new(&response_root, opts)?,
        };
        compilers.request.check_components()?;
        let router = build::build(&root, version, &mut compilers)?;
        Ok(Self {
            router,
            opts: opts.clone(),
            base_path,
            version,
        })
    }

    /// Validates a request; on success returns the operation it addresses.
    ///
    /// # Errors
    ///
    /// Every violation found (up to `max_violations`). Path and method problems are reported
    /// alone, since parameters cannot be checked without an operation; for
    /// [`codes::METHOD_NOT_ALLOWED`] use [`Self::allowed_methods`] for the `Allow` header.
    pub fn validate_request(
        &self,
        req: &RequestView<'_>,
    ) -> Result<MatchedOperation, Vec<Violation>> {
        self.validate(req, Parsed::None)
    }

    /// Like [`Self::validate_request`], for a caller that has already parsed the body as JSON
    /// (another policy needed the tree): `json` is validated instead of parsing `req.body`
    /// again. `req.body` must still be set, since presence and content type are checked on it.
    ///
    /// # Errors
    ///
    /// As [`Self::validate_request`].
    pub fn validate_request_with_json(
        &self,
        req: &RequestView<'_>,
        json: &serde_json::Value,
    ) -> Result<MatchedOperation, Vec<Violation>> {
        self.validate(req, Parsed::Value(json))
    }

    /// Like [`Self::validate_request`], with the body already parsed into a [`JsonDoc`]
    /// (`json-threat-protection` keeps the one it checked): the schema is validated on that
    /// tape in place, without parsing the body again or building a `serde_json::Value`.
    /// `doc` must be a view of `req.body`; the result is exactly that of
    /// [`Self::validate_request`].
    ///
    /// [`JsonDoc`]: crate::json::JsonDoc
    ///
    /// # Errors
    ///
    /// As [`Self::validate_request`].
    pub fn validate_request_with_doc(
        &self,
        req: &RequestView<'_>,
        doc: JsonView<'_>,
    ) -> Result<MatchedOperation, Vec<Violation>> {
        self.validate(req, Parsed::Doc(doc))
    }

    fn validate(
        &self,
        req: &RequestView<'_>,
        json: Parsed<'_>,
    ) -> Result<MatchedOperation, Vec<Violation>> {
        let not_found = || {
            vec![Violation::new(
                codes::PATH_NOT_FOUND,
                "path",
                format!(
                    "no operation is declared for path {}",
                    request::truncate(req.path.to_owned())
                ),
            )]
        };
        let path = self.strip_base(req.path).ok_or_else(not_found)?;
        let matched = self.router.lookup(path).ok_or_else(not_found)?;
        let entry = matched.value;
        let op = entry
            .ops
            .iter()
            .find(|o| o.method.as_str() == req.method)
            .or_else(|| {
                (req.method == "HEAD")
                    .then(|| entry.ops.iter().find(|o| o.method == http::Method::GET))
                    .flatten()
            })
            .ok_or_else(|| {
                vec![Violation::new(
                    codes::METHOD_NOT_ALLOWED,
                    "method",
                    format!(
                        "method {} is not allowed for {}; allowed: {}",
                        request::truncate(req.method.to_owned()),
                        matched.template,
                        entry.allow
                    ),
                )]
            })?;
        let path_params: Vec<(String, String)> = matched
            .params
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let mut c = Collector::new(self.opts.max_violations);
        request::check_params(
            op,
            &path_params,
            req,
            self.opts.reject_unknown_query_params,
            &mut c,
        );
        body::check_body(op, req, json, self.opts.reject_undeclared_body, &mut c);
        if c.out.is_empty() {
            Ok(MatchedOperation {
                op: Arc::clone(op),
                path_params,
            })
        } else {
            Err(c.out)
        }
    }

    /// Validates a response to `op`: declared status, content type and body schema. Meant for
    /// monitor mode; an empty list means the response conforms.
    pub fn validate_response(
        &self,
        op: &MatchedOperation,
        status: u16,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Vec<Violation> {
        let mut c = Collector::new(self.opts.max_violations);
        let specs = &op.op.responses;
        let Some(spec) = ResponseSpec::find(specs, status) else {
            if !specs.is_empty() {
                let message = format!(
                    "status {status} is not declared for {} {}",
                    op.op.method, op.op.template
                );
                c.push(Violation::new(
                    codes::RESPONSE_STATUS_UNDECLARED,
                    "status",
                    message,
                ));
            }
            return c.out;
        };
        if let Some(bytes) = body.filter(|b| !b.is_empty())
            && !spec.media.is_empty()
        {
            body::check_media(
                &spec.media,
                content_type,
                body::Body {
                    bytes,
                    parsed: Parsed::None,
                },
                codes::RESPONSE_CONTENT_TYPE_NOT_ALLOWED,
                codes::RESPONSE_BODY_INVALID,
                &mut c,
            );
        }
        c.out
    }

    /// The `Allow` header value for a path (`GET, HEAD, PUT`), or `None` if no template matches.
    pub fn allowed_methods(&self, path: &str) -> Option<&str> {
        let path = self.strip_base(path)?;
        self.router.lookup(path).map(|m| m.value.allow.as_str())
    }

    /// Number of compiled operations.
    pub fn operation_count(&self) -> usize {
        self.router.values().map(|e| e.ops.len()).sum()
    }

    /// `true` for 3.0.x documents, `false` for 3.1.x.
    pub fn is_openapi_30(&self) -> bool {
        self.version == Version::V30
    }

    fn strip_base<'p>(&self, path: &'p str) -> Option<&'p str> {
        let Some(base) = &self.base_path else {
            return Some(path);
        };
        match path.strip_prefix(base.as_str()) {
            Some("") => Some("/"),
            Some(rest) if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}
