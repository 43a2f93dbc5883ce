//! The managed rule set: patterns are data (`rules/*.toml`, one file per attack class, embedded
//! at build time) so they can be reviewed and extended without touching the matching code.
//!
//! File format:
//! ```toml
//! class = "sqli"
//! gate = ["'", "union"]       # optional literals; if none occurs in a value the file's rules
//!                             # are skipped (a prefilter: every rule must need one of them)
//! [[rule]]
//! id = "sqli-100"
//! paranoia = 1                # 1..=4
//! view = "sql"                # which decoded view to match: text | sql | path | shell
//! description = "UNION-based extraction"
//! pattern = '''union\s+(all\s+)?select'''
//! ```

use serde::Deserialize;

use super::CompileError;
use super::config::AttackClass;

/// Which decoded form of a value a rule is matched against (see `decode::Views`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Text,
    Sql,
    Path,
    Shell,
}

impl View {
    pub(crate) const ALL: [View; 4] = [View::Text, View::Sql, View::Path, View::Shell];
}

/// One managed or custom rule, before compilation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    pub paranoia: u8,
    #[serde(default = "default_view")]
    pub view: View,
    #[serde(default)]
    pub description: String,
    pub pattern: String,
    #[serde(skip)]
    pub class: Option<AttackClass>,
}

fn default_view() -> View {
    View::Text
}

/// One rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub class: AttackClass,
    #[serde(default)]
    pub gate: Vec<String>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleDef>,
}

const MANAGED: &[(&str, &str)] = &[
    ("sqli.toml", include_str!("rules/sqli.toml")),
    ("xss.toml", include_str!("rules/xss.toml")),
    (
        "path_traversal.toml",
        include_str!("rules/path_traversal.toml"),
    ),
    (
        "command_injection.toml",
        include_str!("rules/command_injection.toml"),
    ),
    ("ssi.toml", include_str!("rules/ssi.toml")),
    ("xpath_ldap.toml", include_str!("rules/xpath_ldap.toml")),
    (
        "code_injection.toml",
        include_str!("rules/code_injection.toml"),
    ),
];

/// Parses the embedded managed rule files.
pub fn managed_rules() -> Result<Vec<RuleFile>, CompileError> {
    MANAGED
        .iter()
        .map(|(name, text)| {
            let mut file: RuleFile = toml::from_str(text).map_err(|e| CompileError::RuleFile {
                file: (*name).to_owned(),
                message: e.to_string(),
            })?;
            for r in &mut file.rules {
                r.class = Some(file.class);
            }
            Ok(file)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn has_uppercase_literal(p: &str) -> bool {
        let mut escaped = false;
        for c in p.chars() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c.is_ascii_uppercase() {
                return true;
            }
        }
        false
    }

    #[test]
    fn managed_rules_are_well_formed() {
        let files = managed_rules().expect("embedded rule files parse");
        let mut ids = HashSet::new();
        for f in &files {
            assert!(!f.rules.is_empty(), "{} has no rules", f.class);
            for r in &f.rules {
                assert!((1..=4).contains(&r.paranoia), "{} paranoia", r.id);
                assert!(ids.insert(r.id.clone()), "duplicate rule id {}", r.id);
                assert!(!r.description.is_empty(), "{} lacks a description", r.id);
                assert!(
                    !has_uppercase_literal(&r.pattern),
                    "{}: values are lower-cased before matching",
                    r.id
                );
            }
        }
        let classes: HashSet<_> = files.iter().map(|f| f.class).collect();
        assert_eq!(classes.len(), AttackClass::ALL.len());
    }
}
