//! Form parameters of the token, introspection and revocation endpoints, parsed so that a
//! repeated parameter is an error (RFC 6749 §3.1/§3.2: parameters must not repeat; silently
//! taking the first or last would let a proxy and this server disagree on the request).

use std::collections::HashMap;

use http::{HeaderMap, header};

use crate::error::OAuthError;

/// Largest accepted form body.
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;

/// Parsed `application/x-www-form-urlencoded` parameters.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Parses a form body; requires the form content type.
    pub(crate) fn from_form(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    /// Parses a query string or form body.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, OAuthError> {
        if bytes.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request("the request is too large"));
        }
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
            if v.is_empty() {
                continue;
            }
            if map.insert(k.into_owned(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request("a parameter is repeated"));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter.
    pub(crate) fn require(&self, name: &str, missing: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or(OAuthError::invalid_request(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
    }

    #[test]
    fn only_form_bodies_are_accepted() {
        let mut h = HeaderMap::new();
        assert!(Params::from_form(&h, b"a=1").is_err());
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        assert!(Params::from_form(&h, b"a=1").is_ok());
    }
}
