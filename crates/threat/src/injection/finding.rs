//! What the detector reports. A finding names the class, the rule and the location, and
//! carries at most a short, sanitised fragment of the match: enough for an operator to see why
//! a request was blocked, never the full (possibly sensitive or log-injecting) value. It is
//! meant for logs, not for the client (which should get a generic 400).

use std::fmt;

use super::config::AttackClass;
use super::location::Location;

/// Maximum number of characters of matched text kept in [`Finding::fragment`].
pub const FRAGMENT_MAX_CHARS: usize = 40;

/// One detected injection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub class: AttackClass,
    /// Managed rule id (`sqli-110`), custom rule id, or `libinjection-sqli`/`libinjection-xss`.
    pub rule_id: String,
    /// Display form of the [`Location`] (`query.q`, `json $.a.b`).
    pub location: String,
    /// The matched text (decoded view), control characters replaced by `?`, cut to
    /// [`FRAGMENT_MAX_CHARS`] characters with `…` appended when cut.
    pub fragment: String,
}

impl Finding {
    pub(crate) fn new(
        class: AttackClass,
        rule_id: &str,
        location: &Location,
        matched: &str,
    ) -> Self {
        Finding {
            class,
            rule_id: rule_id.to_owned(),
            location: location.to_string(),
            fragment: redact(matched),
        }
    }
}

/// Sanitises and truncates matched text so it is safe to put in a log line.
pub(crate) fn redact(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(FRAGMENT_MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(FRAGMENT_MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) at {}: {:?}",
            self.class, self.rule_id, self.location, self.fragment
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(redact("a\nb\u{1b}[31m"), "a?b?[31m");
        let long = "x".repeat(100);
        let r = redact(&long);
        assert_eq!(r.chars().count(), FRAGMENT_MAX_CHARS + 1);
        assert!(r.ends_with('…'));
    }
}
