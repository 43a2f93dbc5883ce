//! Attribute checks: count, names, namespace declarations and values.
//!
//! Attributes are where namespace floods (thousands of `xmlns:pN` declarations, each one
//! costing the backend a binding) and oversized values hide, and attribute values are also
//! where entity references can be smuggled, so they get the same entity policy as text.

use std::borrow::Cow;
use std::ops::ControlFlow;

use quick_xml::XmlVersion;
use quick_xml::escape::{EscapeError, resolve_xml_entity};
use quick_xml::events::BytesStart;
use quick_xml::name::PrefixDeclaration;

use super::XmlEvent;
use super::path::{XmlNode, XmlPath};
use super::scanner::{Scanner, Stop};

impl Scanner<'_, '_> {
    pub(super) fn attributes<V>(&mut self, e: &BytesStart<'_>, visit: &mut V) -> Result<(), Stop>
    where
        V: FnMut(&XmlPath<'_>, XmlEvent<'_>) -> ControlFlow<()> + ?Sized,
    {
        let limits = self.limits;
        let mut count = 0u64;
        let mut namespaces = 0u64;
        // Duplicate attribute names are rejected by quick-xml's attribute checks (on by default).
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.invalid(&err.to_string()))?;
            let name = attr.key.0;
            count += 1;
            if let Some(max) = limits.max_attributes_per_element
                && count > max
            {
                return Err(self.limit(
                    "xml.attributes_exceeded",
                    XmlNode::Element,
                    max,
                    format!("element has more than {max} attributes"),
                ));
            }
            self.check_name(
                name,
                limits.max_attribute_name_length,
                XmlNode::Element,
                "attribute",
            )?;
            if let Some(declaration) = attr.key.as_namespace_binding() {
                namespaces += 1;
                if let Some(max) = limits.max_namespaces_per_element
                    && namespaces > max
                {
                    return Err(self.limit(
                        "xml.namespaces_exceeded",
                        XmlNode::Element,
                        max,
                        format!("element declares more than {max} namespaces"),
                    ));
                }
                if let PrefixDeclaration::Named(prefix) = declaration {
                    self.check_prefix(prefix)?;
                }
            }
            if attr.value.contains('<') {
                return Err(self.invalid("'<' in an attribute value"));
            }
            let value =
                match attr.normalized_value_with(XmlVersion::Implicit1_0, 1, resolve_xml_entity) {
                    Ok(value) => value,
                    Err(quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, entity))) => {
                        if !limits.allow_entity_references {
                            return Err(self.entity_forbidden(&entity, XmlNode::Attribute(name)));
                        }
                        // Allowed but never expanded: the value is passed on as written.
                        Cow::Borrowed(&*attr.value)
                    }
                    Err(err) => return Err(self.invalid(&err.to_string())),
                };
            let len = value.chars().count() as u64;
            if let Some(max) = limits.max_attribute_value_length
                && len > max
            {
                return Err(self.limit(
                    "xml.attribute_value_length_exceeded",
                    XmlNode::Attribute(name),
                    max,
                    format!("attribute value has {len} characters, more than the limit of {max}"),
                ));
            }
            self.stats.attributes += 1;
            self.emit(
                visit,
                XmlNode::Attribute(name),
                XmlEvent::Attribute { name, value },
            )?;
        }
        Ok(())
    }
}
