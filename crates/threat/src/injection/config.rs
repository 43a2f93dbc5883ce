//! Configuration of the injection detector: which attack classes are checked, how strict the
//! managed rule set is (paranoia), where checks are switched off (exclusions) and which extra
//! patterns an operator adds. Everything here is plain data so it can come from the gateway's
//! policy configuration (serde) and be validated once, at compile time of the detector.

use std::fmt;

use serde::Deserialize;

/// A family of injection attacks. Each rule and each finding belongs to exactly one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackClass {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting (HTML / JavaScript injection).
    Xss,
    /// Path traversal and local file inclusion.
    PathTraversal,
    /// OS command injection (Unix shells and Windows cmd/PowerShell).
    CommandInjection,
    /// Server-side includes.
    Ssi,
    /// XPath and LDAP filter injection.
    XpathLdap,
    /// Code injection into interpreters (Java, JavaScript/Node, PHP, template engines).
    CodeInjection,
}

impl AttackClass {
    /// Every class, in a stable order (the order rules are evaluated in).
    pub const ALL: [AttackClass; 7] = [
        AttackClass::Sqli,
        AttackClass::Xss,
        AttackClass::PathTraversal,
        AttackClass::CommandInjection,
        AttackClass::Ssi,
        AttackClass::XpathLdap,
        AttackClass::CodeInjection,
    ];

    /// The configuration name of the class (`sqli`, `path_traversal`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AttackClass::Sqli => "sqli",
            AttackClass::Xss => "xss",
            AttackClass::PathTraversal => "path_traversal",
            AttackClass::CommandInjection => "command_injection",
            AttackClass::Ssi => "ssi",
            AttackClass::XpathLdap => "xpath_ldap",
            AttackClass::CodeInjection => "code_injection",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for AttackClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which classes are enabled. All are on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassToggles {
    pub sqli: bool,
    pub xss: bool,
    pub path_traversal: bool,
    pub command_injection: bool,
    pub ssi: bool,
    pub xpath_ldap: bool,
    pub code_injection: bool,
}

impl Default for ClassToggles {
    fn default() -> Self {
        ClassToggles {
            sqli: true,
            xss: true,
            path_traversal: true,
            command_injection: true,
            ssi: true,
            xpath_ldap: true,
            code_injection: true,
        }
    }
}

impl ClassToggles {
    /// Whether `class` is switched on.
    pub fn enabled(&self, class: AttackClass) -> bool {
        match class {
            AttackClass::Sqli => self.sqli,
            AttackClass::Xss => self.xss,
            AttackClass::PathTraversal => self.path_traversal,
            AttackClass::CommandInjection => self.command_injection,
            AttackClass::Ssi => self.ssi,
            AttackClass::XpathLdap => self.xpath_ldap,
            AttackClass::CodeInjection => self.code_injection,
        }
    }

    pub(crate) fn mask(&self) -> u8 {
        AttackClass::ALL
            .iter()
            .filter(|c| self.enabled(**c))
            .fold(0, |m, c| m | c.bit())
    }
}

/// Switches detection off for some locations, e.g. a JSON field that legitimately holds HTML.
///
/// `location` is a glob over the location's display form (`query.q`, `header.user-agent`,
/// `json $.comment`, `json $.items[*].html`): `*` matches any run of characters. Matching is
/// ASCII case-insensitive. With `classes` empty, every class is excluded at that location.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    pub location: String,
    #[serde(default)]
    pub classes: Vec<AttackClass>,
}

/// An operator-supplied pattern, evaluated with the managed rules of its class.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Identifier reported in findings; must not collide with a managed rule id.
    pub id: String,
    pub class: AttackClass,
    /// Paranoia level from which the rule is active (1–4, default 1).
    #[serde(default = "default_paranoia")]
    pub paranoia: u8,
    #[serde(default)]
    pub description: String,
    /// A `regex`-crate pattern. It is matched against the decoded, lower-cased value, so write
    /// it in lower case (or add `(?i)`).
    pub pattern: String,
}

/// Everything the detector needs to know, deserialisable from the policy configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    pub classes: ClassToggles,
    /// 1 (fewest false positives) to 4 (strictest). See docs/security.md for the measurements
    /// behind the default.
    pub paranoia: u8,
    pub exclusions: Vec<Exclusion>,
    pub custom_rules: Vec<CustomRule>,
    /// Upper bound on the bytes of one value that are decoded and inspected; the rest is cut
    /// off so a single huge value cannot make inspection slow.
    pub max_value_len: usize,
    /// Upper bound on the body bytes inspected by `inspect_request`.
    pub max_body_len: usize,
}

pub(crate) fn default_paranoia() -> u8 {
    1
}

/// Default paranoia level (see docs/security.md for why).
pub const DEFAULT_PARANOIA: u8 = 2;

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            classes: ClassToggles::default(),
            paranoia: DEFAULT_PARANOIA,
            exclusions: Vec::new(),
            custom_rules: Vec::new(),
            max_value_len: 16 * 1024,
            max_body_len: 1024 * 1024,
        }
    }
}
