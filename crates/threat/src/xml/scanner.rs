//! The streaming XML pass over quick-xml's pull parser.
//!
//! quick-xml never expands entities and never reads external resources, which is the property
//! that makes the entity attacks harmless here: references are reported as they are written,
//! and this module decides whether they are allowed. quick-xml checks end-tag names and tag
//! syntax; document-level well-formedness (one root, no text outside it, nothing left open,
//! declaration first) is checked here, as are all limits.

use std::borrow::Cow;
use std::ops::ControlFlow;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesDecl, BytesRef, BytesStart, Event};

use super::path::{Frame, XmlNode, XmlPath};
use super::{XmlEvent, XmlLimits, XmlStats};
use crate::Violation;

/// What stopped the scan early.
pub(super) enum Stop {
    Invalid(u64, String),
    Violation(Violation),
    Visitor,
}

pub(super) fn is_xml_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

pub(super) struct Scanner<'a, 'l> {
    pub(super) limits: &'l XmlLimits,
    reader: Reader<&'a [u8]>,
    /// Bytes skipped before the reader's input (a byte-order mark), for error offsets.
    base: u64,
    pub(super) frames: Vec<Frame>,
    /// Names of the open elements, back to back; frames hold ranges into it.
    pub(super) names: String,
    pub(super) stats: XmlStats,
    pub(super) root_seen: bool,
    /// The text node being assembled from Text, CDATA and reference events.
    pending: Option<Cow<'a, str>>,
    pending_chars: u64,
}

impl<'a, 'l> Scanner<'a, 'l> {
    pub(super) fn new(text: &'a str, base: u64, limits: &'l XmlLimits) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.allow_dangling_amp = false;
        config.allow_unmatched_ends = false;
        config.expand_empty_elements = false;
        Scanner {
            limits,
            reader,
            base,
            frames: Vec::new(),
            names: String::new(),
            stats: XmlStats::default(),
            root_seen: false,
            pending: None,
            pending_chars: 0,
        }
    }

    pub(super) fn run<V>(&mut self, visit: &mut V) -> Result<(), Stop>
    where
        V: FnMut(&XmlPath<'_>, XmlEvent<'_>) -> ControlFlow<()> + ?Sized,
    {
        let mut first = true;
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    return Err(Stop::Invalid(
                        self.base + self.reader.error_position(),
                        e.to_string(),
                    ));
                }
            };
            let is_first = std::mem::take(&mut first);
            match event {
                Event::Text(t) => self.text(t.xml10_content())?,
                Event::CData(c) => {
                    self.require_element("CDATA section outside the root element")?;
                    self.add_text(c.xml10_content())?;
                }
                Event::GeneralRef(r) => self.reference(&r)?,
                Event::Decl(d) if is_first => self.declared_encoding(&d)?,
                Event::Decl(_) => {
                    return Err(self.invalid("XML declaration is not at the start of the document"));
                }
                event => {
                    self.flush_text(visit)?;
                    match event {
                        Event::Start(e) => self.open(&e, visit)?,
                        Event::Empty(e) => {
                            self.open(&e, visit)?;
                            self.close();
                        }
                        Event::End(_) => self.close(),
                        Event::Comment(c) => self.comment(&c.xml10_content())?,
                        Event::PI(pi) => self.processing_instruction(pi.target(), pi.content())?,
                        Event::DocType(d) => self.doctype(&d.xml10_content())?,
                        Event::Eof => return self.finish(),
                        Event::Text(_)
                        | Event::CData(_)
                        | Event::GeneralRef(_)
                        | Event::Decl(_) => {}
                    }
                }
            }
        }
    }

    fn finish(&self) -> Result<(), Stop> {
        if let Some(frame) = self.frames.last() {
            let name = self.names.get(frame.name.clone()).unwrap_or_default();
            return Err(self.invalid(&format!("element <{name}> is not closed")));
        }
        if !self.root_seen {
            return Err(self.invalid("no root element"));
        }
        Ok(())
    }

    fn text(&mut self, text: Cow<'a, str>) -> Result<(), Stop> {
        if self.frames.is_empty() {
            if text.chars().all(is_xml_whitespace) {
                return Ok(());
            }
            return Err(self.invalid("text outside the root element"));
        }
        self.add_text(text)
    }

    fn reference(&mut self, r: &BytesRef<'a>) -> Result<(), Stop> {
        self.require_element("reference outside the root element")?;
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => self.add_text(Cow::Owned(c.to_string())),
                Ok(None) | Err(_) => {
                    Err(self.invalid(&format!("invalid character reference &{};", &**r)))
                }
            };
        }
        if let Some(replacement) = resolve_xml_entity(r) {
            return self.add_text(Cow::Borrowed(replacement));
        }
        if !self.limits.allow_entity_references {
            return Err(self.entity_forbidden(r, XmlNode::Text));
        }
        // Allowed but never expanded: the text keeps the reference as written.
        self.add_text(Cow::Owned(format!("&{};", &**r)))
    }

    pub(super) fn entity_forbidden(&self, name: &str, node: XmlNode<'_>) -> Stop {
        Stop::Violation(Violation {
            code: "xml.entity_reference_forbidden",
            path: self.path(node).render(),
            limit: None,
            detail: format!(
                "reference to entity &{name}; (only the predefined XML entities and character references are allowed)"
            ),
        })
    }

    fn add_text(&mut self, piece: Cow<'a, str>) -> Result<(), Stop> {
        self.pending_chars += piece.chars().count() as u64;
        if let Some(max) = self.limits.max_text_length
            && self.pending_chars > max
        {
            return Err(self.limit(
                "xml.text_length_exceeded",
                XmlNode::Text,
                max,
                format!("text node is longer than {max} characters"),
            ));
        }
        match &mut self.pending {
            None => self.pending = Some(piece),
            Some(text) => text.to_mut().push_str(&piece),
        }
        Ok(())
    }

    fn flush_text<V>(&mut self, visit: &mut V) -> Result<(), Stop>
    where
        V: FnMut(&XmlPath<'_>, XmlEvent<'_>) -> ControlFlow<()> + ?Sized,
    {
        self.pending_chars = 0;
        let Some(text) = self.pending.take() else {
            return Ok(());
        };
        // Whitespace between elements carries nothing worth counting or inspecting.
        if text.chars().all(is_xml_whitespace) {
            return Ok(());
        }
        self.count_child()?;
        self.stats.text_nodes += 1;
        self.emit(visit, XmlNode::Text, XmlEvent::Text(text))
    }

    fn open<V>(&mut self, e: &BytesStart<'_>, visit: &mut V) -> Result<(), Stop>
    where
        V: FnMut(&XmlPath<'_>, XmlEvent<'_>) -> ControlFlow<()> + ?Sized,
    {
        if self.frames.is_empty() && self.root_seen {
            return Err(self.invalid("more than one root element"));
        }
        self.root_seen = true;
        let name = e.name().0;
        self.count_child()?;
        self.check_name(
            name,
            self.limits.max_element_name_length,
            XmlNode::Element,
            "element",
        )?;
        let depth = self.frames.len() as u64 + 1;
        let position = match self.frames.last_mut() {
            // Look up before inserting: `entry` would allocate the key for every sibling.
            Some(parent) => match parent.child_names.get_mut(name) {
                Some(n) => {
                    *n += 1;
                    *n
                }
                None => {
                    parent.child_names.insert(name.into(), 1);
                    1
                }
            },
            None => 1,
        };
        let start = self.names.len();
        self.names.push_str(name);
        self.frames.push(Frame {
            name: start..self.names.len(),
            position,
            children: 0,
            child_names: Default::default(),
        });
        if let Some(max) = self.limits.max_depth
            && depth > u64::from(max)
        {
            return Err(self.limit(
                "xml.depth_exceeded",
                XmlNode::Element,
                u64::from(max),
                format!("elements nested more than {max} deep"),
            ));
        }
        self.stats.elements += 1;
        self.stats.max_depth = self.stats.max_depth.max(depth as u32);
        self.attributes(e, visit)
    }

    fn close(&mut self) {
        if let Some(frame) = self.frames.pop() {
            self.names.truncate(frame.name.start);
        }
    }

    fn count_child(&mut self) -> Result<(), Stop> {
        let Some(parent) = self.frames.last_mut() else {
            return Ok(());
        };
        parent.children += 1;
        match self.limits.max_children_per_element {
            Some(max) if parent.children > max => Err(self.limit(
                "xml.children_exceeded",
                XmlNode::Element,
                max,
                format!("element has more than {max} child nodes"),
            )),
            _ => Ok(()),
        }
    }

    fn comment(&mut self, text: &str) -> Result<(), Stop> {
        self.count_child()?;
        let len = text.chars().count() as u64;
        match self.limits.max_comment_length {
            Some(max) if len > max => Err(self.limit(
                "xml.comment_length_exceeded",
                XmlNode::Comment,
                max,
                format!("comment has {len} characters, more than the limit of {max}"),
            )),
            _ => Ok(()),
        }
    }

    fn processing_instruction(&mut self, target: &str, content: &str) -> Result<(), Stop> {
        if target.eq_ignore_ascii_case("xml") {
            return Err(self.invalid("XML declaration is not at the start of the document"));
        }
        self.count_child()?;
        let len = (target.chars().count() + content.chars().count()) as u64;
        match self.limits.max_pi_data_length {
            Some(max) if len > max => Err(self.limit(
                "xml.pi_length_exceeded",
                XmlNode::ProcessingInstruction(target),
                max,
                format!(
                    "processing instruction has {len} characters, more than the limit of {max}"
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn check_name(
        &self,
        name: &str,
        max: Option<u64>,
        node: XmlNode<'_>,
        what: &str,
    ) -> Result<(), Stop> {
        let len = name.chars().count() as u64;
        if let Some(max) = max
            && len > max
        {
            return Err(self.limit(
                "xml.name_length_exceeded",
                node,
                max,
                format!("{what} name has {len} characters, more than the limit of {max}"),
            ));
        }
        if let Some((prefix, _)) = name.split_once(':') {
            self.check_prefix(prefix)?;
        }
        Ok(())
    }

    pub(super) fn check_prefix(&self, prefix: &str) -> Result<(), Stop> {
        let len = prefix.chars().count() as u64;
        match self.limits.max_namespace_prefix_length {
            Some(max) if len > max => Err(self.limit(
                "xml.name_length_exceeded",
                XmlNode::Element,
                max,
                format!("namespace prefix has {len} characters, more than the limit of {max}"),
            )),
            _ => Ok(()),
        }
    }

    fn require_element(&self, reason: &str) -> Result<(), Stop> {
        if self.frames.is_empty() {
            Err(self.invalid(reason))
        } else {
            Ok(())
        }
    }

    pub(super) fn emit<V>(
        &self,
        visit: &mut V,
        node: XmlNode<'_>,
        event: XmlEvent<'_>,
    ) -> Result<(), Stop>
    where
        V: FnMut(&XmlPath<'_>, XmlEvent<'_>) -> ControlFlow<()> + ?Sized,
    {
        match visit(&self.path(node), event) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Stop::Visitor),
        }
    }

    pub(super) fn path<'s>(&'s self, node: XmlNode<'s>) -> XmlPath<'s> {
        XmlPath::new(&self.names, &self.frames, node)
    }

    /// The declaration may name only an encoding under which the back end reads the bytes as
    /// this scan does (see the module's notes).
    fn declared_encoding(&self, decl: &BytesDecl<'_>) -> Result<(), Stop> {
        let Some(name) = decl.encoding() else {
            return Ok(());
        };
        let name = name.map_err(|_| self.invalid("unreadable encoding declaration"))?;
        if crate::charset::reads_as_checked(&name) {
            Ok(())
        } else {
            Err(self.invalid(&format!(
                "declared encoding {name:?} is not UTF-8 or an ASCII-preserving one"
            )))
        }
    }

    pub(super) fn invalid(&self, reason: &str) -> Stop {
        Stop::Invalid(self.base + self.reader.buffer_position(), reason.to_owned())
    }

    pub(super) fn limit(
        &self,
        code: &'static str,
        node: XmlNode<'_>,
        limit: u64,
        detail: String,
    ) -> Stop {
        Stop::Violation(Violation {
            code,
            path: self.path(node).render(),
            limit: Some(limit),
            detail,
        })
    }
}
