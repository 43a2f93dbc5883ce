//! Config errors: every one carries the field path and, when known, the source line.

use std::fmt;

use crate::yaml::LineMap;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path, e.g. `apis[0].upstream.targets[1]` (empty for the document).
    pub path: String,
    /// 1-based source line, when the file was YAML.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one file (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors against JSON pointers and renders them with dotted paths and lines.
pub(crate) struct Collector<'a> {
    lines: &'a LineMap,
    errors: Vec<ConfigError>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(lines: &'a LineMap) -> Self {
        Self {
            lines,
            errors: Vec::new(),
        }
    }

    /// Records an error at a JSON pointer (`/apis/0/name`).
    pub(crate) fn at(&mut self, pointer: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: dotted(pointer),
            line: line_of(self.lines, pointer),
            message: message.into(),
        });
    }

    pub(crate) fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// The line of the nearest node at or above `pointer`.
fn line_of(lines: &LineMap, pointer: &str) -> Option<usize> {
    let mut p = pointer;
    loop {
        if let Some(l) = lines.get(p) {
            return Some(*l);
        }
        let cut = p.rfind('/')?;
        p = &p[..cut];
    }
}

/// `/apis/0/upstream/targets/1` → `apis[0].upstream.targets[1]`.
pub(crate) fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

/// A serde_path_to_error path relative to a policy config (`allow[2]`, `set.X-Foo`) → pointer
/// suffix (`/allow/2`, `/set/X-Foo`).
pub(crate) fn relative_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push('/');
            out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
        for idx in rest.split('[') {
            let idx = idx.trim_end_matches(']');
            if !idx.is_empty() {
                out.push('/');
                out.push_str(idx);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render() {
        assert_eq!(
            dotted("/apis/0/upstream/targets/1"),
            "apis[0].upstream.targets[1]"
        );
        assert_eq!(dotted(""), "");
        assert_eq!(relative_pointer("allow[2]"), "/allow/2");
        assert_eq!(relative_pointer("set.X-Foo"), "/set/X-Foo");
        assert_eq!(relative_pointer(""), "");
    }

    #[test]
    fn line_falls_back_to_parent() {
        let mut lines = LineMap::new();
        lines.insert("/apis/0".into(), 7);
        assert_eq!(line_of(&lines, "/apis/0/upstream/targets"), Some(7));
        assert_eq!(line_of(&lines, "/other"), None);
    }
}
