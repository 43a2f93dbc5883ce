//! Where the token is read from: `Authorization: Bearer` (RFC 6750 §2.1, the default), another
//! header (raw value), or a query parameter (RFC 6750 §2.3; discouraged, tokens end up in logs).

use http::{HeaderName, header};
use portcullis_jose::VerifyError;
use portcullis_policy::Exchange;

/// A parsed `token_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenFrom {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The whole value of this header.
    Header(HeaderName),
    /// This query parameter.
    Query(String),
}

impl TokenFrom {
    pub(super) fn parse(spec: &str) -> Result<Self, String> {
        if spec == "bearer" {
            return Ok(Self::Bearer);
        }
        if let Some(name) = spec.strip_prefix("header:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("invalid header name '{name}'"));
        }
        if let Some(name) = spec.strip_prefix("query:") {
            if name.is_empty() || name.contains(['&', '=', '#', '?']) {
                return Err(format!("invalid query parameter name '{name}'"));
            }
            return Ok(Self::Query(name.to_owned()));
        }
        Err(format!(
            "'{spec}' is not one of bearer, header:<name>, query:<name>"
        ))
    }

    /// The presented token; `Ok(None)` when none was presented; an error when the request is
    /// ambiguous (several tokens).
    pub(super) fn extract(&self, ex: &Exchange) -> Result<Option<String>, VerifyError> {
        match self {
            Self::Bearer => {
                let mut values = ex.request.headers.get_all(header::AUTHORIZATION).iter();
                let (Some(value), None) = (values.next(), values.next()) else {
                    return match ex.request.headers.contains_key(header::AUTHORIZATION) {
                        true => Err(VerifyError::Malformed("several Authorization headers")),
                        false => Ok(None),
                    };
                };
                let Ok(value) = value.to_str() else {
                    return Err(VerifyError::Malformed("bad Authorization header"));
                };
                let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("bearer") {
                    // Another scheme (Basic, DPoP...) carries no bearer token.
                    return Ok(None);
                }
                let token = rest.trim();
                Ok((!token.is_empty()).then(|| token.to_owned()))
            }
            Self::Header(name) => {
                let mut values = ex.request.headers.get_all(name).iter();
                match (values.next(), values.next()) {
                    (None, _) => Ok(None),
                    (Some(v), None) => v
                        .to_str()
                        .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                        .map_err(|_| VerifyError::Malformed("bad token header")),
                    _ => Err(VerifyError::Malformed("several token headers")),
                }
            }
            Self::Query(name) => {
                let Some(query) = ex.request.uri.query() else {
                    return Ok(None);
                };
                let mut found = query.split('&').filter_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (k == name).then_some(v)
                });
                match (found.next(), found.next()) {
                    (None, _) => Ok(None),
                    // JWTs are base64url and dots: nothing to percent-decode.
                    (Some(v), None) => Ok(Some(v.to_owned()).filter(|s| !s.is_empty())),
                    _ => Err(VerifyError::Malformed("several token parameters")),
                }
            }
        }
    }

    /// Removes the token from the request so the upstream never sees it.
    pub(super) fn remove(&self, ex: &mut Exchange) {
        match self {
            Self::Bearer => {
                ex.request.headers.remove(header::AUTHORIZATION);
            }
            Self::Header(name) => {
                ex.request.headers.remove(name);
            }
            Self::Query(name) => {
                let Some(query) = ex.request.uri.query() else {
                    return;
                };
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|p| p.split_once('=').map_or(*p, |(k, _)| k) != name)
                    .collect();
                let path = ex.request.uri.path();
                let pq = if kept.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}?{}", kept.join("&"))
                };
                if let Ok(uri) = pq.parse() {
                    ex.request.uri = uri;
                }
            }
        }
    }
}
