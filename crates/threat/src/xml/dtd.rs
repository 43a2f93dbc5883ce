//! DOCTYPE policy: the door to every entity attack.
//!
//! Entity declarations live in the DTD, so forbidding DOCTYPE (the default) closes billion
//! laughs, quadratic blow-up and XXE in one move. When a DTD is allowed, it is still refused if
//! it names an external resource (`SYSTEM`/`PUBLIC`: external DTDs and external entities make
//! a backend parser read files or call URLs) or, unless entity references are allowed, if it
//! uses parameter entities (`%name;`), which splice declarations in from elsewhere. The DTD
//! is never interpreted here: nothing is expanded or fetched.

use crate::Violation;

use super::scanner::{Scanner, Stop};

/// The first parameter-entity reference (`%name;`) in a DTD, if any. Declarations
/// (`<!ENTITY % name ...>`) have a space after the `%` and do not match.
fn parameter_entity_reference(dtd: &str) -> Option<&str> {
    dtd.match_indices('%').find_map(|(at, _)| {
        let rest = &dtd[at + 1..];
        let end = rest.find(';')?;
        let name = &rest[..end];
        let is_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        is_name.then_some(name)
    })
}

impl Scanner<'_, '_> {
    pub(super) fn doctype(&mut self, dtd: &str) -> Result<(), Stop> {
        if self.root_seen {
            return Err(self.invalid("DOCTYPE after the root element"));
        }
        let forbidden = |detail: &str| {
            Stop::Violation(Violation {
                code: "xml.doctype_forbidden",
                path: "/".to_owned(),
                limit: None,
                detail: detail.to_owned(),
            })
        };
        if !self.limits.allow_doctype {
            return Err(forbidden(
                "document type declarations (DOCTYPE) are not allowed",
            ));
        }
        // Even when a DTD is tolerated, one that points outside the document (external DTD or
        // external entities) would make a backend parser fetch files or URLs: classic XXE.
        let external = dtd
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "SYSTEM" || word == "PUBLIC");
        if external {
            return Err(forbidden(
                "DOCTYPE refers to an external resource (SYSTEM or PUBLIC identifier)",
            ));
        }
        if !self.limits.allow_entity_references
            && let Some(name) = parameter_entity_reference(dtd)
        {
            return Err(self.entity_forbidden_in_dtd(name));
        }
        Ok(())
    }

    fn entity_forbidden_in_dtd(&self, name: &str) -> Stop {
        Stop::Violation(Violation {
            code: "xml.entity_reference_forbidden",
            path: "/".to_owned(),
            limit: None,
            detail: format!("reference to parameter entity %{name}; in the DOCTYPE"),
        })
    }
}
