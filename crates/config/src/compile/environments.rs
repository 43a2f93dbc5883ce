//! Environments: name syntax, the optional top-level declaration, the references listeners and
//! APIs make to it, and which APIs may share a base path (only in disjoint environments).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Compiler;
use crate::model::{self, DEFAULT_ENVIRONMENT, FileConfig};
use crate::snapshot::ApiRoute;

/// `[a-z0-9][a-z0-9-]{0,62}`: safe in URLs, metric labels, file names and store keys.
pub(crate) fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
}

const NAME_RULE: &str = "use lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters";

impl Compiler<'_, '_> {
    /// The top-level `environments` list, checked (syntax, duplicates).
    pub(super) fn declared_environments(&mut self, f: &FileConfig) -> Option<Vec<Arc<str>>> {
        let list = f.environments.as_ref()?;
        if list.is_empty() {
            self.errs.at(
                "/environments",
                "declare at least one environment, or remove the field",
            );
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, name) in list.iter().enumerate() {
            let at = format!("/environments/{i}");
            if !valid_name(name) {
                self.errs.at(
                    &at,
                    format!("invalid environment name '{name}': {NAME_RULE}"),
                );
            } else if !seen.insert(name.as_str()) {
                self.errs
                    .at(&at, format!("environment '{name}' is declared twice"));
            } else {
                out.push(name.as_str().into());
            }
        }
        Some(out)
    }

    /// Checks one reference to an environment (syntax; declared, when there is a declaration).
    pub(super) fn environment_ref(
        &mut self,
        name: &str,
        at: &str,
        declared: Option<&[Arc<str>]>,
    ) -> bool {
        if !valid_name(name) {
            self.errs.at(
                at,
                format!("invalid environment name '{name}': {NAME_RULE}"),
            );
            return false;
        }
        if let Some(declared) = declared
            && !declared.iter().any(|d| &**d == name)
        {
            let implicit = if name == DEFAULT_ENVIRONMENT {
                " (the default when a listener names none)"
            } else {
                ""
            };
            let list: Vec<&str> = declared.iter().map(|d| &**d).collect();
            self.errs.at(
                at,
                format!(
                    "environment '{name}'{implicit} is not declared in the top-level `environments` ({})",
                    list.join(", ")
                ),
            );
            return false;
        }
        true
    }

    /// An API's `environments`: None (every environment) when absent.
    pub(super) fn api_environments(
        &mut self,
        api: &model::Api,
        at: &str,
        declared: Option<&[Arc<str>]>,
    ) -> Option<Vec<Arc<str>>> {
        let list = api.environments.as_ref()?;
        let at = format!("{at}/environments");
        if list.is_empty() {
            self.errs.at(
                &at,
                "list at least one environment, or remove the field to deploy to every environment",
            );
        }
        let mut out: Vec<Arc<str>> = Vec::new();
        for (j, name) in list.iter().enumerate() {
            let item = format!("{at}/{j}");
            if !self.environment_ref(name, &item, declared) {
                continue;
            }
            if out.iter().any(|e| &**e == name) {
                self.errs
                    .at(&item, format!("environment '{name}' is listed twice"));
            } else {
                out.push(name.as_str().into());
            }
        }
        Some(out)
    }
}

/// APIs already seen per (base path, hosts), to refuse two APIs that would compete for the same
/// requests. Two APIs may share a base path and hosts only in disjoint environments (e.g.
/// `orders-test` and `orders-prod` with different upstreams).
#[derive(Default)]
pub(super) struct RouteKeys(HashMap<RouteKey, Vec<Deployed>>);

/// Base path and sorted lower-case hosts.
type RouteKey = (Arc<str>, Vec<String>);

/// An API's name and environments (None: every environment).
type Deployed = (Arc<str>, Option<Vec<Arc<str>>>);

impl RouteKeys {
    /// Records `route`; returns the name of an earlier API it collides with.
    pub(super) fn claim(&mut self, route: &ApiRoute, hosts: &[String]) -> Option<Arc<str>> {
        let mut hosts: Vec<_> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        hosts.sort();
        let seen = self.0.entry((route.base_path.clone(), hosts)).or_default();
        let clash = seen
            .iter()
            .find(|(_, envs)| overlap(envs.as_deref(), route.environments.as_deref()))
            .map(|(name, _)| name.clone());
        seen.push((route.name.clone(), route.environments.clone()));
        clash
    }
}

fn overlap(a: Option<&[Arc<str>]>, b: Option<&[Arc<str>]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|e| b.contains(e)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn environment_names() {
        for ok in ["default", "prod", "test-1", "0", "a", &"a".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-prod",
            "Prod",
            "pro_d",
            "pro d",
            "prød",
            "prod.eu",
            &"a".repeat(64),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
