//! Injection detection for the gateway's `injection-protection` policy.
//!
//! Protects back ends from SQL injection, cross-site scripting, path traversal, OS command
//! injection, server-side includes, XPath/LDAP injection and code injection carried in request
//! paths, query strings, headers, cookies and bodies. Apigee's RegularExpressionProtection does
//! this with raw blocklist regexes over undecoded values, which both misses encoded payloads
//! and blocks prose ("or", "update"); this engine instead
//!
//! 1. decodes every value once into canonical views ([`decode`]: repeated percent-decoding,
//!    HTML entities, `\u` escapes, NFKC, SQL comment and shell-quote stripping...),
//! 2. runs a tokenising SQLi/XSS detector (libinjection, [`tokenizer`]), and
//! 3. runs a managed rule set (data files under `rules/`, graded by paranoia level 1–4) plus
//!    operator rules through a linear-time `RegexSet` engine gated by an Aho-Corasick prefilter
//!    ([`engine`]) — no backtracking, so no ReDoS.
//!
//! Measurements against the OWASP CRS regression corpus and a benign API corpus are in
//! `docs/security.md`.

pub mod config;
pub mod decode;
mod engine;
mod finding;
pub mod location;
mod request;
pub mod rules;
pub mod tokenizer;
mod wide;

use std::collections::HashSet;
use std::sync::LazyLock;

use thiserror::Error;

pub use config::{
    AttackClass, ClassToggles, CustomRule, DEFAULT_PARANOIA, DetectorConfig, Exclusion,
};
pub use finding::{FRAGMENT_MAX_CHARS, Finding};
pub use location::Location;
pub use request::MAX_FINDINGS;

use decode::{ByteSet, Views};
use engine::PatternEngine;
use location::glob_match;
use tokenizer::{LibInjection, TokenDetector};

/// Rule ids reported for the tokenising detector.
pub const LIBINJECTION_SQLI_ID: &str = "libinjection-sqli";
/// Rule id reported for the tokenising XSS detector.
pub const LIBINJECTION_XSS_ID: &str = "libinjection-xss";

/// Why a configuration could not be compiled into a [`Detector`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CompileError {
    #[error("paranoia level must be 1 to 4, got {0}")]
    Paranoia(u8),
    #[error("rule {rule_id}: invalid pattern: {message}")]
    Pattern { rule_id: String, message: String },
    #[error("rule file {file}: {message}")]
    RuleFile { file: String, message: String },
    #[error("custom rule id {0:?} is empty or duplicates another rule id")]
    DuplicateId(String),
    #[error("exclusion location pattern is empty")]
    EmptyExclusion,
}

/// A compiled detector: build once per policy with [`Detector::compile`], share freely
/// (`Send + Sync`), call [`Detector::inspect`] / [`Detector::inspect_request`] per request.
#[derive(Debug)]
pub struct Detector {
    engine: PatternEngine,
    tokens: Box<dyn TokenDetector>,
    class_mask: u8,
    paranoia: u8,
    exclusions: Vec<(String, u8)>,
    /// Without custom rules, a plain ASCII value in which no gate literal occurs and that has
    /// none of the bytes decoding or the tokenising detectors need (most identifiers, numbers,
    /// dates, tokens) cannot match anything, so it skips decoding entirely: the prefilter,
    /// `Detector::trivially_clean`, which says why that is sound.
    fast_path: bool,
    /// The prefilter's one automaton (`Detector::trivially_clean`); `None` turns it off.
    screen: Option<aho_corasick::dfa::DFA>,
    max_value_len: usize,
    max_body_len: usize,
}

impl Detector {
    /// Validates `cfg` and compiles all active rules.
    pub fn compile(cfg: &DetectorConfig) -> Result<Detector, CompileError> {
        Self::compile_with(cfg, Box::new(LibInjection))
    }

    /// Like [`Detector::compile`] with another tokenising detector.
    pub fn compile_with(
        cfg: &DetectorConfig,
        tokens: Box<dyn TokenDetector>,
    ) -> Result<Detector, CompileError> {
        if !(1..=4).contains(&cfg.paranoia) {
            return Err(CompileError::Paranoia(cfg.paranoia));
        }
        let files = rules::managed_rules()?;
        let mut ids: std::collections::HashSet<&str> = files
            .iter()
            .flat_map(|f| f.rules.iter().map(|r| r.id.as_str()))
            .collect();
        ids.insert(LIBINJECTION_SQLI_ID);
        ids.insert(LIBINJECTION_XSS_ID);
        for c in &cfg.custom_rules {
            if c.id.is_empty() || !ids.insert(c.id.as_str()) {
                return Err(CompileError::DuplicateId(c.id.clone()));
            }
            if !(1..=4).contains(&c.paranoia) {
                return Err(CompileError::Paranoia(c.paranoia));
            }
        }
        let class_mask = cfg.classes.mask();
        let engine = PatternEngine::compile(&files, &cfg.custom_rules, class_mask, cfg.paranoia)?;
        let mut exclusions = Vec::with_capacity(cfg.exclusions.len());
        for e in &cfg.exclusions {
            if e.location.is_empty() {
                return Err(CompileError::EmptyExclusion);
            }
            let mask = if e.classes.is_empty() {
                u8::MAX
            } else {
                e.classes.iter().fold(0, |m, c| m | c.bit())
            };
            exclusions.push((e.location.clone(), mask));
        }
        let fast_path = cfg.custom_rules.is_empty();
        let screen = if fast_path {
            engine.screen(&request::screen_literals())?
        } else {
            None
        };
        Ok(Detector {
            screen,
            engine,
            tokens,
            class_mask,
            paranoia: cfg.paranoia,
            exclusions,
            fast_path,
            max_value_len: cfg.max_value_len.max(1),
            max_body_len: cfg.max_body_len,
        })
    }

    /// The paranoia level the detector was compiled for.
    pub fn paranoia(&self) -> u8 {
        self.paranoia
    }

    /// Number of compiled pattern rules (managed rules at this paranoia level plus custom).
    pub fn rule_count(&self) -> usize {
        self.engine.rule_count()
    }

    /// Inspects one value found at `location`; returns the first finding, if any.
    pub fn inspect(&self, location: &Location, value: &str) -> Option<Finding> {
        let allowed = self.allowed_classes(location);
        if allowed == 0 || value.is_empty() || self.trivially_clean(value) {
            return None;
        }
        self.detect(value, allowed, self.max_value_len, &mut Views::default())
            .map(|d| d.at(location))
    }

    fn allowed_classes(&self, location: &Location) -> u8 {
        if self.exclusions.is_empty() {
            return self.class_mask;
        }
        let shown = location.to_string();
        self.exclusions
            .iter()
            .filter(|(pat, _)| glob_match(pat, &shown))
            .fold(self.class_mask, |m, (_, ex)| m & !ex)
    }

    /// The first detection in `value` among the `allowed` classes. `views` is scratch space,
    /// reused across the values of a request so decoding does not allocate per value; the
    /// caller has already skipped empty and trivially clean values.
    fn detect(
        &self,
        value: &str,
        allowed: u8,
        max_len: usize,
        views: &mut Views,
    ) -> Option<Detection<'_>> {
        decode::views_into(value, max_len, views);
        let views = &*views;
        if let Some(hit) = self.engine.find(views, allowed) {
            return Some(Detection {
                class: hit.class,
                rule_id: hit.rule_id,
                matched: String::from_utf8_lossy(&hit.view_text.as_bytes()[hit.range]).into_owned(),
            });
        }
        if allowed & AttackClass::Sqli.bit() != 0
            && may_be_sql(views)
            && self.tokens.sqli(views.decoded.as_bytes()).is_some()
        {
            return Some(Detection {
                class: AttackClass::Sqli,
                rule_id: LIBINJECTION_SQLI_ID,
                matched: views.decoded.clone(),
            });
        }
        if allowed & AttackClass::Xss.bit() != 0
            && may_be_html(views)
            && self
                .tokens
                .xss(without_plain_styles(&views.decoded).as_bytes())
        {
            return Some(Detection {
                class: AttackClass::Xss,
                rule_id: LIBINJECTION_XSS_ID,
                matched: views.decoded.clone(),
            });
        }
        None
    }
}

/// What [`Detector::detect`] found, before it is tied to a location: locations (a rendered
/// JSONPath, a header name) are only built for the rare value that carries an attack.
struct Detection<'a> {
    class: AttackClass,
    rule_id: &'a str,
    matched: String,
}

impl Detection<'_> {
    fn at(&self, location: &Location) -> Finding {
        Finding::new(self.class, self.rule_id, location, &self.matched)
    }
}

impl Detector {
    /// Every rule id matching one value (gate ignored), libinjection included: diagnostics.
    pub(crate) fn explain_value(&self, value: &str, allowed: u8, max_len: usize) -> Vec<String> {
        let views = decode::views(value, max_len);
        let mut ids: Vec<String> = self
            .engine
            .all_matches(&views, allowed)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if allowed & AttackClass::Sqli.bit() != 0
            && may_be_sql(&views)
            && self.tokens.sqli(views.decoded.as_bytes()).is_some()
        {
            ids.push(LIBINJECTION_SQLI_ID.to_owned());
        }
        if allowed & AttackClass::Xss.bit() != 0
            && may_be_html(&views)
            && self
                .tokens
                .xss(without_plain_styles(&views.decoded).as_bytes())
        {
            ids.push(LIBINJECTION_XSS_ID.to_owned());
        }
        ids
    }
}

/// Whether libinjection's SQL verdict is asked for. Its fingerprints are strongest where a
/// value breaks out of a string: a quote or a comment. In the bare (numeric) context they
/// also match prose and code (`Left (WA, RR)`, `if (x > 0 && y > 0) { quadrant = 1; }` reads
/// as `f(n&n`), and numeric-context injection is what the SQL rules already name
/// (tautologies, UNION/EXCEPT SELECT, stacked statements, time functions), so values without a
/// quote or comment, and wordy values ([`wordy`]), are left to the rules.
fn may_be_sql(views: &Views) -> bool {
    let (text, sql_view, b) = (views.text.as_str(), views.sql.as_str(), views.text_bytes);
    // A quote, backtick, `#`, `--` or `/*`; the byte set answers most values without a search.
    let marker = b
        .any(ByteSet::SINGLE_QUOTE | ByteSet::DOUBLE_QUOTE | ByteSet::BACKTICK | ByteSet::HASH)
        || (b.any(ByteSet::DASH) && decode::has_pair(text, b'-', b'-'))
        || (b.any(ByteSet::SLASH) && b.any(ByteSet::STAR) && decode::has_pair(text, b'/', b'*'));
    marker && !wordy(sql_view)
}

/// Ordinary words (two letters or more, not SQL keywords) from which on a value counts as
/// prose or code rather than an SQL fragment.
const WORDY_AT: usize = 5;

/// Whether the value carries at least [`WORDY_AT`] ordinary words. libinjection's fingerprints
/// describe short injected fragments; over sentences and source code (`print(f"{user.name} has
/// {len(orders)} orders")`, `The "or" operator returns true`) they match by chance, so there
/// only the regex rules, which look for SQL syntax itself, decide.
fn wordy(sql_view: &str) -> bool {
    let mut n = 0;
    // Split at the ASCII separators byte by byte (for ASCII, `char::is_alphanumeric` and
    // `is_alphabetic` are their `is_ascii_*` forms, and decoding characters cost more than
    // the rest of the check); only a piece holding other characters is split again character
    // by character (`wordy_agrees_with_the_char_wise_count` compares with that alone).
    for piece in sql_view
        .as_bytes()
        .split(|b| b.is_ascii() && !b.is_ascii_alphanumeric() && *b != b'_')
    {
        n += if piece.is_ascii() {
            usize::from(
                piece.len() >= 2
                    && piece.iter().all(u8::is_ascii_alphabetic)
                    && ordinary_word(piece),
            )
        } else {
            // Cut at ASCII bytes only, the piece is whole characters.
            std::str::from_utf8(piece).map_or(0, ordinary_words)
        };
        if n >= WORDY_AT {
            return true;
        }
    }
    false
}

/// SQL keywords and common function names, which do not count as ordinary words.
const SQL_WORDS: &str = "select from where and or xor not union all distinct insert into \
    values update set delete drop table create alter exec execute declare order \
    group by having limit offset like rlike regexp in is null between \
    case when then else end as on join if sleep benchmark waitfor \
    delay char chr concat substring substr ascii cast convert count version user \
    database schema information_schema tables columns true false asc desc procedure begin exists \
    sys";

/// Whether an ASCII word (two letters or more) is ordinary: not one of [`SQL_WORDS`].
fn ordinary_word(w: &[u8]) -> bool {
    // A fast fixed hash (the words are ours, not an attacker's: no flooding to fear), asked
    // once per word of every quoted value (the default SipHash costs more than the lookup).
    static SQL_WORD_SET: LazyLock<HashSet<&[u8], foldhash::fast::FixedState>> =
        LazyLock::new(|| SQL_WORDS.split_whitespace().map(str::as_bytes).collect());
    // The longest entry: a longer word is ordinary without a lookup.
    static SQL_WORD_MAX: LazyLock<usize> = LazyLock::new(|| {
        SQL_WORDS
            .split_whitespace()
            .map(str::len)
            .max()
            .unwrap_or(0)
    });
    w.len() > *SQL_WORD_MAX || !SQL_WORD_SET.contains(w)
}

/// How many ordinary words `text` holds, character by character.
fn ordinary_words(text: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| {
            // ASCII: one byte per char, and `is_alphabetic` is `is_ascii_alphabetic`.
            if w.is_ascii() {
                w.len() >= 2 && w.bytes().all(|b| b.is_ascii_alphabetic())
            } else {
                w.chars().count() >= 2 && w.chars().all(char::is_alphabetic)
            }
        })
        // The entries are ASCII: a non-ASCII word is ordinary without a lookup.
        .filter(|w| !w.is_ascii() || ordinary_word(w.as_bytes()))
        .count()
}

/// `style="..."` attributes whose value is plain CSS (no parenthesis, backslash, entity, angle
/// bracket, comment or colon-less trick: `color: #d73a49; font-weight: bold`).
static PLAIN_STYLE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r#"(?i)\bstyle\s*=\s*(?:"[^"()\\&<>/*@]*"|'[^'()\\&<>/*@]*')"#)
        .expect("static pattern")
});

/// `decoded` without its plain-CSS style attributes, for libinjection's HTML check:
/// libinjection rejects every `style` attribute (old IE ran `expression()` in CSS), which
/// blocks ordinary rich text (`<span style="color: red">`). CSS that can carry script needs a
/// parenthesis, backslash escape, entity, comment or `@import`, and stays (xss-106 also looks
/// for it).
fn without_plain_styles(decoded: &str) -> std::borrow::Cow<'_, str> {
    if !decoded.contains("style") && !decoded.contains("STYLE") && !decoded.contains("Style") {
        return std::borrow::Cow::Borrowed(decoded);
    }
    PLAIN_STYLE.replace_all(decoded, "")
}

/// libinjection's HTML tokeniser also flags bare attribute-like text (`style=color:red`); script
/// can only be injected into a page through a tag, a quote that closes an attribute, a
/// backtick, or a URL scheme, so values without any of those are not handed to it.
///
/// Besides, libinjection cannot flag a value that holds neither `<` nor `=`: its verdicts come
/// from tag, comment and doctype tokens, which its tokeniser only enters at a `<`, and from
/// attribute values after a dangerous attribute name, which only follow an `=` (the one value a
/// quoted start context opens with has no attribute name before it). So the tokeniser, the
/// most expensive check on prose (apostrophes, quotes), is skipped without them
/// (`tokenizer::tests::xss_needs_a_tag_or_an_equals_sign` checks the claim).
fn may_be_html(views: &Views) -> bool {
    let b = views.text_bytes;
    b.any(ByteSet::LT)
        || (b.any(ByteSet::EQUALS)
            && (b.any(ByteSet::SINGLE_QUOTE | ByteSet::DOUBLE_QUOTE | ByteSet::BACKTICK)
                || (b.any(ByteSet::COLON) && views.text.contains("script:"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Splitting at ASCII separators first counts what the character-wise split does.
        #[test]
        fn wordy_agrees_with_the_char_wise_count(
            s in "([a-zA-Z_0-9éßİ]{1,7}[ ,.'\"()=\\-—\u{a0}’]{1,2}){0,8}|(select|or|the|x|naïve|union|a1|zoë)( |'|, |—){0,8}",
        ) {
            proptest::prop_assert_eq!(wordy(&s), ordinary_words(&s) >= WORDY_AT);
        }
    }

    #[test]
    fn wordy_counts_ordinary_words_only() {
        assert!(wordy("the cat sat on my mat today"));
        assert!(!wordy("select name from users where id or 1"));
        assert!(!wordy("x' or 'a'='a"));
        assert!(wordy("zoë o'brien lives at the église"));
    }
}
