//! What an API product opens: environments, APIs, resource paths and methods, with Apigee's
//! meaning, and the check `verify-api-key` runs against every product a credential is approved
//! for.
//!
//! # Resource paths ([`ResourcePattern`])
//!
//! A product lists resource paths (Apigee's `apiResources`). They are matched against the
//! **path suffix**: the normalised request path after the API's base path (Apigee's
//! `proxy.pathsuffix`). With base path `/weather`, the request `/weather/forecastrss` has the
//! suffix `/forecastrss` and the request `/weather` has the empty suffix.
//!
//! | pattern | matches | does not match |
//! |---|---|---|
//! | `/` | everything: the base path itself (empty suffix) and every suffix below it | — |
//! | `/**` | every suffix below the base path, any depth (`/a`, `/a/b/c`) | the base path itself |
//! | `/*` | exactly one level below (`/a`) | the base path itself, `/a/b` |
//! | `/forecastrss` | `/forecastrss` only | `/forecastrss/x`, `/forecast` |
//! | `/users/*/orders` | `/users/7/orders` | `/users/orders`, `/users/7/8/orders` |
//! | `/users/**` | `/users/7`, `/users/7/orders` | `/users` |
//! | `/users/**/orders` | `/users/7/orders`, `/users/7/a/orders` | `/users/orders` |
//!
//! `*` stands for exactly one non-empty segment, `**` for one or more segments; both must be a
//! whole segment (`/users/*.json` and `/v1**` are rejected). Everything else is literal.
//! Apigee's org property `features.isSingleForwardSlashBlockingEnabled` (which makes `/` mean
//! only the base path) is not supported; write a narrower pattern instead.
//!
//! Edge cases, decided here once:
//! - **Trailing slash.** A suffix and the same suffix with one trailing slash are judged the
//!   same (`/users/7/` ≡ `/users/7`; `/` ≡ the empty suffix, i.e. `/weather/` is the base path
//!   itself). The equivalence is symmetric, so a trailing slash can never reach anything whose
//!   slash-less form is refused. A pattern's own trailing slash is dropped the same way
//!   (`/users/` is stored as `/users`).
//! - **Empty suffix** (the request is the base path itself): matched only by `/`.
//! - **Case.** Literal segments are compared byte for byte: `/Users` does not match `/users`.
//! - **Percent-encoding.** The suffix comes from the gateway's normalised path: escapes of
//!   unreserved characters are decoded, all other escapes have upper-case hex, dot segments and
//!   repeated slashes are gone. Patterns are canonicalised the same way when parsed (`/%7Euser`
//!   is stored as `/~user`, `/a%2fb` as `/a%2Fb`, non-ASCII characters are UTF-8
//!   percent-encoded), so a pattern matches exactly the requests whose normalised path spells
//!   it. An encoded slash `%2F` is part of a segment, never a separator.
//! - **Un-normalised suffixes** (an empty interior segment such as `/a//b`, or a suffix not
//!   starting with `/`) never come from the gateway; defensively, only `/` matches them.
//! - The query string is never part of the suffix.
//!
//! Parsing rejects, with a message naming the problem: an empty pattern or one not starting
//! with `/`; empty segments (`//`); dot segments (`.`, `..`: a normalised path never has them);
//! `*` inside a segment; `{name}` templates; `?`, `#`, `\`, whitespace and control characters;
//! malformed `%` escapes and escapes of control characters or `\`.
//!
//! # Product scope ([`ProductScope`])
//!
//! A product opens a request when **all four** dimensions allow it. Following Apigee Edge, an
//! empty list means "no restriction" in every dimension:
//!
//! | dimension | empty list means | otherwise |
//! |---|---|---|
//! | `environments` | every environment | the listener's environment is in the list (exact, case-sensitive) |
//! | `apis` | every API (Edge: a product with no proxies covers all proxies) | the API name is in the list (exact) |
//! | `paths` | every path (Edge: no resources = all resources) | at least one pattern matches the suffix |
//! | `methods` | every method | the method is in the list (exact: `GET` does not imply `HEAD`) |
//!
//! [`ProductScope::check`] tests the dimensions in that order (environment, API, path, method)
//! and reports the first that fails as a [`ScopeMiss`], so the gateway can answer with distinct
//! error codes. `ScopeMiss` is ordered by how far the check got: when a credential has several
//! products and none matches, the largest miss is the most specific explanation.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use http::Method;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A product resource path (Apigee `apiResources` entry), parsed and canonicalised. See the
/// module documentation for its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePattern {
    /// Canonical text (what `Display` and serde produce).
    source: String,
    /// `None` for `/` (everything, including the base path itself).
    tokens: Option<Vec<Token>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Token {
    /// One segment equal to this text.
    Literal(String),
    /// `*`: one non-empty segment.
    One,
    /// Zero or more segments. `**` compiles to `One, AnyTail`, i.e. one or more.
    AnyTail,
}

/// Why a resource pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource path '{pattern}': {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ResourcePattern {
    /// Parses a resource path, rejecting anything that could never match or whose meaning
    /// would be unclear.
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let fail = |reason: String| PatternError {
            pattern: raw.to_owned(),
            reason,
        };
        if raw.is_empty() {
            return Err(fail("must not be empty (use '/' for every path)".into()));
        }
        if !raw.starts_with('/') {
            return Err(fail(
                "must start with '/' (it is matched against the path after the API's base path)"
                    .into(),
            ));
        }
        if raw == "/" {
            return Ok(Self {
                source: "/".into(),
                tokens: None,
            });
        }
        let body = raw.strip_suffix('/').unwrap_or(raw);
        let mut source = String::with_capacity(raw.len());
        let mut tokens = Vec::new();
        for segment in body[1..].split('/') {
            let canonical = canonical_segment(segment).map_err(fail)?;
            source.push('/');
            source.push_str(&canonical);
            match canonical.as_str() {
                "**" => tokens.extend([Token::One, Token::AnyTail]),
                "*" => tokens.push(Token::One),
                _ => tokens.push(Token::Literal(canonical)),
            }
        }
        Ok(Self {
            source,
            tokens: Some(tokens),
        })
    }

    /// The canonical text of the pattern.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether this pattern allows a path suffix (the normalised request path after the API's
    /// base path; empty for the base path itself).
    pub fn matches(&self, suffix: &str) -> bool {
        let Some(tokens) = &self.tokens else {
            return true;
        };
        let Some(segments) = suffix_segments(suffix) else {
            return false;
        };
        glob(tokens, &segments)
    }
}

/// Splits a suffix into its segments after dropping one trailing slash; `None` if it is not a
/// normalised suffix (does not start with `/`, or has an empty segment).
fn suffix_segments(suffix: &str) -> Option<Vec<&str>> {
    let body = suffix.strip_suffix('/').unwrap_or(suffix);
    if body.is_empty() {
        return Some(Vec::new());
    }
    let segments: Vec<&str> = body.strip_prefix('/')?.split('/').collect();
    (!segments.contains(&"")).then_some(segments)
}

/// Wildcard matching over segments with a single backtracking point (the classic glob
/// algorithm): O(tokens × segments) in the worst case, no recursion.
fn glob(tokens: &[Token], segments: &[&str]) -> bool {
    let (mut t, mut s) = (0, 0);
    // Position of the last `AnyTail` seen and the segment it is currently assumed to end at.
    let mut resume: Option<(usize, usize)> = None;
    while s < segments.len() {
        match tokens.get(t) {
            Some(Token::Literal(lit)) if lit == segments[s] => {
                t += 1;
                s += 1;
            }
            Some(Token::One) => {
                t += 1;
                s += 1;
            }
            Some(Token::AnyTail) => {
                resume = Some((t, s));
                t += 1;
            }
            _ => match resume {
                // Let the last `AnyTail` swallow one more segment and retry after it.
                Some((at, from)) => {
                    resume = Some((at, from + 1));
                    t = at + 1;
                    s = from + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::AnyTail)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Canonicalises one pattern segment the way the gateway normalises request paths, and rejects
/// what could never match.
fn canonical_segment(segment: &str) -> Result<String, String> {
    match segment {
        "" => return Err("empty segment ('//')".into()),
        "." | ".." => {
            return Err(format!(
                "dot segment '{segment}' (request paths are normalised, so it can never match)"
            ));
        }
        "*" | "**" => return Ok(segment.to_owned()),
        _ => {}
    }
    if segment.contains('*') {
        return Err(format!(
            "'*' and '**' must be a whole segment (e.g. '/users/*/orders'), found '{segment}'"
        ));
    }
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(format!(
                        "malformed percent-escape in '{segment}' ('%' must be followed by two hex digits)"
                    ));
                };
                let v = h * 16 + l;
                if v < 0x20 || v == 0x7f || v == b'\\' {
                    return Err(format!(
                        "'{segment}' encodes a control character or '\\', which the gateway refuses in paths"
                    ));
                }
                if unreserved(v) {
                    out.push(char::from(v));
                } else {
                    push_escape(&mut out, v);
                }
                i += 3;
                continue;
            }
            b'?' | b'#' => {
                return Err(format!(
                    "'{}' in '{segment}' (the query and fragment are not part of the path)",
                    char::from(b)
                ));
            }
            b'{' | b'}' => {
                return Err(format!(
                    "path templates like '{{id}}' are not supported in '{segment}'; use '*' for one segment"
                ));
            }
            b'\\' => return Err(format!("'\\' in '{segment}'")),
            _ if b.is_ascii_whitespace() || b.is_ascii_control() => {
                return Err(format!(
                    "whitespace or control character in '{segment}' (percent-encode it)"
                ));
            }
            // Non-ASCII: clients send it percent-encoded as UTF-8, so store it that way.
            0x80.. => push_escape(&mut out, b),
            _ => out.push(char::from(b)),
        }
        i += 1;
    }
    if out == "." || out == ".." {
        return Err(format!(
            "'{segment}' decodes to a dot segment (request paths are normalised, so it can never match)"
        ));
    }
    Ok(out)
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for ResourcePattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, PatternError> {
        Self::parse(s)
    }
}

impl Serialize for ResourcePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for ResourcePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ResourcePattern {
    fn schema_name() -> Cow<'static, str> {
        "ResourcePattern".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Resource path relative to the API's base path: '/' (everything), \
                '/**' (any depth below), '/*' (one level below), literal segments, '*' and '**' \
                as whole segments.",
            "type": "string",
            "pattern": "^/",
            "examples": ["/", "/**", "/*", "/forecastrss", "/users/*/orders"]
        })
    }
}

/// Which dimension of a product refused a request. Ordered by how far the check got
/// (`Environment` < `Api` < `Path` < `Method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum ScopeMiss {
    /// The product is not available in the listener's environment.
    #[error("the API product is not available in this environment")]
    Environment,
    /// The product does not include the API.
    #[error("the API product does not include this API")]
    Api,
    /// No resource path of the product matches the path suffix.
    #[error("the API product does not allow this resource path")]
    Path,
    /// The method is not among the product's methods.
    #[error("the API product does not allow this method")]
    Method,
}

impl ScopeMiss {
    /// The dimension's name: `environment`, `api`, `path` or `method`.
    pub fn dimension(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::Api => "api",
            Self::Path => "path",
            Self::Method => "method",
        }
    }
}

/// What one API product opens. Empty lists mean "no restriction" (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductScope {
    /// API names (empty: every API).
    pub apis: Vec<String>,
    /// Resource paths matched against the path suffix (empty: every path).
    pub paths: Vec<ResourcePattern>,
    /// Allowed methods (empty: every method).
    pub methods: Vec<Method>,
    /// Environment names (empty: every environment).
    pub environments: Vec<String>,
}

impl ProductScope {
    /// Whether this product opens `method path_suffix` on `api` in `env`; if not, the first
    /// dimension (in the order environment, API, path, method) that refused it.
    pub fn check(
        &self,
        env: &str,
        api: &str,
        path_suffix: &str,
        method: &Method,
    ) -> Result<(), ScopeMiss> {
        if !self.environments.is_empty() && !self.environments.iter().any(|e| e == env) {
            return Err(ScopeMiss::Environment);
        }
        if !self.apis.is_empty() && !self.apis.iter().any(|a| a == api) {
            return Err(ScopeMiss::Api);
        }
        if !self.paths.is_empty() && !self.paths.iter().any(|p| p.matches(path_suffix)) {
            return Err(ScopeMiss::Path);
        }
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return Err(ScopeMiss::Method);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
