//! Path-template matching for OpenAPI paths (`/orders/{id}`, `/files/{name}.{ext}`).
//!
//! A positive security model first has to decide which operation a request addresses; a
//! sloppy matcher either lets unknown paths through or applies the wrong operation's rules.
//! The matcher is a segment trie: at every level a literal segment is preferred over a
//! templated one (as OpenAPI requires: `/pets/mine` wins over `/pets/{id}`), templated
//! segments with more literal text are tried before bare `{var}` ones, and the search
//! backtracks, so a literal dead end does not hide a templated match. Templates that differ
//! only in variable names are ambiguous and rejected at load time.

use std::borrow::Cow;
use std::collections::HashMap;

use percent_encoding::percent_decode_str;

/// Maps request paths to entries of type `T`.
#[derive(Debug)]
pub(crate) struct Router<T> {
    root: Node,
    entries: Vec<Entry<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    template: String,
    vars: Vec<String>,
    value: T,
}

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<String, Node>,
    /// Kept sorted: more literal characters first, so `v{n}` is tried before `{any}`.
    patterns: Vec<(Pattern, Node)>,
    leaf: Option<usize>,
}

/// One templated segment, variables left anonymous (names live on the entry).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var,
}

/// A successful match: the entry and the decoded path variables, by name.
#[derive(Debug)]
pub(crate) struct Match<'r, T> {
    pub(crate) template: &'r str,
    pub(crate) value: &'r T,
    pub(crate) params: Vec<(&'r str, String)>,
}

impl<T> Router<T> {
    pub(crate) fn new() -> Self {
        Self {
            root: Node::default(),
            entries: Vec::new(),
        }
    }

    /// Adds a template; fails with a message when it is malformed or ambiguous.
    pub(crate) fn insert(&mut self, template: &str, value: T) -> Result<(), String> {
        if !template.starts_with('/') {
            return Err("path template must start with `/`".to_owned());
        }
        let mut node = &mut self.root;
        let mut vars = Vec::new();
        for segment in segments(template) {
            if segment.contains('{') || segment.contains('}') {
                let pattern = parse_segment(segment, &mut vars)?;
                let idx = match node.patterns.iter().position(|(p, _)| *p == pattern) {
                    Some(idx) => idx,
                    None => {
                        let weight = pattern.literal_len();
                        let at = node
                            .patterns
                            .iter()
                            .position(|(p, _)| p.literal_len() < weight)
                            .unwrap_or(node.patterns.len());
                        node.patterns.insert(at, (pattern, Node::default()));
                        at
                    }
                };
                node = &mut node.patterns[idx].1;
            } else {
                node = node.literals.entry(segment.to_owned()).or_default();
            }
        }
        if let Some(existing) = node.leaf {
            return Err(format!(
                "path template is equivalent to {:?}; OpenAPI forbids templates that differ only in variable names",
                self.entries[existing].template
            ));
        }
        node.leaf = Some(self.entries.len());
        self.entries.push(Entry {
            template: template.to_owned(),
            vars,
            value,
        });
        Ok(())
    }

    /// Finds the most specific template matching `path`.
    pub(crate) fn lookup(&self, path: &str) -> Option<Match<'_, T>> {
        if !path.starts_with('/') {
            return None;
        }
        let segs: Vec<Cow<'_, str>> = segments(path)
            .map(|s| percent_decode_str(s).decode_utf8_lossy())
            .collect();
        let mut captures = Vec::new();
        let leaf = find(&self.root, &segs, &mut captures)?;
        let entry = &self.entries[leaf];
        let params = entry
            .vars
            .iter()
            .map(String::as_str)
            .zip(captures)
            .collect();
        Some(Match {
            template: &entry.template,
            value: &entry.value,
            params,
        })
    }

    /// Every entry, for load-time bookkeeping.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|e| &e.value)
    }
}

/// Splits a path into segments, ignoring one trailing slash (`/pets/` addresses `/pets`).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let empty_root = trimmed.is_empty();
    trimmed.split('/').filter(move |_| !empty_root)
}

fn parse_segment(segment: &str, vars: &mut Vec<String>) -> Result<Pattern, String> {
    let mut parts = Vec::new();
    let mut rest = segment;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in path segment {segment:?}"))?;
            let name = &after[..end];
            if name.is_empty() || name.contains('{') {
                return Err(format!("invalid variable in path segment {segment:?}"));
            }
            if matches!(parts.last(), Some(Part::Var)) {
                return Err(format!(
                    "adjacent variables in path segment {segment:?} cannot be told apart"
                ));
            }
            if vars.iter().any(|v| v == name) {
                return Err(format!("path variable {name:?} appears twice"));
            }
            vars.push(name.to_owned());
            parts.push(Part::Var);
            rest = &after[end + 1..];
        } else {
            let end = rest.find('{').unwrap_or(rest.len());
            if rest[..end].contains('}') {
                return Err(format!("unbalanced `}}` in path segment {segment:?}"));
            }
            parts.push(Part::Lit(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    Ok(Pattern(parts))
}

fn find(node: &Node, segs: &[Cow<'_, str>], captures: &mut Vec<String>) -> Option<usize> {
    let Some((first, rest)) = segs.split_first() else {
        return node.leaf;
    };
    if let Some(child) = node.literals.get(first.as_ref())
        && let Some(leaf) = find(child, rest, captures)
    {
        return Some(leaf);
    }
    for (pattern, child) in &node.patterns {
        let mark = captures.len();
        if match_parts(&pattern.0, first, captures)
            && let Some(leaf) = find(child, rest, captures)
        {
            return Some(leaf);
        }
        captures.truncate(mark);
    }
    None
}

/// Matches one segment against literal/variable parts; variables take at least one character
/// and stop at the earliest occurrence of the following literal that lets the rest match.
fn match_parts(parts: &[Part], s: &str, captures: &mut Vec<String>) -> bool {
    match parts.split_first() {
        None => s.is_empty(),
        Some((Part::Lit(lit), rest)) => s
            .strip_prefix(lit.as_str())
            .is_some_and(|tail| match_parts(rest, tail, captures)),
        Some((Part::Var, [])) => {
            if s.is_empty() {
                return false;
            }
            captures.push(s.to_owned());
            true
        }
        Some((Part::Var, rest @ [Part::Lit(next), ..])) => {
            let mark = captures.len();
            for (at, _) in s.match_indices(next.as_str()).filter(|(at, _)| *at > 0) {
                captures.push(s[..at].to_owned());
                if match_parts(rest, &s[at..], captures) {
                    return true;
                }
                captures.truncate(mark);
            }
            false
        }
        // Adjacent variables are rejected by `parse_segment`.
        Some((Part::Var, [Part::Var, ..])) => false,
    }
}

impl Pattern {
    fn literal_len(&self) -> usize {
        self.0
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Var => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(templates: &[&str]) -> Router<usize> {
        let mut r = Router::new();
        for (i, t) in templates.iter().enumerate() {
            r.insert(t, i).unwrap();
        }
        r
    }

    #[test]
    fn literal_segments_win_over_templates() {
        let r = router(&["/pets/{id}", "/pets/mine", "/pets/{id}/toys"]);
        assert_eq!(*r.lookup("/pets/mine").unwrap().value, 1);
        let m = r.lookup("/pets/42").unwrap();
        assert_eq!(
            (*m.value, m.params.clone()),
            (0, vec![("id", "42".to_owned())])
        );
        assert_eq!(*r.lookup("/pets/mine/toys").unwrap().value, 2);
        assert!(r.lookup("/pets").is_none());
        assert!(r.lookup("/pets/1/2").is_none());
    }

    #[test]
    fn backtracks_out_of_literal_dead_ends() {
        let r = router(&["/a/b/c", "/a/{x}/d"]);
        let m = r.lookup("/a/b/d").unwrap();
        assert_eq!(
            (*m.value, m.params.clone()),
            (1, vec![("x", "b".to_owned())])
        );
    }

    #[test]
    fn mixed_segments_and_decoding() {
        let r = router(&["/files/{name}.{ext}", "/files/{any}", "/v{major}/x", "/"]);
        let m = r.lookup("/files/report.v2.pdf").unwrap();
        assert_eq!(
            m.params,
            vec![("name", "report".to_owned()), ("ext", "v2.pdf".to_owned())]
        );
        assert_eq!(*r.lookup("/files/readme").unwrap().value, 1);
        assert_eq!(
            r.lookup("/v2/x").unwrap().params,
            vec![("major", "2".to_owned())]
        );
        assert_eq!(*r.lookup("/").unwrap().value, 3);
        assert_eq!(
            r.lookup("/files/a%20b").unwrap().params,
            vec![("any", "a b".to_owned())]
        );
        assert_eq!(*r.lookup("/files/readme/").unwrap().value, 1);
    }

    #[test]
    fn rejects_ambiguous_and_malformed_templates() {
        let mut r = Router::new();
        r.insert("/pets/{id}", 0).unwrap();
        assert!(
            r.insert("/pets/{petId}", 1)
                .unwrap_err()
                .contains("equivalent")
        );
        assert!(r.insert("/x/{a}{b}", 2).unwrap_err().contains("adjacent"));
        assert!(r.insert("/x/{a", 2).unwrap_err().contains("unclosed"));
        assert!(r.insert("x", 2).is_err());
        assert!(r.insert("/x/{a}/{a}", 2).unwrap_err().contains("twice"));
    }
}
