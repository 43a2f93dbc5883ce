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
use std::collections::HashSet;
use std::ops::ControlFlow;

use aho_corasick::Anchored;
use aho_corasick::automaton::Automaton;
use quick_xml::events::Event;

use super::decode::Views;
use super::{Detector, Finding, Location};
use crate::json::{self, JsonEvent, JsonLimits, JsonText, JsonView};

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

struct Collector<'d, 'v> {
    det: &'d Detector,
    findings: Vec<Finding>,
    /// Decoding scratch shared by every value of the request.
    views: Views,
    /// Diagnostics mode (`Detector::explain_request`): every rule that matches each value,
    /// no cap.
    explain: bool,
    /// Short values already found clean in this request ([`MEMO_MAX_LEN`]), among those the
    /// prefilter does not skip. A JSON array of
    /// objects repeats its keys in every element, and enumerations (currencies, states, tags)
    /// repeat too; the verdict only depends on the value (with no exclusions, every location
    /// allows the same classes), so a repeat is not inspected again. Strings of the caller's
    /// JSON tape are remembered borrowed, without a copy.
    clean: HashSet<Cow<'v, str>, foldhash::fast::RandomState>,
    /// Whether `clean` may be used: no exclusions and not in diagnostics mode.
    memo: bool,
}

/// Values up to this many bytes are remembered as clean (keys, enumerations, identifiers);
/// longer ones rarely repeat.
const MEMO_MAX_LEN: usize = 64;
/// Bytes reserved in each decoding buffer on a request's first inspected value.
const VIEWS_CAPACITY: usize = 512;
/// At most this many clean values are remembered per request (bounded memory: 64 KiB of text).
const MEMO_MAX_ENTRIES: usize = 1024;

impl<'v> Collector<'_, 'v> {
    fn full(&self) -> bool {
        !self.explain && self.findings.len() >= MAX_FINDINGS
    }

    /// Inspects `value`, building the location only when the value is not trivially clean.
    fn check(&mut self, value: &str, loc: impl FnOnce() -> Location) {
        self.check_limited(value, loc, self.det.max_value_len);
    }

    fn check_limited(&mut self, value: &str, loc: impl FnOnce() -> Location, max: usize) {
        self.check_memoised(value, None, loc, max);
    }

    /// [`Collector::check`] for a string of the caller's JSON tape, which outlives the
    /// collector: the memo keeps it without copying it.
    #[inline]
    fn check_lasting(&mut self, value: &'v str, loc: impl FnOnce() -> Location) {
        self.check_memoised(value, Some(value), loc, self.det.max_value_len);
    }

    /// `lasting` is `value` itself when it outlives the collector. Inlined: called for every
    /// key and string of a body, and most return at the prefilter.
    #[inline]
    fn check_memoised(
        &mut self,
        value: &str,
        lasting: Option<&'v str>,
        loc: impl FnOnce() -> Location,
        max: usize,
    ) {
        // The prefilter before the memo: for a short value it costs less than a hash lookup,
        // and a value it skips need not be remembered (fewer, cheaper lookups and inserts).
        if self.full() || value.is_empty() || self.det.trivially_clean(value) {
            return;
        }
        let memo = self.memo && max == self.det.max_value_len && value.len() <= MEMO_MAX_LEN;
        if memo && self.clean.contains(value) {
            return;
        }
        let before = self.findings.len();
        self.check_uncached(value, loc, max);
        if memo && self.findings.len() == before && self.clean.len() < MEMO_MAX_ENTRIES {
            let key = lasting.map_or_else(|| Cow::Owned(value.to_owned()), Cow::Borrowed);
            self.clean.insert(key);
        }
    }

    /// Inspects `value`, which the prefilter did not skip.
    fn check_uncached(&mut self, value: &str, loc: impl FnOnce() -> Location, max: usize) {
        // The location (a rendered JSONPath, a header name) is only needed for exclusions and
        // findings: most values have neither.
        let mut loc = LazyLocation::new(loc);
        let allowed = if self.det.exclusions.is_empty() {
            self.det.class_mask
        } else {
            self.det.allowed_classes(loc.get())
        };
        if allowed == 0 {
            return;
        }
        if self.explain {
            let shown = loc.get().to_string();
            let strings = embedded_json_strings(value).unwrap_or_else(|| vec![value.to_owned()]);
            for id in strings
                .iter()
                .flat_map(|v| self.det.explain_value(v, allowed, max))
            {
                self.findings.push(Finding {
                    class: super::AttackClass::Sqli,
                    rule_id: id,
                    location: shown.clone(),
                    fragment: String::new(),
                });
            }
            return;
        }
        if let Some(strings) = embedded_json_strings(value) {
            // A JSON document carried inside a value (`?filter={"a":"b"}`, a JSON string in a
            // JSON body): what the back end will read are its strings and keys, unescaped.
            for s in &strings {
                if self.full() {
                    return;
                }
                if !s.is_empty() && !self.det.trivially_clean(s) {
                    self.inspect_one(&mut loc, s, allowed, max);
                }
            }
            return;
        }
        self.inspect_one(&mut loc, value, allowed, max);
    }

    fn inspect_one<F: FnOnce() -> Location>(
        &mut self,
        loc: &mut LazyLocation<F>,
        value: &str,
        allowed: u8,
        max: usize,
    ) {
        if self.views.text.capacity() == 0 {
            // Once per request that inspects anything: most values fit, so the buffers do not
            // grow value by value.
            self.views.reserve(VIEWS_CAPACITY);
        }
        if let Some(d) = self.det.detect(value, allowed, max, &mut self.views) {
            self.findings.push(d.at(loc.get()));
        }
    }

    fn pairs(
        &mut self,
        data: &[u8],
        value_loc: fn(String) -> Location,
        name_loc: fn(String) -> Location,
    ) {
        let pairs: Vec<_> = form_urlencoded::parse(data).collect();
        for (name, value) in &pairs {
            if self.full() {
                return;
            }
            self.check(name, || name_loc(name.to_string()));
            self.check(value, || value_loc(name.to_string()));
        }
        self.repeated(&pairs, value_loc);
    }

    /// A parameter given more than once is also inspected as ASP.NET reads it: its values
    /// joined with `,` (`?id=1 union/*&id=*/select…` is `1 union/*,*/select…` there), so an
    /// attack split over repeats (HTTP parameter pollution) is judged whole.
    fn repeated(
        &mut self,
        pairs: &[(Cow<'_, str>, Cow<'_, str>)],
        value_loc: fn(String) -> Location,
    ) {
        if pairs.len() < 2 {
            return;
        }
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        // Stable: the values of one name keep the request's order.
        order.sort_by(|&a, &b| pairs[a].0.cmp(&pairs[b].0));
        for run in order.chunk_by(|&a, &b| pairs[a].0 == pairs[b].0) {
            if run.len() < 2 || self.full() {
                continue;
            }
            let joined = run
                .iter()
                .map(|&i| &*pairs[i].1)
                .collect::<Vec<_>>()
                .join(",");
            let name = &pairs[run[0]].0;
            self.check(&joined, || value_loc(name.to_string()));
        }
    }

    /// A header whose value is a URL (Referer, `X-Original-URL`...): besides the whole value,
    /// its query and fragment parameters are inspected one by one, as the request's own query
    /// would be (the page that sent the request is as attacker-controlled as the request).
    fn url_params(&mut self, value: &str, name: &str) {
        let Some(start) = value.find(['?', '#']) else {
            return;
        };
        for part in value[start + 1..].split('#') {
            let part = part.strip_prefix('?').unwrap_or(part);
            if !part.contains('=') {
                continue;
            }
            for (k, v) in form_urlencoded::parse(part.as_bytes()) {
                if self.full() {
                    return;
                }
                self.check(&k, || Location::Header(name.to_owned()));
                self.check(&v, || Location::Header(name.to_owned()));
            }
        }
    }

    /// `multipart/form-data`: every part's field name, file name and (for text parts) content.
    fn multipart(&mut self, body: &[u8], boundary: &str) -> bool {
        let Some(parts) = multipart_parts(body, boundary) else {
            return false;
        };
        for part in parts {
            if self.full() {
                break;
            }
            let name = part.name.unwrap_or_default();
            self.check(&name, || Location::FormFieldName(name.clone()));
            for file in part.filename.iter().chain(&part.filename_ext) {
                self.check(file, || Location::FormField(format!("{name}.filename")));
            }
            if part.text {
                let value = String::from_utf8_lossy(part.content);
                self.check(&value, || Location::FormField(name.clone()));
                // Go's multipart reader hands the application the decoded text of a
                // quoted-printable part (`=27` is `'`); other readers hand it the raw text.
                if part.quoted_printable
                    && let Ok(decoded) =
                        quoted_printable::decode(part.content, quoted_printable::ParseMode::Robust)
                    && decoded != part.content
                {
                    let decoded = String::from_utf8_lossy(&decoded);
                    self.check(&decoded, || Location::FormField(name.clone()));
                }
            }
        }
        true
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

    /// [`Collector::json`] over a tape: the same values in the same order. Without exclusions
    /// and outside diagnostics, only a finding needs a location, so the tape is read in order
    /// without tracking paths and a location is rendered for a finding alone (at most
    /// [`MAX_FINDINGS`] walks). Exclusions and diagnostics ask for the location of every
    /// inspected value, so they walk with the path at hand instead.
    fn json_doc(&mut self, view: JsonView<'v>) {
        if !self.det.exclusions.is_empty() || self.explain {
            self.json_doc_with_paths(view);
            return;
        }
        for (idx, text) in view.texts() {
            match text {
                JsonText::String(s) => self.check_lasting(s, || {
                    Location::JsonValue(view.path_at(idx).unwrap_or_default())
                }),
                JsonText::Key(k) => self.check_lasting(k, || {
                    Location::JsonKey(view.path_at(idx).unwrap_or_default())
                }),
            }
            if self.full() {
                return;
            }
        }
    }

    /// [`Collector::json_doc`] with every value's path tracked as the tape is walked.
    fn json_doc_with_paths(&mut self, view: JsonView<'v>) {
        view.visit(&mut |path: &json::JsonPath<'_>, ev: JsonEvent<'v>| {
            match ev {
                JsonEvent::String(Cow::Borrowed(s)) => {
                    self.check_lasting(s, || Location::JsonValue(path.render()));
                }
                JsonEvent::Key(Cow::Borrowed(k)) => {
                    self.check_lasting(k, || Location::JsonKey(path.render()));
                }
                JsonEvent::String(s) => self.check(&s, || Location::JsonValue(path.render())),
                JsonEvent::Key(k) => self.check(&k, || Location::JsonKey(path.render())),
                JsonEvent::Number(_) => {}
            }
            if self.full() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }

    /// Walks XML text, CDATA and attribute values; entity references are passed through
    /// undecoded (`&lt;`) because the decoding chain decodes them anyway. Returns whether the
    /// body was a well-formed document (one named root, every element closed); if not, the
    /// caller also inspects it as raw text (`<>`, `<a>` followed by text are not XML).
    fn xml(&mut self, body: &[u8]) -> bool {
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut stack: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut roots = 0usize;
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
                            if name.is_empty() {
                                return false;
                            }
                            roots += usize::from(stack.is_empty());
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
                        _ => return roots == 1 && stack.is_empty(),
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

/// At most this many strings are taken out of a JSON document embedded in a value.
const MAX_EMBEDDED_STRINGS: usize = 256;

/// The string values and keys of a JSON object or array carried as a value, or `None` if the
/// value is not one (only values starting with `{` or `[` are tried, and only one level deep:
/// a document inside those strings is inspected as text).
fn embedded_json_strings(value: &str) -> Option<Vec<String>> {
    let t = value.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) || !t.trim_end().ends_with(['}', ']']) {
        return None;
    }
    let mut out = Vec::new();
    let mut visit = |_: &json::JsonPath<'_>, ev: JsonEvent<'_>| {
        match ev {
            JsonEvent::String(s) | JsonEvent::Key(s) => out.push(s.into_owned()),
            _ => {}
        }
        if out.len() >= MAX_EMBEDDED_STRINGS {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    json::scan(t.as_bytes(), &JsonLimits::unlimited(), &mut visit)
        .is_ok()
        .then_some(out)
}

/// A location built on first use.
struct LazyLocation<F> {
    make: Option<F>,
    built: Option<Location>,
}

impl<F: FnOnce() -> Location> LazyLocation<F> {
    fn new(make: F) -> Self {
        LazyLocation {
            make: Some(make),
            built: None,
        }
    }

    fn get(&mut self) -> &Location {
        let make = &mut self.make;
        self.built
            .get_or_insert_with(|| make.take().map_or(Location::Body, |f| f()))
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

/// One part of a `multipart/form-data` body.
struct Part<'a> {
    name: Option<String>,
    filename: Option<String>,
    /// `filename*` (RFC 6266 §4.3, RFC 8187), decoded: Spring and Go prefer it to `filename`.
    filename_ext: Option<String>,
    /// Whether the content is inspected: a field (no file name), whatever content type it
    /// declares, since PHP, Tomcat and Spring hand such a part to the application as a
    /// parameter string; or a file whose content type is text, JSON, XML or a form. Binary
    /// uploads (images, archives) are not read as text.
    text: bool,
    /// `Content-Transfer-Encoding: quoted-printable` (deprecated by RFC 7578 §4.7, still
    /// decoded by some readers).
    quoted_printable: bool,
    content: &'a [u8],
}

/// At most this many multipart parts are split out; the rest of the body is not looked at
/// part by part (the inspected body is bounded by `max_body_len` anyway).
const MAX_PARTS: usize = 256;

/// Splits a `multipart/form-data` body (RFC 7578) into parts. Lenient on purpose: LF or CRLF
/// line ends, missing final delimiter, quoted or bare parameters; it only has to find what a
/// back end's parser would find. `None` if the boundary never occurs (then the body is
/// inspected as one raw value). Hand-written because the maintained multipart crates are
/// async streaming parsers that stop at the first malformed byte.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delim = format!("--{boundary}");
    let finder = aho_corasick::AhoCorasick::new([delim.as_bytes()]).ok()?;
    let starts: Vec<usize> = finder
        .find_iter(body)
        .take(MAX_PARTS + 1)
        .map(|m| m.start())
        .collect();
    if starts.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for w in 0..starts.len() {
        let begin = starts[w] + delim.len();
        let end = starts.get(w + 1).copied().unwrap_or(body.len());
        let chunk = &body[begin.min(end)..end];
        if chunk.starts_with(b"--") {
            break;
        }
        let chunk = strip_line_end_prefix(chunk);
        let (head, content) = split_head(chunk);
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        let head = String::from_utf8_lossy(head);
        let mut part = Part {
            name: None,
            filename: None,
            filename_ext: None,
            text: true,
            quoted_printable: false,
            content,
        };
        let mut text_type = true;
        for line in head.lines() {
            let Some((hname, hvalue)) = line.split_once(':') else {
                continue;
            };
            let hname = hname.trim().to_ascii_lowercase();
            if hname == "content-disposition" {
                part.name = disposition_param(hvalue, "name");
                part.filename = disposition_param(hvalue, "filename");
                part.filename_ext =
                    disposition_param(hvalue, "filename*").map(|v| extended_value(&v));
            } else if hname == "content-type" {
                let media = hvalue.trim().to_ascii_lowercase();
                text_type = media.starts_with("text/")
                    || media.contains("json")
                    || media.contains("xml")
                    || media.starts_with("application/x-www-form-urlencoded");
            } else if hname == "content-transfer-encoding" {
                part.quoted_printable = hvalue.trim().eq_ignore_ascii_case("quoted-printable");
            }
        }
        let file = part.filename.is_some() || part.filename_ext.is_some();
        part.text = !file || text_type;
        parts.push(part);
    }
    Some(parts)
}

fn strip_line_end_prefix(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\r\n")
        .or_else(|| b.strip_prefix(b"\n"))
        .unwrap_or(b)
}

/// Splits a part at the first empty line into (headers, content).
fn split_head(b: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in b.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&b[..i], &b[i + 2..]);
        }
        if w == b"\n\r" && b.get(i + 2) == Some(&b'\n') {
            return (&b[..i], &b[i + 3..]);
        }
    }
    (b, &[])
}

/// An RFC 8187 extended value (`UTF-8'en'%2E%2E%2Fx`) as its text: the charset and language
/// dropped, the percent-encoding undone (lossily: what matters is the ASCII an attack needs).
fn extended_value(value: &str) -> String {
    let encoded = value.splitn(3, '\'').nth(2).unwrap_or(value);
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// A parameter of a Content-Disposition value (`name="a"`, `filename=b.txt`).
fn disposition_param(value: &str, key: &str) -> Option<String> {
    for param in value.split(';').skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(key) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .map_or(v, |inner| inner.strip_suffix('"').unwrap_or(inner));
            return Some(v.to_owned());
        }
    }
    None
}

/// The boundary parameter of a multipart content type.
fn boundary_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// Longer values are not prefiltered: they are nearly always prose or documents, in which
/// some gate literal occurs, and the scan would only add to their inspection (with 1 KiB, the
/// bench body's product descriptions, scanned in full for nothing, cost more than the
/// prefilter saved).
const PREFILTER_MAX_LEN: usize = 64;

/// The bytes [`Detector::trivially_clean`] lets through: printable ASCII and the space, but
/// not the bytes decoding acts on (`%`, `&`, `\`), the shell quoting bytes (`\`, `'`, `"`, `^`,
/// `$`) nor those the tokenising detectors' preconditions look for (quotes, backtick, `#`,
/// `<`, `=`).
const PREFILTER_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b' ';
    while b < 0x7f {
        t[b as usize] = true;
        b += 1;
    }
    let excluded = b"%&\\'\"`#^$<=";
    let mut i = 0;
    while i < excluded.len() {
        t[excluded[i] as usize] = false;
        i += 1;
    }
    t
};

/// What the prefilter's automaton looks for besides the gate literals: each byte
/// [`PREFILTER_BYTES`] excludes and the pairs (double space, `--`, `/*`). A value contains none
/// of them exactly when the byte conditions of [`Detector::trivially_clean`] hold.
pub(super) fn screen_literals() -> Vec<Vec<u8>> {
    (0..=u8::MAX)
        .filter(|&b| !PREFILTER_BYTES[usize::from(b)])
        .map(|b| vec![b])
        .chain([b"  ".to_vec(), b"--".to_vec(), b"/*".to_vec()])
        .collect()
}

/// The body kinds `inspect_request` knows how to split into values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Xml,
    Multipart,
    Raw,
}

fn body_kind(content_type: Option<&str>, body: &[u8]) -> BodyKind {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/x-www-form-urlencoded") => BodyKind::Form,
        Some("multipart/form-data") => BodyKind::Multipart,
        // ASP.NET Core parses `text/json` as JSON too.
        Some(m) if m == "application/json" || m == "text/json" || m.ends_with("+json") => {
            BodyKind::Json
        }
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
    /// The prefilter: whether `value` provably cannot match anything, so that it skips
    /// decoding and every check (`Detector::detect`).
    ///
    /// Why it is sound: with only managed rules (every rule gated, see below), a value is
    /// skipped only when all of these hold:
    ///
    /// 1. its bytes are printable ASCII except `%`, `&`, `\`, `'`, `"`, backtick, `#`, `^`,
    ///    `$`, `<` and `=`, and its spaces are single (no TAB, CR, LF, VT, FF or NUL either).
    ///    Without `%`, `&`, `\` and NUL, percent, entity and escape decoding are the identity,
    ///    ASCII is NFKC-normal, and with single spaces collapsing white space changes nothing:
    ///    the decoded view is the value and `text` is the value lower-cased. Without `\ ' " ^
    ///    $`, `shell` is `text` too;
    /// 2. no gate literal occurs in it (the automaton ignores ASCII case, so that is no gate
    ///    literal in `text` or `shell`): every managed class is closed, and a managed rule only
    ///    counts when its class is open (`PatternEngine::find`);
    /// 3. the tokenising detectors are not asked: libinjection's SQL check needs a quote,
    ///    backtick, `#`, `--` or `/*` in `text` (`may_be_sql`), its HTML check `<` or `=`
    ///    (`may_be_html`); none is in the value, so none is in `text`.
    ///
    /// Every property is an absence, so it also holds for the value cut at a length limit
    /// and for the strings of a JSON document embedded in the value (substrings of it: without
    /// `\` a JSON string is its raw bytes). Classes without a gate and custom rules (not
    /// gated: nothing says they need the managed literals) turn the prefilter off.
    /// `prefilter_skips_only_clean_values` checks the claim on random values.
    pub(crate) fn trivially_clean(&self, value: &str) -> bool {
        if !self.fast_path || value.len() > PREFILTER_MAX_LEN {
            return false;
        }
        // One automaton for all three conditions of point 1 and 2 (`screen_literals`): a
        // table lookup per byte.
        let Some(dfa) = &self.screen else {
            return false;
        };
        let Ok(mut sid) = dfa.start_state(Anchored::No) else {
            return false;
        };
        if dfa.is_match(sid) {
            return false;
        }
        for b in value.bytes() {
            sid = dfa.next_state(Anchored::No, sid, b);
            // A match state: a gate literal, an excluded byte or a pair ends at this byte.
            if dfa.is_special(sid) && dfa.is_match(sid) {
                return false;
            }
        }
        true
    }

    /// [`Detector::trivially_clean`] as it was written before its one automaton: the byte
    /// pass, then `word_may_match`. The tests check that both agree.
    #[cfg(test)]
    pub(crate) fn trivially_clean_reference(&self, value: &str) -> bool {
        if !self.fast_path || value.len() > PREFILTER_MAX_LEN {
            return false;
        }
        let mut prev = 0u8;
        for b in value.bytes() {
            if !PREFILTER_BYTES[usize::from(b)]
                || matches!((prev, b), (b' ', b' ') | (b'-', b'-') | (b'/', b'*'))
            {
                return false;
            }
            prev = b;
        }
        !self.engine.word_may_match(value)
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
        self.walk_request(path, raw_query, headers, content_type, body, None, false)
    }

    /// [`Detector::inspect_request`] for a JSON body already parsed into a [`JsonDoc`] (as
    /// `json-threat-protection` leaves it): the strings and keys are read from the tape instead
    /// of lexing the body again. `json` must be a view of `body`; the findings are exactly
    /// those of [`Detector::inspect_request`] (a view of other bytes is ignored).
    ///
    /// [`JsonDoc`]: crate::json::JsonDoc
    pub fn inspect_request_with_doc<'h>(
        &self,
        path: &str,
        raw_query: Option<&str>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        json: JsonView<'_>,
    ) -> Vec<Finding> {
        self.walk_request(
            path,
            raw_query,
            headers,
            content_type,
            body,
            Some(json),
            false,
        )
    }

    /// Diagnostics for rule tuning: like [`Detector::inspect_request`], but lists every rule
    /// that matches every value (gate ignored, no cap), as findings whose `rule_id` and
    /// `location` are set (`class` and `fragment` are not meaningful).
    #[doc(hidden)]
    pub fn explain_request<'h>(
        &self,
        path: &str,
        raw_query: Option<&str>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Vec<Finding> {
        self.walk_request(path, raw_query, headers, content_type, body, None, true)
    }

    // The public entry points' arguments plus two switches; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn walk_request<'h, 'v>(
        &self,
        path: &str,
        raw_query: Option<&str>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        json: Option<JsonView<'v>>,
        explain: bool,
    ) -> Vec<Finding> {
        let mut c = Collector {
            det: self,
            findings: Vec::new(),
            views: Views::default(),
            explain,
            clean: HashSet::with_capacity_and_hasher(64, foldhash::fast::RandomState::default()),
            memo: !explain && self.exclusions.is_empty(),
        };
        c.check(path, || Location::Path);
        if path.contains('+') && (c.findings.is_empty() || explain) {
            // Many back ends (PHP, form-style routers) read `+` in the path as a space.
            c.check(&path.replace('+', " "), || Location::Path);
        }
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
                "user-agent" | "referer" => {
                    c.check(&value, || Location::Header(lname.clone()));
                    c.url_params(&value, &lname);
                }
                _ if self.paranoia >= 2 && !STANDARD_HEADERS.contains(&lname.as_str()) => {
                    c.check(&value, || Location::Header(lname.clone()));
                    c.url_params(&value, &lname);
                }
                _ => {}
            }
        }
        if let Some(body) = body.filter(|b| !b.is_empty()) {
            let body = &body[..body.len().min(self.max_body_len)];
            // A UTF-16 or UTF-32 body is inspected as the text a back end decodes it to.
            let wide = super::wide::wide_text(body);
            let body = wide.as_deref().map_or(body, str::as_bytes);
            let ok = match body_kind(content_type, body) {
                BodyKind::Form => {
                    c.pairs(body, Location::FormField, Location::FormFieldName);
                    // Without a content type the back end may as well read the body as plain
                    // text, where `'admin', '1'='1'` is not split at its `=`: check both.
                    content_type.is_some()
                }
                // The caller's tape only stands in for the exact bytes inspected (not for a
                // body cut at `max_body_len`, which no longer parses).
                BodyKind::Json => match json.filter(|v| v.is_of(body)) {
                    Some(view) => {
                        c.json_doc(view);
                        true
                    }
                    None => c.json(body),
                },
                BodyKind::Xml => c.xml(body),
                BodyKind::Multipart => content_type
                    .and_then(boundary_of)
                    .is_some_and(|b| c.multipart(body, b)),
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

#[cfg(test)]
mod tests {
    use super::super::decode::{self, Views};
    use super::super::{Detector, DetectorConfig, may_be_html, may_be_sql};

    /// Detectors at paranoia 1 and 4 (the fewest and the most rules), compiled once.
    fn detectors() -> &'static [Detector; 2] {
        static DETECTORS: std::sync::OnceLock<[Detector; 2]> = std::sync::OnceLock::new();
        DETECTORS.get_or_init(|| {
            [1, 4].map(|paranoia| {
                Detector::compile(&DetectorConfig {
                    paranoia,
                    ..DetectorConfig::default()
                })
                .expect("default rules compile")
            })
        })
    }

    /// What the prefilter claims for a value it skips: every class gate is closed on the
    /// decoded views, neither tokenising detector is asked, and the full inspection finds
    /// nothing.
    fn assert_cannot_match(det: &Detector, value: &str) {
        let views = decode::views(value, det.max_value_len);
        assert_eq!(
            det.engine.open_classes(&views),
            0,
            "{value:?}: a gate opens"
        );
        assert!(!may_be_sql(&views), "{value:?}: libinjection SQL asked");
        assert!(!may_be_html(&views), "{value:?}: libinjection HTML asked");
        let full = det.detect(value, u8::MAX, det.max_value_len, &mut Views::default());
        assert!(full.is_none(), "{value:?}: {:?}", full.map(|d| d.rule_id));
    }

    proptest::proptest! {
        /// Values the prefilter skips cannot match: built from gate literals in mixed case,
        /// attack syntax, white space, escapes and non-ASCII, so that both sides of every
        /// condition of `trivially_clean` are exercised.
        #[test]
        fn prefilter_skips_only_clean_values(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                " ", "  ", "\t", "\n", "\r", "\0", "'", "\"", "`", "#", "^", "$", "<", "=", "%",
                "%27", "&", "&lt;", "\\", "\\u003c", "-", "--", "/", "/*", "*", "+", ".", "..",
                ",", ";", ":", "!", "?", "(", ")", "[", "]", "{", "}", "|", "~", "@", "_", "a",
                "b", "x", "Q", "1", "42", "SKU", "Or", "AND", "sElEcT", "union", "order", "by",
                "cat", "c", "at", "sh", "etc", "PASSWD", "script", "java", "on", "load", "sam",
                "data", "window", "é", "ＳＥＬＥＣＴ", "İ", "\u{212a}", "\u{a0}", "’", "¼",
            ]),
            0..10,
        )) {
            let value = parts.concat();
            for det in detectors() {
                prefilters_agree(det, &value)?;
                if det.trivially_clean(&value) {
                    assert_cannot_match(det, &value);
                }
            }
        }
    }

    /// The prefilter's automaton and the byte pass it replaced give the same answer.
    fn prefilters_agree(
        det: &Detector,
        value: &str,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        proptest::prop_assert_eq!(
            det.trivially_clean(value),
            det.trivially_clean_reference(value),
            "{:?}",
            value
        );
        Ok(())
    }

    proptest::proptest! {
        /// The prefilter's one automaton answers as the byte pass and `word_may_match` did, on
        /// any short printable value (the other proptest mixes in gate literals, white space
        /// and non-ASCII).
        #[test]
        fn inline_gate_agrees(value in "[ -~]{0,70}|[a-zA-Z0-9_ .,+/-]{0,20}") {
            for det in detectors() {
                prefilters_agree(det, &value)?;
            }
        }
    }

    /// The prefilter skips plain values with punctuation (which the former letters-and-digits
    /// fast path did not) and keeps every value a decoding view or a detector could see
    /// differently.
    #[test]
    fn prefilter_examples() {
        for det in detectors() {
            for plain in [
                "SKU-01000",
                "+33 1 42 68 53 00",
                "Plant pot, small",
                "48213",
                "x+y",
            ] {
                assert!(det.trivially_clean(plain), "{plain:?} not skipped");
                assert_cannot_match(det, plain);
            }
            for inspected in [
                "order  by",
                "a\tb",
                "x--y",
                "O'Brien",
                "a=b",
                "50%",
                "Bâtiment B",
                "c^at",
                "Tea sampler",
                "2026-11-23T16:33:44Z",
            ] {
                assert!(!det.trivially_clean(inspected), "{inspected:?} skipped");
            }
        }
    }
}
