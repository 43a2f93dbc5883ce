//! Where in a request a value was found. Findings name the location (never the value in full)
//! so logs say *which* input carried an attack, and exclusions are written against the same
//! display form.

use std::fmt;

/// The place a value came from. `Display` gives the form used in findings and exclusions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// The request path (`path`).
    Path,
    /// A query parameter value (`query.<name>`).
    QueryParam(String),
    /// A query parameter name (`query-name.<name>`).
    QueryParamName(String),
    /// A header value (`header.<lower-case name>`).
    Header(String),
    /// A cookie value (`cookie.<name>`).
    Cookie(String),
    /// A cookie name (`cookie-name.<name>`).
    CookieName(String),
    /// A urlencoded form field value (`form.<name>`).
    FormField(String),
    /// A urlencoded form field name (`form-name.<name>`).
    FormFieldName(String),
    /// A JSON string value (`json <path>`, e.g. `json $.a.b`).
    JsonValue(String),
    /// A JSON object key (`json-key <path>`).
    JsonKey(String),
    /// An XML text or attribute value (`xml <xpath>`).
    XmlValue(String),
    /// A body that is inspected as one value (`body`).
    Body,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Path => f.write_str("path"),
            Location::QueryParam(n) => write!(f, "query.{n}"),
            Location::QueryParamName(n) => write!(f, "query-name.{n}"),
            Location::Header(n) => write!(f, "header.{}", n.to_ascii_lowercase()),
            Location::Cookie(n) => write!(f, "cookie.{n}"),
            Location::CookieName(n) => write!(f, "cookie-name.{n}"),
            Location::FormField(n) => write!(f, "form.{n}"),
            Location::FormFieldName(n) => write!(f, "form-name.{n}"),
            Location::JsonValue(p) => write!(f, "json {p}"),
            Location::JsonKey(p) => write!(f, "json-key {p}"),
            Location::XmlValue(p) => write!(f, "xml {p}"),
            Location::Body => f.write_str("body"),
        }
    }
}

/// ASCII case-insensitive glob match where `*` matches any (possibly empty) run of characters.
///
/// Iterative with a single backtrack point, so it is linear-ish and cannot blow up on
/// adversarial location names (they come from the request).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(Location::QueryParam("q".into()).to_string(), "query.q");
        assert_eq!(
            Location::Header("User-Agent".into()).to_string(),
            "header.user-agent"
        );
        assert_eq!(
            Location::JsonValue("$.a.b".into()).to_string(),
            "json $.a.b"
        );
        assert_eq!(Location::Body.to_string(), "body");
    }

    #[test]
    fn globs() {
        assert!(glob_match("json $.comment", "JSON $.comment"));
        assert!(glob_match("json $.items[*].html", "json $.items[3].html"));
        assert!(glob_match("query.*", "query.q"));
        assert!(!glob_match("query.*", "form.q"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("json $.a", "json $.ab"));
        assert!(glob_match("*a*b*c", "xxaxxbxxc"));
    }
}
