//! Lexing of JSON strings and numbers straight from the request bytes.
//!
//! Strings are validated completely here (escapes, control characters, UTF-8, surrogate pairs)
//! so that what the visitor and the backend see is exactly what the limits were checked
//! against. Lone surrogate escapes such as `"\ud800"` are **rejected**: RFC 8259 leaves their
//! meaning undefined, parsers disagree on them (replace, keep, reject), and that disagreement is
//! a known way to slip payloads past a filter that decodes differently from the backend.

use std::borrow::Cow;

/// Why the body is not valid JSON, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Invalid {
    pub(super) offset: usize,
    pub(super) reason: &'static str,
}

pub(super) fn invalid<T>(offset: usize, reason: &'static str) -> Result<T, Invalid> {
    Err(Invalid { offset, reason })
}

/// A lexed string: the raw bytes between the quotes, already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawStr {
    /// Offset of the first byte after the opening quote.
    pub(super) start: usize,
    /// Offset of the closing quote.
    pub(super) end: usize,
    /// Whether the raw text contains escapes (and so must be decoded before use).
    pub(super) escaped: bool,
}

impl RawStr {
    /// The decoded string. Borrowed when there is nothing to decode.
    pub(super) fn decode<'a>(&self, body: &'a [u8]) -> Cow<'a, str> {
        let raw = String::from_utf8_lossy(&body[self.start..self.end]);
        if self.escaped {
            Cow::Owned(unescape(&raw))
        } else {
            raw
        }
    }

    /// [`RawStr::decode`] with `text`, the whole body when it is valid UTF-8: the string is
    /// then a slice of it, with no validation per string (which cost as much as lexing it).
    pub(super) fn decode_in<'a>(&self, text: Option<&'a str>, body: &'a [u8]) -> Cow<'a, str> {
        match text.and_then(|t| t.get(self.start..self.end)) {
            Some(raw) if self.escaped => Cow::Owned(unescape(raw)),
            Some(raw) => Cow::Borrowed(raw),
            None => self.decode(body),
        }
    }

    /// Length in bytes of the raw text: never less than [`RawStr::chars`] (a character takes
    /// at least one byte, an escape at least two), so a string whose raw text is within a
    /// length limit needs no counting.
    pub(super) fn raw_len(&self) -> u64 {
        (self.end - self.start) as u64
    }

    /// Length in Unicode scalar values after decoding (what the length limits count).
    /// Counted on demand: only strings longer in bytes than a limit need it.
    pub(super) fn chars(&self, body: &[u8]) -> u64 {
        if self.escaped {
            self.decode(body).chars().count() as u64
        } else {
            // Valid UTF-8 (checked by the lexer): one lead byte per character.
            body[self.start..self.end]
                .iter()
                .filter(|&&b| b & 0xc0 != 0x80)
                .count() as u64
        }
    }
}

/// Lexes the string whose opening quote is at `pos`; returns it and the offset after the
/// closing quote. Only strings with bytes outside ASCII are validated as UTF-8 (everything
/// outside strings must be ASCII to pass the grammar), so an ASCII body costs no validation.
///
/// Inlined into the scanner's loop: most strings (keys, short values) are settled by a word
/// or two and end at a quote with no escape, and for those a call (saving registers, the
/// result returned through memory) cost more than the lexing itself. Escapes and non-ASCII
/// text are handled out of line.
#[inline(always)]
pub(super) fn lex_string(body: &[u8], pos: usize) -> Result<(RawStr, usize), Invalid> {
    let start = pos + 1;
    let mut i = start;
    let mut high = 0u64;
    while let Some(chunk) = body.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let special = special_bytes(w);
        if special != 0 {
            // Only the bytes before the first special one belong to the plain run.
            let plain = special.trailing_zeros() / 8;
            high |= w & ((1u64 << (plain * 8)) - 1);
            i += plain as usize;
            return finish_string(body, pos, i, high);
        }
        high |= w;
        i += 8;
    }
    lex_string_from(body, pos, i, high & HI != 0, false)
}

/// The end of the fast path of [`lex_string`]: `i` is at the first special byte of the
/// string (`"`, `\\` or a control character).
#[inline(always)]
fn finish_string(body: &[u8], pos: usize, i: usize, high: u64) -> Result<(RawStr, usize), Invalid> {
    let start = pos + 1;
    if body.get(i) == Some(&b'"') {
        if high & HI != 0 {
            check_utf8(body, start, i)?;
        }
        return Ok((
            RawStr {
                start,
                end: i,
                escaped: false,
            },
            i + 1,
        ));
    }
    lex_string_from(body, pos, i, high & HI != 0, false)
}

#[inline(never)]
fn check_utf8(body: &[u8], start: usize, end: usize) -> Result<(), Invalid> {
    match std::str::from_utf8(&body[start..end]) {
        Ok(_) => Ok(()),
        Err(e) => invalid(start + e.valid_up_to(), "invalid UTF-8 in string"),
    }
}

/// The general string lexer, resumed at `i` (everything from the opening quote at `pos` up
/// to `i` is plain text; `high` says whether it has bytes outside ASCII, `escaped` whether
/// it has escapes).
#[inline(never)]
fn lex_string_from(
    body: &[u8],
    pos: usize,
    mut i: usize,
    mut high: bool,
    mut escaped: bool,
) -> Result<(RawStr, usize), Invalid> {
    let start = pos + 1;
    loop {
        let (skipped, seen) = skip_plain(body.get(i..).unwrap_or_default());
        i += skipped;
        high |= seen & 0x80 != 0;
        match body.get(i) {
            Some(b'"') => break,
            Some(b'\\') => {
                escaped = true;
                i = lex_escape(body, i)?;
            }
            Some(_) => return invalid(i, "unescaped control character in string"),
            None => return invalid(pos, "unterminated string"),
        }
    }
    if high {
        check_utf8(body, start, i)?;
    }
    Ok((
        RawStr {
            start,
            end: i,
            escaped,
        },
        i + 1,
    ))
}

/// The lowest bit of each byte (`0x0101…`).
const LO: u64 = u64::from_le_bytes([0x01; 8]);
/// The high bit of each byte (`0x8080…`).
const HI: u64 = u64::from_le_bytes([0x80; 8]);

/// The offset in `rest` of the first byte that needs attention in a string (`"`, `\\` or a
/// control character), or `rest.len()` if there is none. Eight bytes at a time: most
/// strings (keys, short values) are settled by one or two words, with no loop per byte.
/// Also returns the bytes skipped (and maybe a few after them) OR-ed together: no high bit
/// there means they are ASCII.
fn skip_plain(rest: &[u8]) -> (usize, u8) {
    let mut i = 0;
    let mut high = 0u64;
    while let Some(chunk) = rest.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Little-endian, so the lowest flagged byte is the first in memory.
        let w = u64::from_le_bytes(word);
        high |= w;
        let special = special_bytes(w);
        if special != 0 {
            return (i + (special.trailing_zeros() / 8) as usize, fold(high));
        }
        i += 8;
    }
    // The last few bytes of the body.
    while let Some(&b) = rest.get(i) {
        if matches!(b, b'"' | b'\\' | 0x00..=0x1f) {
            break;
        }
        high |= u64::from(b);
        i += 1;
    }
    (i, fold(high))
}

/// The high bit set in each byte of `w` that needs attention in a string (`"`, `\\` or a
/// control character), little-endian. Classic SWAR tests: zero after XOR with the byte, and
/// less than 0x20. A flag can be wrong only above a true hit (a borrow runs upwards), so the
/// lowest flag is exact.
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    let quote = w ^ (LO * u64::from(b'"'));
    let backslash = w ^ (LO * u64::from(b'\\'));
    ((quote.wrapping_sub(LO) & !quote)
        | (backslash.wrapping_sub(LO) & !backslash)
        | (w.wrapping_sub(LO * 0x20) & !w))
        & HI
}

/// The high bits of a word's bytes, gathered in one byte.
fn fold(word: u64) -> u8 {
    if word & HI != 0 { 0x80 } else { 0 }
}

/// Validates the escape starting with the backslash at `pos`; returns the offset after it.
fn lex_escape(body: &[u8], pos: usize) -> Result<usize, Invalid> {
    match body.get(pos + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(pos + 2),
        Some(b'u') => {
            let unit = hex4(body, pos + 2)?;
            match unit {
                0xd800..=0xdbff => {
                    let low =
                        if body.get(pos + 6) == Some(&b'\\') && body.get(pos + 7) == Some(&b'u') {
                            hex4(body, pos + 8)?
                        } else {
                            return invalid(pos, "lone high surrogate escape");
                        };
                    if (0xdc00..=0xdfff).contains(&low) {
                        Ok(pos + 12)
                    } else {
                        invalid(pos, "high surrogate escape not followed by a low surrogate")
                    }
                }
                0xdc00..=0xdfff => invalid(pos, "lone low surrogate escape"),
                _ => Ok(pos + 6),
            }
        }
        Some(_) => invalid(pos, "invalid escape sequence"),
        None => invalid(pos, "unterminated string"),
    }
}

fn hex4(body: &[u8], pos: usize) -> Result<u32, Invalid> {
    let Some(digits) = body.get(pos..pos + 4) else {
        return invalid(pos, "truncated \\u escape");
    };
    let mut value = 0u32;
    for &d in digits {
        let Some(v) = (d as char).to_digit(16) else {
            return invalid(pos, "invalid hex digit in \\u escape");
        };
        value = value * 16 + v;
    }
    Ok(value)
}

/// Resolves escapes in text that [`lex_string`] has already validated. Anything unexpected
/// (impossible after validation) becomes U+FFFD rather than a panic.
pub(super) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let esc = &rest[at + 1..];
        let mut consumed = 1;
        let ch = match esc.as_bytes().first() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = esc.get(1..5).and_then(|h| u32::from_str_radix(h, 16).ok());
                consumed = 5;
                match unit {
                    Some(high @ 0xd800..=0xdbff) => {
                        let low = esc
                            .get(7..11)
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .unwrap_or(0);
                        consumed = 11;
                        char::from_u32(
                            0x10000 + ((high - 0xd800) << 10) + (low.wrapping_sub(0xdc00) & 0x3ff),
                        )
                    }
                    Some(u) => char::from_u32(u),
                    None => None,
                }
                .unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            _ => char::REPLACEMENT_CHARACTER,
        };
        out.push(ch);
        rest = esc.get(consumed..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Lexes the number starting at `pos` (RFC 8259 grammar:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`); returns the offset after it.
pub(super) fn lex_number(body: &[u8], pos: usize) -> Result<usize, Invalid> {
    let digits = |mut i: usize| {
        while body.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = pos;
    if body.get(i) == Some(&b'-') {
        i += 1;
    }
    match body.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i + 1),
        _ => return invalid(i, "invalid number: expected a digit"),
    }
    if body.get(i) == Some(&b'.') {
        let after = digits(i + 1);
        if after == i + 1 {
            return invalid(
                i + 1,
                "invalid number: expected a digit after the decimal point",
            );
        }
        i = after;
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let after = digits(i);
        if after == i {
            return invalid(i, "invalid number: expected a digit in the exponent");
        }
        i = after;
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Result<(String, u64), Invalid> {
        let body = s.as_bytes();
        let (raw, end) = lex_string(body, 0)?;
        assert_eq!(end, body.len());
        Ok((raw.decode(body).into_owned(), raw.chars(body)))
    }

    #[test]
    fn decodes_escapes_and_counts_scalar_values() {
        assert_eq!(lex(r#""a\"b\\c\/\n""#).unwrap(), ("a\"b\\c/\n".into(), 7));
        assert_eq!(lex(r#""\u00e9\ud83d\ude00x""#).unwrap(), ("é😀x".into(), 3));
        assert_eq!(lex("\"héllo😀\"").unwrap(), ("héllo😀".into(), 6));
    }

    #[test]
    fn rejects_bad_strings() {
        assert_eq!(
            lex(r#""\ud800""#).unwrap_err().reason,
            "lone high surrogate escape"
        );
        assert_eq!(
            lex(r#""\udc00""#).unwrap_err().reason,
            "lone low surrogate escape"
        );
        assert!(lex(r#""\ud800\u0041""#).is_err());
        assert!(lex(r#""\x""#).is_err());
        assert!(lex(r#""\u12""#).is_err());
        assert!(lex("\"a\tb\"").is_err());
        assert!(lex("\"abc").is_err());
        let bad_utf8 = [b'"', b'a', 0xff, b'"'];
        let err = lex_string(&bad_utf8, 0).unwrap_err();
        assert_eq!((err.offset, err.reason), (2, "invalid UTF-8 in string"));
    }

    #[test]
    fn numbers_follow_the_rfc_grammar() {
        for ok in ["0", "-0", "12", "1.5", "-1.5e10", "1E+2", "1e-2"] {
            assert_eq!(lex_number(ok.as_bytes(), 0), Ok(ok.len()), "{ok}");
        }
        for bad in ["-", "1.", "1e", "1e+", ".5", "+1", "-a"] {
            assert!(lex_number(bad.as_bytes(), 0).is_err(), "{bad}");
        }
        // A leading zero ends the number; the scanner then rejects the stray digit.
        assert_eq!(lex_number(b"012", 0), Ok(1));
    }

    /// The lexer as it was before the eight-bytes-at-a-time skip, counting characters as it
    /// goes: the reference the fast lexer (and [`RawStr::chars`]) must agree with.
    fn reference(body: &[u8]) -> Result<(RawStr, u64, usize), Invalid> {
        let (start, mut i, mut chars, mut escaped) = (1, 1, 0u64, false);
        loop {
            let Some(&b) = body.get(i) else {
                return invalid(0, "unterminated string");
            };
            match b {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i = lex_escape(body, i)?;
                    chars += 1;
                }
                0x00..=0x1f => return invalid(i, "unescaped control character in string"),
                _ => {
                    if b & 0xc0 != 0x80 {
                        chars += 1;
                    }
                    i += 1;
                }
            }
        }
        if let Err(e) = std::str::from_utf8(&body[start..i]) {
            return invalid(start + e.valid_up_to(), "invalid UTF-8 in string");
        }
        Ok((
            RawStr {
                start,
                end: i,
                escaped,
            },
            chars,
            i + 1,
        ))
    }

    /// The fast lexer's answer in the reference's shape.
    fn fast(body: &[u8]) -> Result<(RawStr, u64, usize), Invalid> {
        lex_string(body, 0).map(|(raw, end)| (raw, raw.chars(body), end))
    }

    proptest::proptest! {
        #[test]
        fn fast_lexer_agrees_with_the_reference(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"aZ09 \"\\/nu\x01\x1f\x7f".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..48,
            ),
        ) {
            let mut body = vec![b'"'];
            body.extend_from_slice(&text);
            body.push(b'"');
            let want = reference(&body);
            proptest::prop_assert_eq!(fast(&body), want);
            // Unterminated: the same string cut anywhere (the skip's tail loop and the end of
            // the body inside a word).
            for cut in 1..body.len() {
                let short = &body[..cut];
                proptest::prop_assert_eq!(fast(short), reference(short));
            }
        }
    }
}
