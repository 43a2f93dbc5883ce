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
    /// Length in Unicode scalar values after decoding (what the length limits count).
    pub(super) chars: u64,
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
}

/// Lexes the string whose opening quote is at `pos`; returns it and the offset after the
/// closing quote. `utf8_known` says the whole body is valid UTF-8 already, so the string's
/// bytes need no second validation.
pub(super) fn lex_string(
    body: &[u8],
    pos: usize,
    utf8_known: bool,
) -> Result<(RawStr, usize), Invalid> {
    let start = pos + 1;
    let mut i = start;
    let mut chars = 0u64;
    let mut escaped = false;
    loop {
        let (skipped, skipped_chars) = skip_plain(&body[i.min(body.len())..]);
        i += skipped;
        chars += skipped_chars;
        // Byte by byte up to the next byte that needs attention (the word that stopped the
        // skip holds one).
        let b = loop {
            let Some(&b) = body.get(i) else {
                return invalid(pos, "unterminated string");
            };
            if matches!(b, b'"' | b'\\' | 0x00..=0x1f) {
                break b;
            }
            // Count only the first byte of each UTF-8 sequence; the whole slice is
            // validated below, so this is the scalar-value count of a valid string.
            if b & 0xc0 != 0x80 {
                chars += 1;
            }
            i += 1;
        };
        match b {
            b'"' => break,
            b'\\' => {
                escaped = true;
                i = lex_escape(body, i)?;
                chars += 1;
            }
            _ => return invalid(i, "unescaped control character in string"),
        }
    }
    if !utf8_known && let Err(e) = std::str::from_utf8(&body[start..i]) {
        return invalid(start + e.valid_up_to(), "invalid UTF-8 in string");
    }
    Ok((
        RawStr {
            start,
            end: i,
            escaped,
            chars,
        },
        i + 1,
    ))
}

/// The lowest bit of each byte (`0x0101…`).
const LO: u64 = u64::from_ne_bytes([0x01; 8]);
/// The high bit of each byte (`0x8080…`).
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// Skips, eight bytes at a time, the run of string bytes that need no attention (no `"`, no
/// `\\`, no control character) at the start of `rest`; returns how many bytes were skipped and
/// how many characters (UTF-8 lead bytes) they hold. Stops before the first word that holds
/// a byte needing attention; the caller handles that word byte by byte.
fn skip_plain(rest: &[u8]) -> (usize, u64) {
    let mut i = 0;
    let mut chars = 0u64;
    while let Some(chunk) = rest.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(word);
        // Classic SWAR tests (exact for "some byte is"): zero after XOR with the byte, and
        // less than 0x20.
        let quote = w ^ (LO * u64::from(b'"'));
        let backslash = w ^ (LO * u64::from(b'\\'));
        let special = (quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (w.wrapping_sub(LO * 0x20) & !w);
        if special & HI != 0 {
            break;
        }
        // Continuation bytes are 0b10xxxxxx: high bit set, next bit clear.
        let continuation = w & !(w << 1) & HI;
        chars += 8 - u64::from(continuation.count_ones());
        i += 8;
    }
    (i, chars)
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
        let (raw, end) = lex_string(body, 0, false)?;
        assert_eq!(end, body.len());
        Ok((raw.decode(body).into_owned(), raw.chars))
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
        let err = lex_string(&bad_utf8, 0, false).unwrap_err();
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

    /// The lexer as it was before the eight-bytes-at-a-time skip: the reference the fast
    /// lexer must agree with.
    fn reference(body: &[u8]) -> Result<(RawStr, usize), Invalid> {
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
                chars,
            },
            i + 1,
        ))
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
            proptest::prop_assert_eq!(lex_string(&body, 0, false), want);
            if std::str::from_utf8(&body).is_ok() {
                proptest::prop_assert_eq!(lex_string(&body, 0, true), want);
            }
        }
    }
}
