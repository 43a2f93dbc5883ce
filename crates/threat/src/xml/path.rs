//! XPath-like locations (`/order/item[2]/@sku`), kept as a view over the open-element stack.
//!
//! As for JSON, locations are offered to every visitor call and attached to every violation,
//! but rendered to text only when asked, so scanning allocates nothing per node for them.

use std::collections::HashMap;
use std::fmt;

/// Names longer than this are shortened when a path is rendered, so that an attacker-chosen
/// name cannot inflate an error message when name lengths are unlimited.
const MAX_RENDERED_NAME_CHARS: usize = 256;

/// One open element.
#[derive(Debug)]
pub(super) struct Frame {
    /// Where the element's name sits in the shared name arena.
    pub(super) name: std::ops::Range<usize>,
    /// 1-based position among preceding siblings with the same name (XPath `[n]`).
    pub(super) position: u32,
    /// Child nodes counted so far (see `XmlLimits::max_children_per_element`).
    pub(super) children: u64,
    /// How many child elements of each name were seen, to number the next one.
    /// Empty (and unallocated) for elements without element children.
    pub(super) child_names: HashMap<Box<str>, u32>,
}

/// What, inside the element path, a location points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlNode<'a> {
    /// The innermost element itself (or the document, when there is no element).
    Element,
    /// A text node (text, references and CDATA sections merged): `/text()`.
    Text,
    /// An attribute of the innermost element: `/@name`.
    Attribute(&'a str),
    /// A comment: `/comment()`.
    Comment,
    /// A processing instruction: `/processing-instruction('target')`.
    ProcessingInstruction(&'a str),
}

/// The location of a node, rendered on demand as `/order/item[2]/@sku`. The index is
/// omitted for the first element of a name (`item` means `item[1]`).
#[derive(Clone, Copy)]
pub struct XmlPath<'a> {
    names: &'a str,
    frames: &'a [Frame],
    node: XmlNode<'a>,
}

impl<'a> XmlPath<'a> {
    pub(super) fn new(names: &'a str, frames: &'a [Frame], node: XmlNode<'a>) -> Self {
        XmlPath {
            names,
            frames,
            node,
        }
    }

    /// Qualified names of the enclosing elements, outermost first, each with its position
    /// among same-named siblings.
    pub fn elements(&self) -> impl Iterator<Item = (&'a str, u32)> + 'a {
        let names = self.names;
        self.frames
            .iter()
            .map(move |f| (names.get(f.name.clone()).unwrap_or(""), f.position))
    }

    /// Number of enclosing elements (the root element has depth 1).
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// What the path points at inside the innermost element.
    pub fn node(&self) -> XmlNode<'a> {
        self.node
    }

    /// Renders the path, e.g. `/order/item[2]/@sku`.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for XmlPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, position) in self.elements() {
            f.write_str("/")?;
            write_name(f, name)?;
            if position > 1 {
                write!(f, "[{position}]")?;
            }
        }
        match self.node {
            XmlNode::Element if self.frames.is_empty() => f.write_str("/"),
            XmlNode::Element => Ok(()),
            XmlNode::Text => f.write_str("/text()"),
            XmlNode::Attribute(name) => {
                f.write_str("/@")?;
                write_name(f, name)
            }
            XmlNode::Comment => f.write_str("/comment()"),
            XmlNode::ProcessingInstruction(target) => {
                f.write_str("/processing-instruction('")?;
                write_name(f, target)?;
                f.write_str("')")
            }
        }
    }
}

impl fmt::Debug for XmlPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XmlPath({self})")
    }
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    match name.char_indices().nth(MAX_RENDERED_NAME_CHARS) {
        Some((cut, _)) => write!(f, "{}…", &name[..cut]),
        None => f.write_str(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(names: &str, name: &str, position: u32) -> Frame {
        let start = names.find(name).expect("name in arena");
        Frame {
            name: start..start + name.len(),
            position,
            children: 0,
            child_names: HashMap::new(),
        }
    }

    #[test]
    fn renders_elements_positions_and_nodes() {
        let names = "orderitemx:note";
        let frames = [frame(names, "order", 1), frame(names, "item", 2)];
        let at = |node| XmlPath::new(names, &frames, node).render();
        assert_eq!(at(XmlNode::Element), "/order/item[2]");
        assert_eq!(at(XmlNode::Attribute("sku")), "/order/item[2]/@sku");
        assert_eq!(at(XmlNode::Text), "/order/item[2]/text()");
        assert_eq!(at(XmlNode::Comment), "/order/item[2]/comment()");
        assert_eq!(
            at(XmlNode::ProcessingInstruction("pi")),
            "/order/item[2]/processing-instruction('pi')"
        );
        assert_eq!(XmlPath::new(names, &[], XmlNode::Element).render(), "/");
        assert_eq!(
            XmlPath::new(names, &[], XmlNode::Comment).render(),
            "/comment()"
        );
        let ns = [frame(names, "x:note", 1)];
        assert_eq!(XmlPath::new(names, &ns, XmlNode::Element).depth(), 1);
        assert_eq!(
            XmlPath::new(names, &ns, XmlNode::Element).render(),
            "/x:note"
        );
    }

    #[test]
    fn shortens_huge_names() {
        let name = "n".repeat(1000);
        let frames = [frame(&name, &name, 1)];
        let rendered = XmlPath::new(&name, &frames, XmlNode::Element).render();
        assert_eq!(rendered.chars().count(), 1 + MAX_RENDERED_NAME_CHARS + 1);
    }
}
