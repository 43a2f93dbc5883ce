//! HTTP conventions shared by every resource: ETag / If-Match on `version`, RFC 3339
//! timestamps, `?limit=&after=` pagination, and query extraction that fails as problem+json.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_store::{Page, PageRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;

use crate::error::ApiError;

/// Largest page.
pub(crate) const MAX_LIMIT: u32 = 500;
/// Page size when `limit` is absent.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

/// The strong ETag of an entity version: `"7"`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// No header: the write is unconditional.
    Absent,
    /// `*`: any current version.
    Any,
    /// One of our ETags.
    Version(i64),
    /// Something that can never match the current version (a weak or foreign tag, a list).
    Never,
}

impl IfMatch {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let values: Vec<&str> = headers
            .get_all(header::IF_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        match values.as_slice() {
            [] if headers.contains_key(header::IF_MATCH) => IfMatch::Never,
            [] => IfMatch::Absent,
            ["*"] => IfMatch::Any,
            [one] => one
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .and_then(|v| v.parse().ok())
                .map_or(IfMatch::Never, IfMatch::Version),
            _ => IfMatch::Never,
        }
    }

    /// The version to hand the store: the client's, or `fallback` (the version this handler
    /// just read, so a read-modify-write cannot overwrite a concurrent change).
    pub(crate) fn expected(self, fallback: Option<i64>) -> Expected {
        match self {
            IfMatch::Version(v) => Expected::client(v),
            // 0 never exists (versions start at 1), so the store answers Stale.
            IfMatch::Never => Expected::client(0),
            IfMatch::Absent | IfMatch::Any => Expected {
                version: fallback,
                from_client: false,
            },
        }
    }
}

/// An expected version and where it came from, which decides how `Stale` is reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected {
    pub(crate) version: Option<i64>,
    from_client: bool,
}

impl Expected {
    fn client(v: i64) -> Self {
        Expected {
            version: Some(v),
            from_client: true,
        }
    }

    /// `Stale` is a 412 when the client set If-Match; otherwise another writer slipped in
    /// between this handler's read and write, a 409 the client may simply retry.
    pub(crate) fn map_err(self, err: portcullis_store::StoreError) -> ApiError {
        match err {
            portcullis_store::StoreError::Stale { .. } if !self.from_client => {
                ApiError::conflict("changed concurrently; retry")
            }
            other => other.into(),
        }
    }
}

/// RFC 3339 in UTC, e.g. `2026-11-23T19:07:00.123Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Optional timestamp.
pub(crate) fn rfc3339_opt(t: Option<SystemTime>) -> Option<String> {
    t.map(rfc3339)
}

/// Parses an RFC 3339 timestamp (any offset).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// `200 OK` (or `status`) with the entity as JSON and its ETag.
pub(crate) fn entity<T: Serialize>(status: StatusCode, version: i64, body: &T) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// `?limit=&after=`.
#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Maximum number of items (1–500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub(crate) limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub(crate) after: Option<String>,
}

impl PageQuery {
    pub(crate) fn request(&self) -> Result<PageRequest, ApiError> {
        if let Some(limit) = self.limit
            && !(1..=MAX_LIMIT).contains(&limit)
        {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(PageRequest {
            after: self.after.clone(),
            limit: self.limit,
        })
    }

    /// Pages a complete, ordered list (small collections the store returns whole); the cursor
    /// is the number of items already seen.
    pub(crate) fn slice<T>(&self, items: Vec<T>) -> Result<Page<T>, ApiError> {
        let req = self.request()?;
        let skip: usize = match &req.after {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| ApiError::bad_request("after: not a cursor returned by this list"))?,
        };
        let limit = req.limit.unwrap_or(DEFAULT_LIMIT) as usize;
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(skip).take(limit).collect();
        let seen = skip.saturating_add(page.len());
        Ok(Page {
            items: page,
            next: (seen < total).then(|| seen.to_string()),
        })
    }
}

/// A store list error: a bad cursor is the client's malformed query, not a body field.
pub(crate) fn list_error(err: portcullis_store::StoreError) -> ApiError {
    match err {
        portcullis_store::StoreError::Invalid(msg) => ApiError::bad_request(msg),
        other => other.into(),
    }
}

/// Query-string extraction whose failures are problem+json (axum's `Query` answers text).
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request(format!("query string: {}", e.body_text())))
    }
}

/// Path-parameter extraction whose failures (e.g. invalid percent-encoding) are problem+json.
pub(crate) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}
