//! Media-type matching for request and response bodies.
//!
//! The content type decides which schema applies, and a lax match is a classic bypass: a
//! body labelled `text/plain` (or `application/json;charset=utf-8` misread as a different type)
//! skips JSON validation. Matching therefore compares the type/subtype essence only
//! (parameters such as `charset` are ignored, case is folded) and picks the most specific
//! declared range: exact, then `type/*`, then `*/*`.

use std::sync::Arc;

use jsonschema::Validator;

use super::instance::BodyJson;

use super::params::Shape;

/// One declared media type of a body, compiled.
#[derive(Debug)]
pub(crate) struct Media {
    /// Declared type, lower case, `*` for a wildcard.
    pub(crate) ty: String,
    /// Declared subtype, lower case, `*` for a wildcard.
    pub(crate) sub: String,
    pub(crate) validator: Option<Arc<Validator<BodyJson>>>,
    /// Property types for `application/x-www-form-urlencoded` bodies.
    pub(crate) form_shape: Option<Shape>,
}

impl Media {
    pub(crate) fn new(
        range: &str,
        validator: Option<Arc<Validator<BodyJson>>>,
        form_shape: Option<Shape>,
    ) -> Self {
        let (ty, sub) = essence(range).unwrap_or_else(|| ("*".to_owned(), "*".to_owned()));
        Self {
            ty,
            sub,
            validator,
            form_shape,
        }
    }

    /// `type/subtype` as declared, for messages.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.ty, self.sub)
    }
}

/// How a body of a given (actual) media type is decoded before schema validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Form,
    Other,
}

/// Lower-cased `(type, subtype)` of a media type, parameters dropped.
pub(crate) fn essence(content_type: &str) -> Option<(String, String)> {
    let main = content_type.split(';').next()?.trim();
    let (ty, sub) = main.split_once('/')?;
    let (ty, sub) = (ty.trim(), sub.trim());
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if !token(ty) || !token(sub) {
        return None;
    }
    Some((ty.to_ascii_lowercase(), sub.to_ascii_lowercase()))
}

/// How to decode a body of the actual type `(ty, sub)`.
pub(crate) fn kind(ty: &str, sub: &str) -> BodyKind {
    if sub == "json" || sub.ends_with("+json") {
        BodyKind::Json
    } else if ty == "application" && sub == "x-www-form-urlencoded" {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

/// The most specific declared media type that admits `(ty, sub)`.
pub(crate) fn select<'m>(declared: &'m [Media], ty: &str, sub: &str) -> Option<&'m Media> {
    declared
        .iter()
        .filter_map(|m| {
            let rank = match (m.ty.as_str(), m.sub.as_str()) {
                (t, s) if t == ty && s == sub => 3,
                (t, "*") if t == ty => 2,
                ("*", "*") => 1,
                _ => return None,
            };
            Some((rank, m))
        })
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essence_ignores_parameters_and_case() {
        assert_eq!(
            essence("Application/JSON; charset=UTF-8"),
            Some(("application".into(), "json".into()))
        );
        assert_eq!(essence("garbage"), None);
        assert_eq!(essence("/json"), None);
    }

    #[test]
    fn most_specific_range_wins() {
        let declared = vec![
            Media::new("*/*", None, None),
            Media::new("application/*", None, None),
            Media::new("application/json", None, None),
        ];
        assert_eq!(
            select(&declared, "application", "json")
                .map(Media::name)
                .as_deref(),
            Some("application/json")
        );
        assert_eq!(
            select(&declared, "application", "xml")
                .map(Media::name)
                .as_deref(),
            Some("application/*")
        );
        assert_eq!(
            select(&declared, "text", "plain")
                .map(Media::name)
                .as_deref(),
            Some("*/*")
        );
        assert!(select(&declared[2..], "text", "plain").is_none());
        assert_eq!(kind("application", "problem+json"), BodyKind::Json);
    }
}
