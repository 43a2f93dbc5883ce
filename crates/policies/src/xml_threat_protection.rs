//! `xml-threat-protection`: refuses XML request bodies that attack the backend's parser: entity
//! expansion ("billion laughs", quadratic blow-up), external entities and DTDs (XXE: reading
//! local files, server-side request forgery), and structural abuse (deep nesting, huge fan-out,
//! giant names, values, comments or processing instructions).
//!
//! The engine never expands entities and, by default, refuses any DOCTYPE and any entity
//! reference beyond the five predefined ones, so none of those attacks reaches the upstream.
//! Unlike Apigee's XMLThreatProtection, violations are 400 with the engine's stable code
//! (`xml.doctype_forbidden`, `xml.depth_exceeded`, ...), the XPath-like location in `detail`
//! and in a `location` member; and `+xml` types, bodies without `Content-Type` that start with
//! `<`, and (with `check_all_bodies`) every body are checked. Request phase.

use std::sync::Arc;

use async_trait::async_trait;
use http::header::CONTENT_TYPE;
use portcullis_core::{ByteSize, GatewayError};
use portcullis_policy::{Decision, Exchange, Policy};
use portcullis_threat::xml::{self, XmlLimits};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::body_charset;
use crate::json_threat_protection::{MediaTypes, first_byte, request_phase_only, violation_error};
use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "xml-threat-protection";
const TITLE: &str = "XML body rejected";

/// Config of `xml-threat-protection`. Every numeric limit can be set to `null` to disable it;
/// lengths are in characters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct XmlThreatProtectionConfig {
    /// Deepest element nesting (the root element is depth 1). Default 32.
    #[serde(default = "d_depth")]
    pub max_depth: Option<u32>,
    /// Most attributes on one element, namespace declarations included. Default 64.
    #[serde(default = "d_attributes")]
    pub max_attributes_per_element: Option<u64>,
    /// Most children of one element (elements, comments, processing instructions, non-blank
    /// text nodes). Default 10000.
    #[serde(default = "d_children")]
    pub max_children_per_element: Option<u64>,
    /// Most namespace declarations (`xmlns`, `xmlns:p`) on one element. Default 16.
    #[serde(default = "d_namespaces")]
    pub max_namespaces_per_element: Option<u64>,
    /// Longest qualified element name. Default 256.
    #[serde(default = "d_name")]
    pub max_element_name_length: Option<u64>,
    /// Longest qualified attribute name. Default 256.
    #[serde(default = "d_name")]
    pub max_attribute_name_length: Option<u64>,
    /// Longest namespace prefix. Default 256.
    #[serde(default = "d_name")]
    pub max_namespace_prefix_length: Option<u64>,
    /// Longest text node (text, references and CDATA merged). Default 65536.
    #[serde(default = "d_text")]
    pub max_text_length: Option<u64>,
    /// Longest attribute value, after unescaping. Default 8192.
    #[serde(default = "d_small")]
    pub max_attribute_value_length: Option<u64>,
    /// Longest comment. Default 8192.
    #[serde(default = "d_small")]
    pub max_comment_length: Option<u64>,
    /// Longest processing instruction (target and data). Default 8192.
    #[serde(default = "d_small")]
    pub max_pi_data_length: Option<u64>,
    /// Largest body checked, e.g. `1MiB` (the API's `max_body` applies first). Default `10MiB`.
    #[serde(default = "d_body")]
    pub max_body_bytes: Option<ByteSize>,
    /// Accept a DOCTYPE declaration. Even then, one naming an external resource (`SYSTEM`,
    /// `PUBLIC`) is refused. Default false.
    #[serde(default)]
    pub allow_doctype: bool,
    /// Accept entity references other than `&lt;` `&gt;` `&amp;` `&apos;` `&quot;` and character
    /// references. They are passed on unexpanded: only enable this for backends that do not
    /// expand entities themselves. Default false.
    #[serde(default)]
    pub allow_entity_references: bool,
    /// Media types checked as XML: an exact type or a `+` suffix (`+xml`). A body without
    /// `Content-Type` is checked when it starts with `<`. Default
    /// `["application/xml", "text/xml", "+xml"]`.
    #[serde(default = "d_types")]
    pub content_types: Vec<String>,
    /// Check every non-empty body as XML whatever its `Content-Type` says, for APIs that only
    /// take XML. Default false.
    #[serde(default)]
    pub check_all_bodies: bool,
}

fn d_depth() -> Option<u32> {
    XmlLimits::default().max_depth
}
fn d_attributes() -> Option<u64> {
    XmlLimits::default().max_attributes_per_element
}
fn d_children() -> Option<u64> {
    XmlLimits::default().max_children_per_element
}
fn d_namespaces() -> Option<u64> {
    XmlLimits::default().max_namespaces_per_element
}
fn d_name() -> Option<u64> {
    XmlLimits::default().max_element_name_length
}
fn d_text() -> Option<u64> {
    XmlLimits::default().max_text_length
}
fn d_small() -> Option<u64> {
    XmlLimits::default().max_attribute_value_length
}
fn d_body() -> Option<ByteSize> {
    XmlLimits::default().max_body_bytes.map(ByteSize)
}
fn d_types() -> Vec<String> {
    vec!["application/xml".into(), "text/xml".into(), "+xml".into()]
}

/// The compiled policy.
#[derive(Debug)]
pub struct XmlThreatProtection {
    limits: XmlLimits,
    types: MediaTypes,
    check_all: bool,
}

impl PolicyConfig for XmlThreatProtectionConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        request_phase_only(ctx, KIND)?;
        let types = MediaTypes::compile(&self.content_types)?;
        Ok(Arc::new(XmlThreatProtection {
            limits: XmlLimits {
                max_depth: self.max_depth,
                max_attributes_per_element: self.max_attributes_per_element,
                max_children_per_element: self.max_children_per_element,
                max_namespaces_per_element: self.max_namespaces_per_element,
                max_element_name_length: self.max_element_name_length,
                max_attribute_name_length: self.max_attribute_name_length,
                max_namespace_prefix_length: self.max_namespace_prefix_length,
                max_text_length: self.max_text_length,
                max_attribute_value_length: self.max_attribute_value_length,
                max_comment_length: self.max_comment_length,
                max_pi_data_length: self.max_pi_data_length,
                max_body_bytes: self.max_body_bytes.map(|b| b.0),
                allow_doctype: self.allow_doctype,
                allow_entity_references: self.allow_entity_references,
            },
            types,
            check_all: self.check_all_bodies,
        }))
    }
}

/// An unlabelled body is XML when it starts with `<`.
fn sniff_xml(body: &[u8]) -> bool {
    first_byte(body) == Some(b'<')
}

#[async_trait]
impl Policy for XmlThreatProtection {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn needs_request_body(&self) -> bool {
        true
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let Some(body) = ex.body.content()?.filter(|b| !b.is_empty()) else {
            return Ok(Decision::Continue);
        };
        let content_type = ex.request.headers.get(CONTENT_TYPE);
        let selected = self.check_all || self.types.selects(content_type, body, sniff_xml);
        if !selected {
            return Ok(Decision::Continue);
        }
        // RFC 7303 §3: the `charset` parameter overrides the document's own declaration.
        body_charset::check(content_type.and_then(|v| v.to_str().ok()), false)?;
        match xml::check(body, &self.limits) {
            Ok(_) => Ok(Decision::Continue),
            Err(v) => Err(violation_error(&v, TITLE)),
        }
    }
}

#[cfg(test)]
mod tests;
