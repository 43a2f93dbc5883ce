//! XML threat protection: structural limits enforced in one streaming pass.
//!
//! XML adds entity attacks to the structural ones JSON has: "billion laughs" (nested entities
//! that expand exponentially), quadratic blow-up (one large entity referenced many times),
//! external entities that make a backend parser read local files or call URLs (XXE), and
//! parameter entities that pull in external DTDs. [`scan`] reads the body with quick-xml's
//! pull parser, which never expands entities, and by default forbids DOCTYPE declarations and
//! any entity reference other than the five predefined ones and character references, so
//! none of those attacks can reach the backend. It also enforces nesting, fan-out, name and
//! value limits, and reports the first violation with an XPath-like location.
//!
//! Unlike Apigee's XMLThreatProtection, violations are client errors (400) naming the limit
//! and the location. Bodies must be UTF-8 (ASCII included; a UTF-8 byte-order mark is
//! accepted), without `NUL`s, and may declare only an encoding that reads them as checked
//! (UTF-8, US-ASCII, ISO-8859-*, windows-125*: ASCII stays ASCII and no other byte becomes
//! markup): anything else is `xml.invalid`, since the backend would otherwise decode bytes
//! that were never checked (a UTF-7 document hides a DOCTYPE in what reads here as a comment).

mod attributes;
mod dtd;
mod path;
mod scanner;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::ControlFlow;

pub use path::{XmlNode, XmlPath};

use crate::Violation;

/// The violation type of the XML engine (the crate-wide [`Violation`]).
pub type XmlViolation = Violation;
use scanner::{Scanner, Stop};

/// Limits for [`scan`]. `None` disables a limit. Lengths are in characters.
///
/// [`XmlLimits::default`]:
///
/// | limit | default |
/// |---|---|
/// | `max_depth` (element nesting; the root element is depth 1) | 32 |
/// | `max_attributes_per_element` (namespace declarations included) | 64 |
/// | `max_children_per_element` (child elements, comments, PIs, non-blank text nodes) | 10 000 |
/// | `max_namespaces_per_element` (`xmlns` / `xmlns:p` declarations) | 16 |
/// | `max_element_name_length`, `max_attribute_name_length` (qualified names) | 256 |
/// | `max_namespace_prefix_length` | 256 |
/// | `max_text_length` (one text node: text, references and CDATA merged) | 65 536 |
/// | `max_attribute_value_length` (after unescaping) | 8 192 |
/// | `max_comment_length` | 8 192 |
/// | `max_pi_data_length` (target and data of a processing instruction) | 8 192 |
/// | `max_body_bytes` | 10 MiB |
/// | `allow_doctype` | false |
/// | `allow_entity_references` (beyond `&lt;` `&gt;` `&amp;` `&apos;` `&quot;` and `&#…;`) | false |
///
/// With `allow_doctype`, a DOCTYPE is still rejected when it names an external resource
/// (`SYSTEM` / `PUBLIC`). With `allow_entity_references`, references are passed through
/// unexpanded (the visitor sees `&name;` as written): only enable it for backends that do not
/// expand entities themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlLimits {
    pub max_depth: Option<u32>,
    pub max_attributes_per_element: Option<u64>,
    pub max_children_per_element: Option<u64>,
    pub max_namespaces_per_element: Option<u64>,
    pub max_element_name_length: Option<u64>,
    pub max_attribute_name_length: Option<u64>,
    pub max_namespace_prefix_length: Option<u64>,
    pub max_text_length: Option<u64>,
    pub max_attribute_value_length: Option<u64>,
    pub max_comment_length: Option<u64>,
    pub max_pi_data_length: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub allow_doctype: bool,
    pub allow_entity_references: bool,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_depth: Some(32),
            max_attributes_per_element: Some(64),
            max_children_per_element: Some(10_000),
            max_namespaces_per_element: Some(16),
            max_element_name_length: Some(256),
            max_attribute_name_length: Some(256),
            max_namespace_prefix_length: Some(256),
            max_text_length: Some(64 * 1024),
            max_attribute_value_length: Some(8 * 1024),
            max_comment_length: Some(8 * 1024),
            max_pi_data_length: Some(8 * 1024),
            max_body_bytes: Some(10 * 1024 * 1024),
            allow_doctype: false,
            allow_entity_references: false,
        }
    }
}

impl XmlLimits {
    /// No numeric limits; DOCTYPE and entity references stay forbidden. Only well-formedness
    /// and the entity policy are checked.
    pub fn unlimited() -> Self {
        XmlLimits {
            max_depth: None,
            max_attributes_per_element: None,
            max_children_per_element: None,
            max_namespaces_per_element: None,
            max_element_name_length: None,
            max_attribute_name_length: None,
            max_namespace_prefix_length: None,
            max_text_length: None,
            max_attribute_value_length: None,
            max_comment_length: None,
            max_pi_data_length: None,
            max_body_bytes: None,
            allow_doctype: false,
            allow_entity_references: false,
        }
    }
}

/// A value handed to the [`scan`] visitor, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlEvent<'a> {
    /// A text node that is not only whitespace (text, references and CDATA sections merged,
    /// line ends normalised). Path: `/a/b/text()`.
    Text(Cow<'a, str>),
    /// An attribute (namespace declarations included). Path: `/a/b/@name`.
    Attribute { name: &'a str, value: Cow<'a, str> },
}

/// What a completed scan saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlStats {
    /// Deepest element nesting (the root element is depth 1).
    pub max_depth: u32,
    pub elements: u64,
    pub attributes: u64,
    pub text_nodes: u64,
    /// The visitor returned `Break`: the scan stopped there, and the rest of the body was
    /// neither validated nor checked against the limits.
    pub stopped_by_visitor: bool,
}

/// Scans `body`, enforcing well-formedness, the entity policy and `limits`, and calls `visit`
/// for every non-blank text node and every attribute in document order.
///
/// Violation codes: `xml.invalid` (with byte offset), `xml.depth_exceeded`,
/// `xml.attributes_exceeded`, `xml.children_exceeded`, `xml.namespaces_exceeded`,
/// `xml.name_length_exceeded`, `xml.text_length_exceeded`,
/// `xml.attribute_value_length_exceeded`, `xml.comment_length_exceeded`,
/// `xml.pi_length_exceeded`, `xml.body_too_large`, `xml.doctype_forbidden`,
/// `xml.entity_reference_forbidden`.
pub fn scan<V>(body: &[u8], limits: &XmlLimits, visit: &mut V) -> Result<XmlStats, Violation>
where
    V: FnMut(&XmlPath<'_>, XmlEvent<'_>) -> ControlFlow<()> + ?Sized,
{
    if let Some(max) = limits.max_body_bytes
        && body.len() as u64 > max
    {
        return Err(Violation {
            code: "xml.body_too_large",
            path: "/".to_owned(),
            limit: Some(max),
            detail: format!("body is {} bytes, more than the limit of {max}", body.len()),
        });
    }
    let text = match simdutf8::compat::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            return Err(invalid(
                "/".to_owned(),
                e.valid_up_to() as u64,
                "invalid UTF-8",
            ));
        }
    };
    // XML has no NUL character (§2.2); one means UTF-16 or UTF-32 read as UTF-8 (ASCII text
    // with a NUL beside each character passes the check above), which a back end decodes into
    // markup this scan never saw.
    if let Some(at) = memchr::memchr(0, body) {
        return Err(invalid("/".to_owned(), at as u64, "NUL character"));
    }
    let (text, base) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, 3),
        None => (text, 0),
    };
    let mut scanner = Scanner::new(text, base, limits);
    match scanner.run(visit) {
        Ok(()) => Ok(scanner.stats),
        Err(Stop::Visitor) => {
            scanner.stats.stopped_by_visitor = true;
            Ok(scanner.stats)
        }
        Err(Stop::Violation(v)) => Err(v),
        Err(Stop::Invalid(offset, reason)) => Err(invalid(
            scanner.path(XmlNode::Element).render(),
            offset,
            &reason,
        )),
    }
}

/// [`scan`] without a visitor: validates well-formedness, entity policy and limits only.
pub fn check(body: &[u8], limits: &XmlLimits) -> Result<XmlStats, Violation> {
    scan(body, limits, &mut |_: &XmlPath<'_>, _: XmlEvent<'_>| {
        ControlFlow::Continue(())
    })
}

fn invalid(path: String, offset: u64, reason: &str) -> Violation {
    Violation {
        code: "xml.invalid",
        path,
        limit: None,
        detail: format!("malformed XML at byte {offset}: {reason}"),
    }
}
