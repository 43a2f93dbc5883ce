//! The documented (JSON Schema) mirror of the engine's `DetectorConfig` parts: the engine's
//! types are plain serde data without schemas, so the policy owns the user-facing shape and
//! converts it once at compile time.

use portcullis_threat::injection as engine;
use schemars::JsonSchema;
use serde::Deserialize;

/// An attack class, as written in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting (HTML / JavaScript injection).
    Xss,
    /// Path traversal and local file inclusion.
    PathTraversal,
    /// OS command injection (Unix shells, Windows cmd and PowerShell).
    CommandInjection,
    /// Server-side includes.
    Ssi,
    /// XPath and LDAP filter injection.
    XpathLdap,
    /// Code injection into interpreters (Java, JavaScript, PHP, template engines).
    CodeInjection,
}

impl Class {
    fn to_engine(self) -> engine::AttackClass {
        match self {
            Class::Sqli => engine::AttackClass::Sqli,
            Class::Xss => engine::AttackClass::Xss,
            Class::PathTraversal => engine::AttackClass::PathTraversal,
            Class::CommandInjection => engine::AttackClass::CommandInjection,
            Class::Ssi => engine::AttackClass::Ssi,
            Class::XpathLdap => engine::AttackClass::XpathLdap,
            Class::CodeInjection => engine::AttackClass::CodeInjection,
        }
    }
}

/// Which attack classes are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClassToggles {
    /// SQL injection. Default true.
    pub sqli: bool,
    /// Cross-site scripting. Default true.
    pub xss: bool,
    /// Path traversal and local file inclusion. Default true.
    pub path_traversal: bool,
    /// OS command injection. Default true.
    pub command_injection: bool,
    /// Server-side includes. Default true.
    pub ssi: bool,
    /// XPath and LDAP filter injection. Default true.
    pub xpath_ldap: bool,
    /// Code injection. Default true.
    pub code_injection: bool,
}

impl Default for ClassToggles {
    fn default() -> Self {
        let d = engine::ClassToggles::default();
        ClassToggles {
            sqli: d.sqli,
            xss: d.xss,
            path_traversal: d.path_traversal,
            command_injection: d.command_injection,
            ssi: d.ssi,
            xpath_ldap: d.xpath_ldap,
            code_injection: d.code_injection,
        }
    }
}

impl ClassToggles {
    pub(super) fn into_engine(self) -> engine::ClassToggles {
        engine::ClassToggles {
            sqli: self.sqli,
            xss: self.xss,
            path_traversal: self.path_traversal,
            command_injection: self.command_injection,
            ssi: self.ssi,
            xpath_ldap: self.xpath_ldap,
            code_injection: self.code_injection,
        }
    }
}

/// Switches detection off at some locations.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// Glob over the location as findings name it (`*` matches any run of characters, ASCII
    /// case-insensitive): `path`, `query.q`, `query-name.q`, `header.user-agent`,
    /// `cookie.session`, `form.comment`, `json $.items[*].html`, `json-key $.a`, `xml /a/b`,
    /// `body`.
    pub location: String,
    /// Classes not checked there; empty (the default) means all of them.
    #[serde(default)]
    pub classes: Vec<Class>,
}

impl Exclusion {
    pub(super) fn to_engine(&self) -> engine::Exclusion {
        engine::Exclusion {
            location: self.location.clone(),
            classes: self.classes.iter().map(|c| c.to_engine()).collect(),
        }
    }
}

/// An operator-supplied pattern, evaluated with the managed rules of its class.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Identifier reported in findings and events; must not collide with a managed rule id.
    pub id: String,
    /// The class the rule belongs to (switching the class off switches the rule off).
    pub class: Class,
    /// Paranoia level from which the rule is active (1 to 4). Default 1.
    #[serde(default = "one")]
    pub paranoia: u8,
    /// What the rule catches, for operators.
    #[serde(default)]
    pub description: String,
    /// A `regex`-crate pattern (linear time, no look-around), matched against the decoded,
    /// lower-cased value: write it in lower case or add `(?i)`.
    pub pattern: String,
}

fn one() -> u8 {
    1
}

impl CustomRule {
    pub(super) fn to_engine(&self) -> engine::CustomRule {
        engine::CustomRule {
            id: self.id.clone(),
            class: self.class.to_engine(),
            paranoia: self.paranoia,
            description: self.description.clone(),
            pattern: self.pattern.clone(),
        }
    }
}
