//! Path normalisation before routing and policy decisions, so `/public/../admin`,
//! `//admin`, `/%61dmin` and `/admin/.` are all seen (and forwarded) as `/admin`: the path a
//! policy judged is exactly the path the upstream receives.
//!
//! Steps (RFC 3986 §6.2.2): decode percent-encoded unreserved characters; upper-case the hex of
//! the remaining escapes; collapse repeated slashes; remove dot segments (clamped at the root).
//! Refused outright: encoded NUL and control characters, malformed escapes, backslashes raw or
//! encoded (some backends treat `\` as `/`, which would reopen traversal behind our back), and
//! dot segments carrying parameters (`/..;/`, `/.;x/`): Tomcat, Jetty and Spring strip a
//! segment's `;` parameters before they remove dot segments, so `/public/..;/admin` is
//! `/admin` to them while it is neither a dot segment nor `/admin` to RFC 3986. Likewise dot
//! segments between encoded slashes (`/x%2F..%2Fadmin`): `%2F` stays encoded, so routing sees
//! one segment, while a back end that decodes it first (nginx without a URI on `proxy_pass`,
//! Tomcat with encoded slashes allowed) resolves `/x/../admin`, i.e. `/admin`.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// NUL, control characters or backslashes, raw or encoded.
    Forbidden,
    /// Not an origin-form path.
    NotAbsolute,
    /// A `.` or `..` segment with `;` parameters.
    DotSegmentParameters,
    /// A `.` or `..` segment delimited by an encoded slash (`%2F`).
    EncodedDotSegment,
}

impl PathError {
    /// Client-safe explanation.
    pub fn detail(&self) -> &'static str {
        match self {
            Self::BadEscape => "malformed percent-encoding in path",
            Self::Forbidden => "path contains a forbidden character",
            Self::NotAbsolute => "path must start with '/'",
            Self::DotSegmentParameters => "path contains a dot segment with parameters",
            Self::EncodedDotSegment => "path contains a dot segment between encoded slashes",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// True when the steps below would return `raw` unchanged: no escapes, no forbidden bytes, no
/// empty or dot segments (a trailing slash is kept). Most paths are, and skip the copies.
fn already_normal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes
        .iter()
        .any(|&b| b == b'%' || b < 0x20 || b == 0x7f || b == b'\\' || b >= 0x80)
    {
        return false;
    }
    let mut segments = raw[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if (seg.is_empty() && !last) || (seg.starts_with('.') && is_dot_segment(dot_part(seg))) {
            return false;
        }
    }
    true
}

/// A segment without its `;` parameters, as servlet containers see it.
fn dot_part(seg: &str) -> &str {
    seg.split_once(';').map_or(seg, |(name, _)| name)
}

fn is_dot_segment(seg: &str) -> bool {
    seg == "." || seg == ".."
}

/// The path as a servlet container routes it: each segment without its `;` parameters
/// (`/admin;x/secret` → `/admin/secret`).
pub fn without_segment_parameters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg.split_once(';').map_or(seg, |(name, _)| name));
    }
    out
}

/// Returns the normalised path, borrowing nothing. Fast path: already-normal paths are copied
/// once.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if already_normal(raw) {
        return Ok(raw.to_owned());
    }
    normalize_steps(raw)
}

/// The normalisation steps proper, for a path that starts with `/`.
fn normalize_steps(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    // 1. Decode unreserved escapes, canonicalise the others, refuse dangerous bytes.
    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            let v = h * 16 + l;
            if v < 0x20 || v == 0x7f || v == b'\\' {
                return Err(PathError::Forbidden);
            }
            if unreserved(v) {
                decoded.push(char::from(v));
            } else {
                decoded.push('%');
                decoded.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
                decoded.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
            }
            i += 3;
            continue;
        }
        if b < 0x20 || b == 0x7f || b == b'\\' {
            return Err(PathError::Forbidden);
        }
        // Raw non-ASCII cannot occur in a parsed http::Uri; keep the byte-to-char mapping exact.
        decoded.push(char::from(b));
        i += 1;
    }
    // 2. Remove dot segments and empty segments.
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s if is_dot_segment(dot_part(s)) => return Err(PathError::DotSegmentParameters),
            s if s.contains("%2F") && s.split("%2F").any(|p| is_dot_segment(dot_part(p))) => {
                return Err(PathError::EncodedDotSegment);
            }
            s => out.push(s),
        }
    }
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    let mut path = String::with_capacity(decoded.len());
    for seg in &out {
        path.push('/');
        path.push_str(seg);
    }
    if path.is_empty() || (trailing && !out.is_empty()) {
        path.push('/');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases = [
            ("/", "/"),
            ("/orders/v1/items", "/orders/v1/items"),
            ("/orders/v1/items/", "/orders/v1/items/"),
            ("//orders///v1", "/orders/v1"),
            ("/public/../admin", "/admin"),
            ("/a/./b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/%61dmin", "/admin"),
            ("/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%20b", "/a%20b"),
            ("/%7euser", "/~user"),
            ("/..", "/"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn fast_path_agrees_with_the_full_steps() {
        for raw in [
            "/", "/a", "/a/", "/a/b.c/", "/a/.b", "/a/..b/c", "//", "/a//", "/./", "/a/.",
        ] {
            if already_normal(raw) {
                assert_eq!(normalize_steps(raw).as_deref(), Ok(raw), "{raw}");
            }
        }
        assert!(already_normal("/orders/v1/items/"));
        assert!(!already_normal("/a//b"));
        assert!(!already_normal("/a/../b"));
        assert!(!already_normal("/%61"));
    }

    #[test]
    fn segment_parameters_are_cut_as_servlets_do() {
        for (path, plain) in [
            ("/admin;x/secret", "/admin/secret"),
            ("/a/b;jsessionid=1", "/a/b"),
            ("/a;v=1;w=2/b;/", "/a/b/"),
            ("/a/b", "/a/b"),
        ] {
            assert_eq!(without_segment_parameters(path), plain, "{path}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(normalize_path("/a%00b"), Err(PathError::Forbidden));
        assert_eq!(normalize_path("/a%5c..%5cadmin"), Err(PathError::Forbidden));
        assert_eq!(normalize_path("/a\\b"), Err(PathError::Forbidden));
        assert_eq!(normalize_path("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("/a%2"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("a"), Err(PathError::NotAbsolute));
        for raw in [
            "/public/..;/admin",
            "/a/.;x/b",
            "/a/..;jsessionid=1",
            "/a/%2e%2e;/b",
        ] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::DotSegmentParameters),
                "{raw}"
            );
        }
        for raw in [
            "/public%2F..%2Fadmin",
            "/public/x%2f..",
            "/a/%2E%2E%2Fadmin",
            "/a/b%2F.%2Fc",
            "/a/b%2F..;x%2Fc",
        ] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::EncodedDotSegment),
                "{raw}"
            );
        }
        // Encoded slashes between ordinary names stay as they are (GitLab's `group%2Fproject`).
        assert_eq!(
            normalize_path("/projects/group%2fsub%2F..b").as_deref(),
            Ok("/projects/group%2Fsub%2F..b")
        );
        // Parameters on other segments, and dots that are not whole segments, are data.
        assert_eq!(
            normalize_path("/a;v=1/..b;x").as_deref(),
            Ok("/a;v=1/..b;x")
        );
    }
}
