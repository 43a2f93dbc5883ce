//! Flow path templates: `/orders/{id}/items`, `/files/*`, `/static/**`.

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}` or `*`: exactly one non-empty segment.
    One,
    /// `**`: any remainder, including nothing.
    Rest,
}

/// A compiled path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
}

impl PathTemplate {
    /// Parses a template; `**` may only be last.
    pub fn parse(source: &str) -> Result<Self, String> {
        if !source.starts_with('/') {
            return Err(format!("path template '{source}' must start with '/'"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = source[1..].split('/').filter(|s| !s.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let seg = if *part == "**" {
                if i + 1 != parts.len() {
                    return Err(format!("'**' must be the last segment in '{source}'"));
                }
                Segment::Rest
            } else if *part == "*"
                || (part.starts_with('{') && part.ends_with('}') && part.len() > 2)
            {
                Segment::One
            } else if part.contains(['{', '}', '*']) {
                return Err(format!("invalid segment '{part}' in '{source}'"));
            } else {
                Segment::Literal((*part).to_owned())
            };
            segments.push(seg);
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether a normalised path (relative to the base path) matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        let cases = [
            ("/orders", "/orders", true),
            ("/orders", "/orders/", true),
            ("/orders", "/orders/1", false),
            ("/orders/{id}", "/orders/1", true),
            ("/orders/{id}", "/orders", false),
            ("/orders/{id}/items", "/orders/7/items", true),
            ("/orders/*", "/orders/7/items", false),
            ("/orders/**", "/orders/7/items", true),
            ("/orders/**", "/orders", true),
            ("/", "/", true),
            ("/", "/x", false),
            ("/**", "/anything/at/all", true),
        ];
        for (tpl, path, want) in cases {
            assert_eq!(
                PathTemplate::parse(tpl).unwrap().matches(path),
                want,
                "{tpl} vs {path}"
            );
        }
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(PathTemplate::parse("orders").is_err());
        assert!(PathTemplate::parse("/a/**/b").is_err());
        assert!(PathTemplate::parse("/a{b}").is_err());
    }
}
