//! Whole-request inspection: splits a request into its values (path, query parameters and
//! names, selected headers, cookies, form fields, JSON strings and keys, XML text and
//! attributes) and runs [`Detector::inspect`] on each.
//!
//! Which headers: User-Agent, Referer and cookies always (classic injection carriers that
//! back ends log and parse); any non-standard header from paranoia 2 on. Never Authorization or
//! Proxy-Authorization: credentials are opaque, high-entropy and must not end up in findings.
//! Bodies are split by content type; a body without one is sniffed (JSON, XML, else a form, as
//! `curl -d` would send it), so omitting the header does not bypass inspection.

use std::borrow::Cow;
use std::ops::ControlFlow;

use quick_xml::events::Event;

use super::{Detector, Finding, Location};
use crate::json::{self, JsonEvent, JsonLimits};

/// At most this many findings are collected per request; one is enough to block.
pub const MAX_FINDINGS: usize = 16;

/// Headers defined by HTTP/fetch standards whose values are not free text an application
/// interprets (or, like Authorization, must never be inspected).
const STANDARD_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "access-control-request-headers",
    "access-control-request-method",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "dnt",
    "expect",
    "forwarded",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "origin",
    "pragma",
    "priority",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-user",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "upgrade-insecure-requests",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-request-id",
];

const NEVER_INSPECTED: &[&str] = &["authorization", "proxy-authorization"];

struct Collector<'d> {
    det: &'d Detector,
    findings: Vec<Finding>,
}

impl Collector<'_> {
    fn full(&self) -> bool {
        self.findings.len() >= MAX_FINDINGS
    }

    /// Inspects `value`, building the location only when the value is not trivially clean.
    fn check(&mut self, value: &str, loc: impl FnOnce() -> Location) {
        self.check_limited(value, loc, self.det.max_value_len);
    }

    fn check_limited(&mut self, value: &str, loc: impl FnOnce() -> Location, max: usize) {
        if self.full() || value.is_empty() || self.det.trivially_clean(value) {
            return;
        }
        let loc = loc();
        let allowed = self.det.allowed_classes(&loc);
        if allowed == 0 {
            return;
        }
        if let Some(f) = self.det.inspect_masked(&loc, value, allowed, max) {
            self.findings.push(f);
        }
    }

    fn pairs(
        &mut self,
        data: &[u8],
        value_loc: fn(String) -> Location,
        name_loc: fn(String) -> Location,
    ) {
        for (name, value) in form_urlencoded::parse(data) {
            if self.full() {
                return;
            }
            self.check(&name, || name_loc(name.to_string()));
            self.check(&value, || value_loc(name.to_string()));
        }
    }

    fn cookies(&mut self, header: &str) {
        for part in header.split(';') {
            let (name, value) = part.split_once('=').unwrap_or(("", part));
            let (name, value) = (name.trim(), value.trim());
            self.check(name, || Location::CookieName(name.to_owned()));
            self.check(value, || Location::Cookie(name.to_owned()));
        }
    }

    fn json(&mut self, body: &[u8]) -> bool {
        let mut visit = |path: &json::JsonPath<'_>, ev: JsonEvent<'_>| {
            match ev {
                JsonEvent::String(s) => self.check(&s, || Location::JsonValue(path.render())),
                JsonEvent::Key(k) => self.check(&k, || Location::JsonKey(path.render())),
                _ => {}
            }
            if self.full() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        json::scan(body, &JsonLimits::unlimited(), &mut visit).is_ok()
    }

    /// Walks XML text, CDATA and attribute values; entity references are passed through
    /// undecoded (`&lt;`) because the decoding chain decodes them anyway.
    fn xml(&mut self, body: &[u8]) -> bool {
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut stack: Vec<String> = Vec::new();
        let mut text = String::new();
        loop {
            if self.full() {
                return true;
            }
            let Ok(ev) = reader.read_event() else {
                return false;
            };
            match ev {
                Event::Text(t) => text.push_str(&t),
                Event::CData(t) => text.push_str(&t),
                Event::GeneralRef(r) => {
                    text.push('&');
                    text.push_str(&r);
                    text.push(';');
                }
                Event::Start(_) | Event::End(_) | Event::Empty(_) | Event::Eof => {
                    self.flush_xml_text(&mut text, &stack);
                    match ev {
                        Event::Start(ref e) | Event::Empty(ref e) => {
                            let name: String = e.name().as_ref().to_owned();
                            for attr in e.attributes().flatten() {
                                let key: String = attr.key.as_ref().to_owned();
                                let val = &attr.value;
                                self.check(val, || {
                                    Location::XmlValue(format!("{}/{name}/@{key}", xpath(&stack)))
                                });
                            }
                            if matches!(ev, Event::Start(_)) {
                                stack.push(name);
                            }
                        }
                        Event::End(_) => {
                            stack.pop();
                        }
                        _ => return true,
                    }
                }
                _ => {}
            }
        }
    }

    fn flush_xml_text(&mut self, text: &mut String, stack: &[String]) {
        let trimmed = text.trim();
        if !trimmed.is_empty() {
            self.check(trimmed, || Location::XmlValue(xpath(stack)));
        }
        text.clear();
    }
}

fn xpath(stack: &[String]) -> String {
    if stack.is_empty() {
        return "/".to_owned();
    }
    stack.iter().fold(String::new(), |mut s, n| {
        s.push('/');
        s.push_str(n);
        s
    })
}

/// The body kinds `inspect_request` knows how to split into values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Xml,
    Raw,
}

fn body_kind(content_type: Option<&str>, body: &[u8]) -> BodyKind {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/x-www-form-urlencoded") => BodyKind::Form,
        Some(m) if m == "application/json" || m.ends_with("+json") => BodyKind::Json,
        Some(m) if m == "application/xml" || m == "text/xml" || m.ends_with("+xml") => {
            BodyKind::Xml
        }
        Some(_) => BodyKind::Raw,
        None => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => BodyKind::Json,
            Some(b'<') => BodyKind::Xml,
            _ => BodyKind::Form,
        },
    }
}

impl Detector {
    /// Whether `value` is too plain to match anything (see `fast_path`).
    pub(crate) fn trivially_clean(&self, value: &str) -> bool {
        self.fast_path
            && value.len() <= 256
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b' '))
            && !self.engine.word_may_match(value)
    }

    /// Inspects a whole request and returns every finding (at most [`MAX_FINDINGS`]).
    ///
    /// `path` is the request path as received (percent-encoded), `raw_query` the part after
    /// `?`, `headers` the header (name, value) pairs, `content_type` the body's media type and
    /// `body` its bytes (only the first `max_body_len` bytes are inspected). JSON bodies that
    /// fail to parse and bodies of other types are inspected as one value.
    pub fn inspect_request<'h>(
        &self,
        path: &str,
        raw_query: Option<&str>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Vec<Finding> {
        let mut c = Collector {
            det: self,
            findings: Vec::new(),
        };
        c.check(path, || Location::Path);
        if let Some(q) = raw_query {
            c.pairs(q.as_bytes(), Location::QueryParam, Location::QueryParamName);
        }
        for (name, value) in headers {
            let lname = name.to_ascii_lowercase();
            if NEVER_INSPECTED.contains(&lname.as_str()) {
                continue;
            }
            let value = String::from_utf8_lossy(value);
            match lname.as_str() {
                "cookie" => c.cookies(&value),
                "user-agent" | "referer" => c.check(&value, || Location::Header(lname.clone())),
                _ if self.paranoia >= 2 && !STANDARD_HEADERS.contains(&lname.as_str()) => {
                    c.check(&value, || Location::Header(lname.clone()));
                }
                _ => {}
            }
        }
        if let Some(body) = body.filter(|b| !b.is_empty()) {
            let body = &body[..body.len().min(self.max_body_len)];
            let ok = match body_kind(content_type, body) {
                BodyKind::Form => {
                    c.pairs(body, Location::FormField, Location::FormFieldName);
                    true
                }
                BodyKind::Json => c.json(body),
                BodyKind::Xml => c.xml(body),
                BodyKind::Raw => false,
            };
            if !ok {
                let text: Cow<'_, str> = String::from_utf8_lossy(body);
                c.check_limited(&text, || Location::Body, self.max_body_len);
            }
        }
        c.findings
    }
}
