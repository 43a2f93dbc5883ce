//! Input checks shared by the catalog writes. Each check names the field it rejects
//! (`paths[2]: ...`, `attributes["tier"]: ...`), and [`Problems`] collects every problem of
//! one request so a client can fix them all at once (the admin API answers 422 with them).
//!
//! Besides syntax these checks keep out what the databases would treat differently: NUL
//! characters (PostgreSQL TEXT refuses them, SQLite stores them), so both backends accept
//! exactly the same inputs.

use std::fmt::Display;

use portcullis_core::ResourcePattern;

use crate::StoreError;
use crate::management::Attributes;

/// Longest free-text field (descriptions, attribute values), in characters.
pub(crate) const MAX_TEXT: usize = 4096;
/// Most entries in any list or attribute map.
pub(crate) const MAX_ITEMS: usize = 100;
/// Longest name-like field (display names, attribute names, scopes), in characters.
const MAX_LABEL: usize = 255;
/// Longest callback URL.
const MAX_URL: usize = 2048;
/// URL schemes that turn a redirect into script execution or local file access.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob"];

/// The problems found in one input, each prefixed by its field path.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    found: Vec<String>,
    /// Put before every field name (`products[2].`), so the checks of one entity can report
    /// at the entity's place inside a larger document (`apply`).
    prefix: String,
}

impl Problems {
    pub(crate) fn push(&mut self, field: impl Display, problem: impl Display) {
        self.found
            .push(format!("{}{field}: {problem}", self.prefix));
    }

    /// Names the following problems' fields relative to `prefix` (e.g. `products[2].`).
    pub(crate) fn set_prefix(&mut self, prefix: impl Into<String>) {
        self.prefix = prefix.into();
    }

    /// `Invalid` listing every problem (joined by `; `), or `Ok` when there were none.
    pub(crate) fn finish(self) -> Result<(), StoreError> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid(self.found.join("; ")))
        }
    }
}

/// Environment names: `[a-z0-9][a-z0-9-]{0,62}` (the gateway config's rule).
pub(crate) fn environment_name(p: &mut Problems, field: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if !ok {
        p.push(
            field,
            format_args!(
                "{name:?} is not an environment name (lower-case letters, digits and '-', \
                 starting with a letter or digit, at most 63 characters)"
            ),
        );
    }
}

/// Product names: `[A-Za-z0-9._-]{1,100}`.
pub(crate) fn product_name(p: &mut Problems, field: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        p.push(
            field,
            format_args!(
                "{name:?} is not a product name (letters, digits, '.', '_' and '-', 1 to 100 characters)"
            ),
        );
    }
}

/// API names as in the gateway config: letters, digits, `-`, `_`.
fn api_name(p: &mut Problems, field: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !ok {
        p.push(
            field,
            format_args!("{name:?} is not an API name (letters, digits, '-' and '_')"),
        );
    }
}

/// A required single-line name: trimmed, 1 to `max` characters, no control characters.
pub(crate) fn label(p: &mut Problems, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        p.push(
            field,
            format_args!("must be 1 to {max} characters without control characters"),
        );
    }
    value.to_owned()
}

/// Free text (descriptions): at most [`MAX_TEXT`] characters, no NUL.
pub(crate) fn free_text(p: &mut Problems, field: &str, value: &str) {
    if value.chars().count() > MAX_TEXT {
        p.push(field, format_args!("must be at most {MAX_TEXT} characters"));
    }
    if value.contains('\0') {
        p.push(field, "must not contain NUL characters");
    }
}

/// Custom attributes: at most [`MAX_ITEMS`], names 1..=255 printable characters, values at
/// most [`MAX_TEXT`] characters without NUL.
pub(crate) fn attributes(p: &mut Problems, field: &str, attributes: &Attributes) {
    if attributes.len() > MAX_ITEMS {
        p.push(field, format_args!("at most {MAX_ITEMS} attributes"));
    }
    for (name, value) in attributes {
        let at = format!("{field}[{name:?}]");
        if name.trim().is_empty()
            || name.chars().count() > MAX_LABEL
            || name.chars().any(char::is_control)
        {
            p.push(
                &at,
                format_args!("attribute names are 1 to {MAX_LABEL} printable characters"),
            );
        }
        if value.chars().count() > MAX_TEXT || value.contains('\0') {
            p.push(
                &at,
                format_args!("values are at most {MAX_TEXT} characters, without NUL"),
            );
        }
    }
}

/// Reports entries equal to an earlier one (`paths[3]: duplicate of paths[1]`).
fn duplicates(p: &mut Problems, field: &str, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        if let Some(first) = items[..i].iter().position(|x| x == item) {
            p.push(
                format_args!("{field}[{i}]"),
                format_args!("duplicate of {field}[{first}] ({item:?})"),
            );
        }
    }
}

fn too_many(p: &mut Problems, field: &str, len: usize) {
    if len > MAX_ITEMS {
        p.push(field, format_args!("at most {MAX_ITEMS} entries"));
    }
}

/// OAuth redirect URIs: absolute, no fragment, no script/file schemes, no whitespace.
/// Stored exactly as given: redirect URIs are compared by exact string match (RFC 9700).
pub(crate) fn callback_urls(p: &mut Problems, field: &str, urls: &[String]) {
    too_many(p, field, urls.len());
    for (i, raw) in urls.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if raw.len() > MAX_URL || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            p.push(
                &at,
                format_args!("must be at most {MAX_URL} characters without whitespace"),
            );
            continue;
        }
        match url::Url::parse(raw) {
            Err(e) => p.push(&at, format_args!("not an absolute URL ({e})")),
            Ok(u) if u.fragment().is_some() => p.push(&at, "must not have a fragment ('#')"),
            Ok(u) if FORBIDDEN_SCHEMES.contains(&u.scheme()) => {
                p.push(
                    &at,
                    format_args!("the {:?} scheme is not allowed", u.scheme()),
                );
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_none() => {
                p.push(&at, "must name a host");
            }
            Ok(_) => {}
        }
    }
    duplicates(p, field, urls);
}

/// API names a product opens.
pub(crate) fn apis(p: &mut Problems, field: &str, apis: &[String]) {
    too_many(p, field, apis.len());
    for (i, api) in apis.iter().enumerate() {
        api_name(p, &format!("{field}[{i}]"), api);
    }
    duplicates(p, field, apis);
}

/// Resource paths, parsed with the gateway's matcher; returns their canonical spelling
/// (what is stored, so `/users/` and `/users` cannot both be listed).
pub(crate) fn paths(p: &mut Problems, field: &str, paths: &[String]) -> Vec<String> {
    too_many(p, field, paths.len());
    let canonical: Vec<String> = paths
        .iter()
        .enumerate()
        .map(|(i, raw)| match ResourcePattern::parse(raw) {
            Ok(pattern) => pattern.as_str().to_owned(),
            Err(e) => {
                p.push(format_args!("{field}[{i}]"), e);
                raw.clone()
            }
        })
        .collect();
    duplicates(p, field, &canonical);
    canonical
}

/// HTTP methods, upper case (`GET` does not imply `HEAD`).
pub(crate) fn methods(p: &mut Problems, field: &str, methods: &[String]) {
    too_many(p, field, methods.len());
    for (i, m) in methods.iter().enumerate() {
        let ok = !m.is_empty()
            && m.len() <= 32
            && m.bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
            && http::Method::from_bytes(m.as_bytes()).is_ok();
        if !ok {
            p.push(
                format_args!("{field}[{i}]"),
                format_args!("{m:?} is not an upper-case HTTP method such as GET"),
            );
        }
    }
    duplicates(p, field, methods);
}

/// Environment names (syntax and duplicates; existence is checked in the transaction).
pub(crate) fn environments(p: &mut Problems, field: &str, envs: &[String]) {
    too_many(p, field, envs.len());
    for (i, env) in envs.iter().enumerate() {
        environment_name(p, &format!("{field}[{i}]"), env);
    }
    duplicates(p, field, envs);
}

/// OAuth scope tokens (RFC 6749 §3.3: printable ASCII except space, `"` and `\`).
pub(crate) fn scopes(p: &mut Problems, field: &str, scopes: &[String]) {
    too_many(p, field, scopes.len());
    for (i, s) in scopes.iter().enumerate() {
        let ok = !s.is_empty()
            && s.len() <= MAX_LABEL
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            p.push(
                format_args!("{field}[{i}]"),
                format_args!(
                    "{s:?} is not an OAuth scope (printable ASCII without space, '\"' or '\\')"
                ),
            );
        }
    }
    duplicates(p, field, scopes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(f: impl FnOnce(&mut Problems)) -> String {
        let mut p = Problems::default();
        f(&mut p);
        match p.finish() {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_field_path() {
        let msg = problems(|p| {
            paths(p, "paths", &strings(&["/", "/a", "a", "/b//c", "/a/"]));
            methods(p, "methods", &strings(&["GET", "get"]));
        });
        assert!(msg.starts_with("invalid input: "), "{msg}");
        for part in [
            "paths[2]: ",
            "paths[3]: ",
            "paths[4]: duplicate of paths[1]",
            "methods[1]: ",
        ] {
            assert!(msg.contains(part), "{part} in {msg}");
        }
        assert!(
            !msg.contains("paths[0]") && !msg.contains("methods[0]"),
            "{msg}"
        );
    }

    #[test]
    fn paths_are_stored_canonically() {
        let mut p = Problems::default();
        let out = paths(&mut p, "paths", &strings(&["/users/", "/%7Eme", "/**"]));
        p.finish().unwrap();
        assert_eq!(out, ["/users", "/~me", "/**"]);
    }

    #[test]
    fn names_urls_scopes_and_attributes() {
        assert_eq!(problems(|p| environment_name(p, "name", "prod-eu1")), "");
        for bad in ["", "Prod", "-x", "a_b", &"x".repeat(64)] {
            assert!(
                problems(|p| environment_name(p, "name", bad)).contains("name: "),
                "{bad}"
            );
        }
        assert_eq!(problems(|p| product_name(p, "name", "gold.v1_x-2")), "");
        assert!(problems(|p| product_name(p, "name", "gold plan")).contains("name: "));
        let ok = strings(&[
            "https://app.example/cb",
            "com.example.app:/oauth",
            "http://127.0.0.1:8080/cb",
        ]);
        assert_eq!(problems(|p| callback_urls(p, "callback_urls", &ok)), "");
        let bad = strings(&[
            "/relative",
            "https://x/cb#frag",
            "javascript:alert(1)",
            "https://x/a b",
            "https://",
        ]);
        let msg = problems(|p| callback_urls(p, "callback_urls", &bad));
        for i in 0..bad.len() {
            assert!(msg.contains(&format!("callback_urls[{i}]: ")), "{i}: {msg}");
        }
        assert_eq!(
            problems(|p| scopes(p, "scopes", &strings(&["read:orders", "a.b/c"]))),
            ""
        );
        assert!(problems(|p| scopes(p, "scopes", &strings(&["a b"]))).contains("scopes[0]"));
        let mut attrs = Attributes::new();
        attrs.insert("ok".into(), "v".into());
        attrs.insert(" ".into(), "v".into());
        attrs.insert("nul".into(), "a\0b".into());
        let msg = problems(|p| attributes(p, "attributes", &attrs));
        assert!(
            msg.contains("attributes[\" \"]") && msg.contains("attributes[\"nul\"]"),
            "{msg}"
        );
        assert!(!msg.contains("attributes[\"ok\"]"), "{msg}");
        assert!(problems(|p| free_text(p, "description", "a\0")).contains("description: "));
    }
}
