//! Which origins are allowed: `*`, exact origins, and subdomain patterns (`https://*.example.com`).
//!
//! Matching is strict on purpose: a pattern's suffix must start at a label boundary (so
//! `https://*.example.com` never matches `https://evil-example.com`), the scheme and port must be
//! equal, and only host characters may stand in for the `*` (no `@`, `/` or `:` smuggled in).

/// The compiled origin list.
#[derive(Debug, Default)]
pub(super) struct Origins {
    /// `*` was listed.
    pub(super) any: bool,
    /// Exact origins, lowercase.
    exact: Vec<String>,
    /// Subdomain patterns.
    patterns: Vec<Pattern>,
}

/// `scheme://*.domain[:port]`, kept as the prefix `scheme://` and the suffix `.domain[:port]`.
#[derive(Debug)]
struct Pattern {
    prefix: String,
    suffix: String,
}

// === impl Origins ===

impl Origins {
    /// Adds one configured entry, or says what is wrong with it.
    pub(super) fn add(&mut self, entry: &str) -> Result<(), String> {
        let lower = entry.trim().to_ascii_lowercase();
        if lower == "*" {
            self.any = true;
            return Ok(());
        }
        if lower == "null" {
            return Err(
                "'null' must not be allowed: sandboxed documents and file: URLs all send it"
                    .to_owned(),
            );
        }
        let invalid = || {
            format!(
                "invalid origin '{entry}': expected scheme://host[:port] with no path, '*', or a \
                 pattern like https://*.example.com"
            )
        };
        let (scheme, authority) = lower.split_once("://").ok_or_else(invalid)?;
        if !valid_scheme(scheme) {
            return Err(invalid());
        }
        match authority.strip_prefix("*.") {
            Some(domain) if valid_authority(domain) => self.patterns.push(Pattern {
                prefix: format!("{scheme}://"),
                suffix: format!(".{domain}"),
            }),
            None if valid_authority(authority) => self.exact.push(lower.clone()),
            _ => return Err(invalid()),
        }
        Ok(())
    }

    /// Whether a request's `Origin` is allowed.
    pub(super) fn allows(&self, origin: &[u8]) -> bool {
        if self.any {
            return true;
        }
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        self.exact.iter().any(|o| o.eq_ignore_ascii_case(origin))
            || self.patterns.iter().any(|p| p.matches(origin))
    }
}

// === impl Pattern ===

impl Pattern {
    fn matches(&self, origin: &str) -> bool {
        let (Some(head), Some(tail)) = (
            origin.get(..self.prefix.len()),
            origin
                .len()
                .checked_sub(self.suffix.len())
                .and_then(|i| origin.get(i..)),
        ) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(&self.prefix) || !tail.eq_ignore_ascii_case(&self.suffix) {
            return false;
        }
        let Some(sub) = origin.get(self.prefix.len()..origin.len() - self.suffix.len()) else {
            return false;
        };
        !sub.is_empty()
            && !sub.starts_with('.')
            && !sub.ends_with('.')
            && sub
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    }
}

fn valid_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `host[:port]` where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn valid_authority(authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.starts_with('[') || host.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(entries: &[&str]) -> Origins {
        let mut o = Origins::default();
        for e in entries {
            o.add(e).unwrap();
        }
        o
    }

    #[test]
    fn exact_origins_match_case_insensitively() {
        let o = origins(&[
            "https://App.example.com",
            "http://localhost:3000",
            "http://[::1]:8080",
        ]);
        assert!(o.allows(b"https://app.example.com"));
        assert!(o.allows(b"HTTPS://APP.EXAMPLE.COM"));
        assert!(o.allows(b"http://localhost:3000"));
        assert!(o.allows(b"http://[::1]:8080"));
        assert!(!o.allows(b"http://app.example.com"), "scheme matters");
        assert!(!o.allows(b"https://app.example.com:8443"), "port matters");
        assert!(!o.allows(b"https://app.example.com.evil.net"));
    }

    #[test]
    fn patterns_match_subdomains_only() {
        let o = origins(&["https://*.example.com"]);
        assert!(o.allows(b"https://a.example.com"));
        assert!(o.allows(b"https://a.b.example.com"));
        assert!(
            !o.allows(b"https://example.com"),
            "the apex is not a subdomain"
        );
        assert!(!o.allows(b"https://evil-example.com"));
        assert!(!o.allows(b"https://.example.com"));
        assert!(!o.allows(b"https://x@a.example.com"));
        assert!(!o.allows(b"http://a.example.com"));
        assert!(!o.allows(b"https://a.example.com:444"));
        let with_port = origins(&["https://*.example.com:8443"]);
        assert!(with_port.allows(b"https://a.example.com:8443"));
        assert!(!with_port.allows(b"https://a.example.com"));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "example.com",
            "https://example.com/",
            "https://",
            "*.example.com",
            "https://a.*.com",
            "https://ex ample.com",
            "https://example.com:port",
        ] {
            assert!(Origins::default().add(bad).is_err(), "{bad}");
        }
        assert!(
            Origins::default()
                .add("null")
                .unwrap_err()
                .starts_with("'null' must not")
        );
    }
}
