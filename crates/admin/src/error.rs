//! The admin API's one error → response map: every failure of `/admin/v1` becomes an
//! `application/problem+json` body with a stable code from `portcullis_core::ERROR_CODES`.
//!
//! Store errors are translated here and nowhere else, so a store message never reaches a
//! client in a shape the API did not choose: `Invalid` becomes 422 with one entry per field
//! (the store names fields as `paths[2]` / `attributes["tier"]`, turned into JSON Pointers),
//! `Unavailable` becomes 503 with `Retry-After`, `Corrupt` is logged and hidden behind 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{GatewayError, PROBLEM_CONTENT_TYPE, problem_body};
use portcullis_store::StoreError;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying when the store is down.
const STORE_RETRY_AFTER: &str = "2";

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the field inside the request body (`""` = the whole body).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// A problem document (RFC 9457) as the admin API sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:portcullis:error:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human title (stable per code).
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Stable error code (docs/errors.md).
    pub code: String,
    /// Client-safe explanation.
    pub detail: Option<String>,
    /// Request identifier.
    pub request_id: String,
    /// Every invalid field (422 only).
    pub errors: Option<Vec<FieldError>>,
    /// The entity's current ETag (412 only).
    pub current_etag: Option<String>,
}

/// Why an admin request failed; renders itself as problem+json.
#[derive(Debug)]
pub struct ApiError(pub GatewayError);

impl ApiError {
    /// 422 listing every invalid field.
    pub fn invalid(errors: &[FieldError]) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        let list = serde_json::to_value(errors).unwrap_or_else(|_| json!([]));
        ApiError(
            GatewayError::admin_invalid()
                .with_detail(detail)
                .with_extra("errors", list),
        )
    }

    /// 422 for one field.
    pub fn field(path: &str, message: impl Into<String>) -> Self {
        Self::invalid(&[FieldError {
            path: path.to_owned(),
            message: message.into(),
        }])
    }

    /// 400 with a detail (malformed JSON, bad query parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError(GatewayError::admin_bad_request().with_detail(detail.into()))
    }

    /// 401 for a missing or refused bearer token.
    pub fn auth_required(detail: &'static str) -> Self {
        ApiError(
            GatewayError::admin_auth_required()
                .with_detail(detail)
                .with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
                ),
        )
    }

    /// 403: the role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError(GatewayError::admin_forbidden().with_detail(detail.into()))
    }

    /// 404 with a detail.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError(GatewayError::admin_not_found().with_detail(detail.into()))
    }

    /// 409 with a detail.
    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError(GatewayError::admin_conflict().with_detail(detail.into()))
    }

    /// 412: `If-Match` names another version than `current`.
    pub fn precondition_failed(current: i64) -> Self {
        ApiError(
            GatewayError::admin_precondition_failed()
                .with_detail("If-Match does not match the current version; re-read and retry")
                .with_extra("current_etag", crate::http_util::etag(current).into()),
        )
    }

    /// 500, details logged only.
    pub fn internal(what: &str) -> Self {
        tracing::error!(error = what, "admin API internal error");
        ApiError(GatewayError::internal())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => Self::not_found(err.to_string()),
            StoreError::Conflict(msg) => Self::conflict(msg),
            StoreError::Invalid(msg) => Self::invalid(&field_errors(&msg)),
            StoreError::Stale { current, .. } => Self::precondition_failed(current),
            StoreError::Unauthorized => Self::auth_required("invalid or expired token"),
            StoreError::Throttled { retry_after_secs } => ApiError(
                GatewayError::admin_login_throttled()
                    .with_detail(format!("retry in {retry_after_secs} s"))
                    .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs)),
            ),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "admin API: store unavailable");
                ApiError(
                    GatewayError::admin_store_unavailable()
                        .with_detail("the store cannot be reached; nothing was changed")
                        .with_header(
                            header::RETRY_AFTER,
                            HeaderValue::from_static(STORE_RETRY_AFTER),
                        ),
                )
            }
            other => Self::internal(&other.to_string()),
        }
    }
}

/// A store error while looking an entity up by the id in the URL: an id the store finds
/// malformed simply names nothing, so it is a 404, not a body error.
pub(crate) fn lookup(err: StoreError) -> ApiError {
    match err {
        StoreError::Invalid(msg) => ApiError::not_found(msg),
        other => other.into(),
    }
}

/// The same for writes addressed by URL: a malformed id becomes `NotFound`.
pub(crate) fn named_nothing(err: StoreError) -> StoreError {
    match err {
        StoreError::Invalid(id) => StoreError::NotFound {
            entity: "entity",
            id,
        },
        other => other,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(&self.0)
    }
}

/// Renders a gateway error as the admin listener's problem+json response.
pub(crate) fn problem_response(err: &GatewayError) -> Response {
    let mut resp = (err.status(), problem_body(err, "admin")).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    for (name, value) in err.headers() {
        headers.insert(name.clone(), value.clone());
    }
    if err.status() == StatusCode::INTERNAL_SERVER_ERROR {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Splits a store `Invalid` message (`paths[2]: ...; methods[0]: ...`) into field errors.
/// A part that does not start with a field name applies to the whole body (path `""`).
pub(crate) fn field_errors(message: &str) -> Vec<FieldError> {
    // Split on "; " outside the store's quoted (Rust-debug) values, and only where a field
    // name follows, so a "; " inside a message or a quoted value never splits it.
    let bytes = message.as_bytes();
    let mut parts: Vec<&str> = Vec::new();
    let (mut start, mut i, mut quoted) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b';' if !quoted
                && bytes.get(i + 1) == Some(&b' ')
                && field_prefix(&message[i + 2..]).is_some() =>
            {
                parts.push(&message[start..i]);
                start = i + 2;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&message[start..]);
    parts
        .into_iter()
        .map(|part| match field_prefix(part) {
            Some((field, rest)) => FieldError {
                path: pointer_from_field(field),
                message: rest.to_owned(),
            },
            None => FieldError {
                path: String::new(),
                message: part.to_owned(),
            },
        })
        .collect()
}

/// `("paths[2]", "msg")` if `part` starts with a field name (`name`, `a.b`, then `[2]` or
/// `["key"]` selectors, possibly followed by more `.name[..]` steps as in the document paths
/// of `apply`, `products[2].paths[0]`) followed by `": "`.
fn field_prefix(part: &str) -> Option<(&str, &str)> {
    let name_len = |s: &str| {
        s.find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == '.'))
            .unwrap_or(s.len())
    };
    let head = name_len(part);
    if head == 0 || !part.starts_with(|c: char| c.is_ascii_lowercase()) {
        return None;
    }
    let mut end = head;
    loop {
        end += selectors_len(&part[end..])?;
        match part[end..].strip_prefix('.') {
            Some(next) if next.starts_with(|c: char| c.is_ascii_lowercase()) => {
                end += 1 + name_len(next);
            }
            _ => break,
        }
    }
    let rest = part[end..].strip_prefix(": ")?;
    Some((&part[..end], rest))
}

/// Length of the `[2]` / `["key"]` selectors at the start of `s`; `None` if one is malformed.
fn selectors_len(s: &str) -> Option<usize> {
    let mut end = 0;
    while s[end..].starts_with('[') {
        let inner = &s[end + 1..];
        let close = if inner.starts_with('"') {
            closing_quote(inner)? + 1
        } else {
            let digits = inner.find(|c: char| !c.is_ascii_digit())?;
            if digits == 0 {
                return None;
            }
            digits
        };
        if inner.as_bytes().get(close) != Some(&b']') {
            return None;
        }
        end += 1 + close + 1;
    }
    Some(end)
}

/// Index of the quote closing the Rust-debug string that opens `s`.
fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// `attributes["a/b"]` → `/attributes/a~1b`, `quota.limit` → `/quota/limit`.
fn pointer_from_field(field: &str) -> String {
    let mut out = String::new();
    let mut tail = field;
    while !tail.is_empty() {
        if let Some(inner) = tail.strip_prefix('[') {
            let (seg, rest) = if inner.starts_with('"') {
                let close = closing_quote(inner).unwrap_or(inner.len() - 1);
                (unescape(&inner[1..close]), &inner[close + 1..])
            } else {
                let close = inner.find(']').unwrap_or(inner.len());
                (inner[..close].to_owned(), &inner[close..])
            };
            push_segment(&mut out, &seg);
            tail = rest.strip_prefix(']').unwrap_or(rest);
        } else {
            let name = tail.trim_start_matches('.');
            let len = name.find(['.', '[']).unwrap_or(name.len());
            push_segment(&mut out, &name[..len]);
            tail = &name[len..];
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Appends one JSON Pointer segment (RFC 6901 escaping).
pub(crate) fn push_segment(out: &mut String, seg: &str) {
    out.push('/');
    out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(msg: &str) -> Vec<(String, String)> {
        field_errors(msg)
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn store_messages_become_json_pointers() {
        let got = paths(
            "paths[2]: must start with '/'; methods[1]: \"get\" is not upper-case; \
             attributes[\"a/b; c: d\"]: too long; quota.limit: must be positive",
        );
        assert_eq!(
            got,
            [
                ("/paths/2".into(), "must start with '/'".into()),
                ("/methods/1".into(), "\"get\" is not upper-case".into()),
                ("/attributes/a~1b; c: d".into(), "too long".into()),
                ("/quota/limit".into(), "must be positive".into()),
            ]
        );
    }

    #[test]
    fn document_paths_become_json_pointers() {
        assert_eq!(
            paths(
                "products[2].paths[0]: must start with '/'; \
                 developers[0].apps[1].attributes[\"a.b\"]: too long; \
                 products[1].quota.limit: must be positive"
            ),
            [
                ("/products/2/paths/0".into(), "must start with '/'".into()),
                (
                    "/developers/0/apps/1/attributes/a.b".into(),
                    "too long".into()
                ),
                ("/products/1/quota/limit".into(), "must be positive".into()),
            ]
        );
    }

    #[test]
    fn messages_without_a_field_apply_to_the_body() {
        assert_eq!(
            paths("\"x\" is not an e-mail address"),
            [(String::new(), "\"x\" is not an e-mail address".into())]
        );
        // A "; " inside a message does not split it unless a field name follows.
        assert_eq!(
            paths("name: bad; really bad"),
            [("/name".into(), "bad; really bad".into())]
        );
    }
}
