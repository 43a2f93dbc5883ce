//! The decoding chain run on every value before matching.
//!
//! Attackers hide payloads behind encodings the back end will undo (double percent-encoding,
//! HTML entities in attributes, `\u` escapes in JavaScript, fullwidth letters that NFKC folds to
//! ASCII, `/**/` instead of spaces in SQL, quotes and carets inside shell words). Matching the
//! raw value would miss them, so each value is decoded once into a few canonical *views* and
//! every enabled class is tested against the view that suits it.
//!
//! All work is bounded: the input is cut at a byte limit, percent/entity decoding runs at most
//! [`MAX_DECODE_ROUNDS`] times, and each step only ever shrinks or keeps the length (NFKC can
//! grow text, so its output is cut again).

use std::sync::LazyLock;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// How many times percent and entity decoding are repeated (catches `%2527`, `&amp;lt;`).
pub const MAX_DECODE_ROUNDS: usize = 3;

/// The canonical forms of one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Views {
    /// Fully decoded, NFKC-normalised, NUL-free, lower-cased, whitespace collapsed (newlines
    /// kept, since they separate shell commands).
    pub text: String,
    /// `text` with SQL comments removed (`/**/` becomes a space, MySQL `/*!50000 x*/` keeps `x`).
    pub sql: String,
    /// `text` with backslashes turned into slashes and repeated slashes collapsed.
    pub path: String,
    /// `text` with shell quoting tricks removed (`c'a't`, `c\at`, `c^a^t`, `$@`).
    pub shell: String,
    /// Decoded but case and spacing preserved, for the tokenising detectors.
    pub decoded: String,
    /// Which of the bytes the views and detectors look for occur in `text` (and so, in any
    /// case, in `decoded`): one pass instead of a substring search per question.
    pub(crate) text_bytes: ByteSet,
    /// Which of `sql`, `path` and `shell` are copies of `text` ([`Views::SQL`] and so on),
    /// noted as they are derived: the engine asks for every value (to run one merged rule set
    /// instead of one per view, and to scan `shell` for gate literals only when it differs),
    /// and comparing the strings each time cost more than deriving them. A transformed view
    /// that happens to equal `text` is not marked: the engine then does the same work it
    /// does for different views, with the same answer.
    same: u8,
}

impl Views {
    pub(crate) const SQL: u8 = 1;
    pub(crate) const PATH: u8 = 2;
    pub(crate) const SHELL: u8 = 4;

    /// Whether every view in `views` (bits of [`Views::SQL`], [`Views::PATH`],
    /// [`Views::SHELL`]) is a copy of `text`.
    pub(crate) fn same_as_text(&self, views: u8) -> bool {
        self.same & views == views
    }

    /// Gives every view buffer room for `bytes` more bytes, so that decoding the values of a
    /// request does not grow them one reallocation at a time.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        for buf in [
            &mut self.text,
            &mut self.sql,
            &mut self.path,
            &mut self.shell,
            &mut self.decoded,
        ] {
            buf.reserve(bytes);
        }
    }
}

/// A set of byte classes found in a string, from one table lookup per byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ByteSet(u32);

impl ByteSet {
    /// `%`, `&`, `\` or NUL: percent, entity or escape decoding may change the value.
    pub(crate) const ESCAPE: u32 = 1 << 0;
    pub(crate) const NON_ASCII: u32 = 1 << 1;
    /// TAB, LF, VT, FF, CR: white space other than a single space.
    pub(crate) const CONTROL_SPACE: u32 = 1 << 2;
    pub(crate) const SLASH: u32 = 1 << 3;
    pub(crate) const BACKSLASH: u32 = 1 << 4;
    pub(crate) const DOLLAR: u32 = 1 << 5;
    pub(crate) const SINGLE_QUOTE: u32 = 1 << 6;
    pub(crate) const DOUBLE_QUOTE: u32 = 1 << 7;
    pub(crate) const BACKTICK: u32 = 1 << 8;
    pub(crate) const CARET: u32 = 1 << 9;
    pub(crate) const STAR: u32 = 1 << 10;
    pub(crate) const PLUS: u32 = 1 << 11;
    pub(crate) const LT: u32 = 1 << 12;
    pub(crate) const EQUALS: u32 = 1 << 13;
    pub(crate) const HASH: u32 = 1 << 14;
    pub(crate) const DASH: u32 = 1 << 15;
    pub(crate) const COLON: u32 = 1 << 16;

    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut b = 0x80;
        while b < 256 {
            t[b] = Self::NON_ASCII;
            b += 1;
        }
        t[b'%' as usize] = Self::ESCAPE;
        t[b'&' as usize] = Self::ESCAPE;
        t[0] = Self::ESCAPE;
        t[b'\\' as usize] = Self::ESCAPE | Self::BACKSLASH;
        t[b'\t' as usize] = Self::CONTROL_SPACE;
        t[b'\n' as usize] = Self::CONTROL_SPACE;
        t[0x0b] = Self::CONTROL_SPACE;
        t[0x0c] = Self::CONTROL_SPACE;
        t[b'\r' as usize] = Self::CONTROL_SPACE;
        t[b'/' as usize] = Self::SLASH;
        t[b'$' as usize] = Self::DOLLAR;
        t[b'\'' as usize] = Self::SINGLE_QUOTE;
        t[b'"' as usize] = Self::DOUBLE_QUOTE;
        t[b'`' as usize] = Self::BACKTICK;
        t[b'^' as usize] = Self::CARET;
        t[b'*' as usize] = Self::STAR;
        t[b'+' as usize] = Self::PLUS;
        t[b'<' as usize] = Self::LT;
        t[b'=' as usize] = Self::EQUALS;
        t[b'#' as usize] = Self::HASH;
        t[b'-' as usize] = Self::DASH;
        t[b':' as usize] = Self::COLON;
        t
    };

    pub(crate) fn of(s: &str) -> ByteSet {
        ByteSet(s.bytes().fold(0, |m, b| m | Self::TABLE[usize::from(b)]))
    }

    /// Whether any of the classes in `mask` occurs.
    pub(crate) fn any(self, mask: u32) -> bool {
        self.0 & mask != 0
    }
}

/// Decodes `raw` (cut to `max_len` bytes) into all views.
pub fn views(raw: &str, max_len: usize) -> Views {
    let mut out = Views::default();
    views_into(raw, max_len, &mut out);
    out
}

/// [`views`] into `out`, reusing its buffers: inspecting many values with one `Views` costs no
/// allocation per value once the buffers have grown.
///
/// Most values need no decoding at all: without `%`, `&`, `\\` or NUL, percent, entity and
/// escape decoding change nothing, and NFKC changes nothing either for ASCII and for text its
/// quick check reports as already normalised (accented letters, dashes, most prose). Those
/// skip [`decode`] (`decoding_plain_values_changes_nothing` checks that it would be the
/// identity); every value then gets its views from the same [`derive_views`].
pub fn views_into(raw: &str, max_len: usize, out: &mut Views) {
    let raw = truncate(raw, max_len);
    let raw_bytes = ByteSet::of(raw);
    let plain = !raw_bytes.any(ByteSet::ESCAPE)
        && (!raw_bytes.any(ByteSet::NON_ASCII) || nfkc_quick_yes(raw));
    let (url_encoded, decoded_bytes) = if plain {
        out.decoded.clear();
        out.decoded.push_str(raw);
        (false, raw_bytes)
    } else {
        let (decoded, url_encoded) = decode(raw, max_len);
        out.decoded = decoded;
        (url_encoded, ByteSet::of(&out.decoded))
    };
    derive_views(url_encoded, decoded_bytes, true, out);
}

/// Percent and entity decoding (repeated), escapes, NFKC and NUL removal: the decoded value,
/// and whether percent decoding changed anything (URL-encoded data inside the value).
fn decode(raw: &str, max_len: usize) -> (String, bool) {
    let mut cur: String = raw.to_owned();
    let mut url_encoded = false;
    for _ in 0..MAX_DECODE_ROUNDS {
        let unescaped = percent_decode(&cur);
        url_encoded |= unescaped != cur;
        let next = html_decode(&unescaped);
        if next == cur {
            break;
        }
        cur = next;
    }
    let cur = escape_decode(&cur);
    let cur = if cur.is_ascii() {
        cur
    } else {
        let n: String = cur.nfkc().collect();
        truncate(&n, max_len.saturating_mul(2)).to_owned()
    };
    let cur = if cur.contains('\0') {
        cur.chars().filter(|c| *c != '\0').collect()
    } else {
        cur
    };
    (cur, url_encoded)
}

/// Fills `text`, `sql`, `path` and `shell` from `out.decoded`, reusing the buffers. With
/// `shortcuts`, a class transformation is skipped when the text holds nothing it acts on (it
/// would return the text unchanged: `collapse_ws` is idempotent on `text`, which it produced);
/// `shortcuts_change_nothing` checks that against `shortcuts = false`.
///
/// `decoded_bytes` is `ByteSet::of(&out.decoded)`.
fn derive_views(url_encoded: bool, decoded_bytes: ByteSet, shortcuts: bool, out: &mut Views) {
    let Views {
        text,
        sql,
        path,
        shell,
        decoded,
        text_bytes,
        same,
    } = out;
    let bytes = if !decoded_bytes.any(ByteSet::NON_ASCII) {
        // ASCII with single spaces only: `text` is `decoded` lower-cased, and lower-casing
        // changes letters only, which no byte class holds, so the classes are the same.
        if lower_collapse_ascii(decoded, decoded_bytes, text) {
            decoded_bytes
        } else {
            ByteSet::of(text)
        }
    } else {
        lower_collapse_unicode(decoded, decoded_bytes, text);
        ByteSet::of(text)
    };
    let text = text.as_str();
    *text_bytes = bytes;
    // A view copied from `text` is marked as such; a transformed one is not (see `same`).
    *same = 0;
    sql.clear();
    if shortcuts
        && !(bytes.any(ByteSet::SLASH) && bytes.any(ByteSet::STAR) && has_pair(text, b'/', b'*'))
    {
        sql.push_str(text);
        *same |= Views::SQL;
    } else {
        sql.push_str(&collapse_ws(&strip_sql_comments(text)));
    }
    path.clear();
    if shortcuts && !bytes.any(ByteSet::BACKSLASH | ByteSet::SLASH | ByteSet::DOLLAR) {
        path.push_str(text);
        *same |= Views::PATH;
    } else {
        path.push_str(&fold_path(&strip_empty_expansions(text)));
    }
    shell.clear();
    if shortcuts
        && !bytes.any(
            ByteSet::BACKSLASH
                | ByteSet::SINGLE_QUOTE
                | ByteSet::DOUBLE_QUOTE
                | ByteSet::CARET
                | ByteSet::DOLLAR,
        )
    {
        shell.push_str(text);
        *same |= Views::SHELL;
    } else if shortcuts && !bytes.any(ByteSet::DOLLAR) {
        strip_shell_quotes_into(text, shell);
    } else {
        shell.push_str(&collapse_ws(&strip_shell_quoting(text)));
    }
    if url_encoded && bytes.any(ByteSet::PLUS) {
        // Percent escapes left after the transport decoding mean URL-encoded data inside the
        // value (double encoding), where `+` is a space: `'+WAITFOR+DELAY+'`, `;cat+/etc/x`.
        // Only the SQL and shell views: `+` is syntax in HTML/UTF-7 payloads.
        *sql = collapse_ws(&sql.replace('+', " "));
        *shell = collapse_ws(&shell.replace('+', " "));
        *same &= !(Views::SQL | Views::SHELL);
    }
    if bytes.any(ByteSet::NON_ASCII) && (!shortcuts || has_typographic_quote(sql)) {
        *sql = fold_typographic_quotes(sql);
        *same &= !Views::SQL;
    }
}

/// Whether `s` holds a character [`fold_typographic_quotes`] changes (U+2018–U+201F,
/// U+2032, U+2033, U+00B4, U+0301), by their UTF-8 bytes.
fn has_typographic_quote(s: &str) -> bool {
    let b = s.as_bytes();
    // Only the three lead bytes need a closer look, found by a vectorised search.
    memchr::memchr3_iter(0xc2, 0xcc, 0xe2, b).any(|i| match b[i] {
        0xc2 => b.get(i + 1) == Some(&0xb4),
        0xcc => b.get(i + 1) == Some(&0x81),
        _ => b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0x98..=0x9f | 0xb2 | 0xb3)),
    })
}

/// `collapse_ws(&strip_shell_quoting(text))` for a `text` view without `$` (so no expansion to
/// remove): the quoting characters are ASCII, so the text is copied in slices between them;
/// white space is collapsed again only where a removed character stood between two spaces or
/// line breaks (`text` is collapsed already: its only white space is single ` ` and `\n`).
fn strip_shell_quotes_into(text: &str, out: &mut String) {
    out.clear();
    let mut rest = text;
    // Two white-space bytes can only meet where a character was removed between them
    // (`text` has none side by side), so that is the only place to look.
    let mut spaces_meet = false;
    while let Some(i) = rest.find(['\\', '\'', '"', '^']) {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        spaces_meet |= matches!(out.as_bytes().last(), Some(b' ' | b'\n'))
            && matches!(rest.as_bytes().first(), Some(b' ' | b'\n'));
    }
    out.push_str(rest);
    if spaces_meet {
        *out = collapse_ws(out);
    }
}

/// `collapse_ws(&raw.to_lowercase())` in one pass for text that is not ASCII. Lower-casing
/// one character at a time is what `str::to_lowercase` does except for a capital sigma (its
/// final form depends on the next character), so text with `Σ` takes the two-step way.
///
/// `raw_bytes` is `ByteSet::of(raw)`.
fn lower_collapse_unicode(raw: &str, raw_bytes: ByteSet, out: &mut String) {
    out.clear();
    if raw.contains('Σ') {
        collapse_ws_into(&raw.to_lowercase(), out);
        return;
    }
    out.reserve(raw.len());
    if !raw_bytes.any(ByteSet::CONTROL_SPACE) && !has_double_space(raw) {
        lower_collapse_plain_spacing(raw, out);
        return;
    }
    let mut in_space = false;
    for c in raw.chars() {
        if c.is_ascii() {
            match c {
                '\n' | '\r' => {
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                    in_space = false;
                }
                '\t' | '\u{b}' | '\u{c}' | ' ' => {
                    if !in_space {
                        out.push(' ');
                    }
                    in_space = true;
                }
                _ => {
                    out.push(c.to_ascii_lowercase());
                    in_space = false;
                }
            }
            continue;
        }
        // Lower-casing never yields a line break or white space from other characters.
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
            continue;
        }
        out.extend(c.to_lowercase());
        in_space = false;
    }
}

/// [`lower_collapse_unicode`] for text whose ASCII white space is single spaces (most prose
/// with accents or dashes): its ASCII runs are copied and lower-cased whole, and only the
/// other characters are handled one by one. `out` ends with a space exactly when the last
/// character was white space (lower-casing never yields one), which stands for the loop's
/// `in_space`: a run starting with a space after white space drops that space.
fn lower_collapse_plain_spacing(raw: &str, out: &mut String) {
    let mut rest = raw;
    while !rest.is_empty() {
        let n = first_non_ascii(rest.as_bytes()).unwrap_or(rest.len());
        let mut run = &rest[..n];
        if run.starts_with(' ') && out.ends_with(' ') {
            run = &run[1..];
        }
        let start = out.len();
        out.push_str(run);
        out[start..].make_ascii_lowercase();
        rest = &rest[n..];
        if let Some(c) = rest.chars().next() {
            if c.is_whitespace() {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            } else {
                out.extend(c.to_lowercase());
            }
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// `collapse_ws(&raw.to_lowercase())` for ASCII `raw`, in one pass. ASCII white space in
/// `char::is_whitespace`'s sense is TAB, LF, VT, FF, CR and SPACE.
///
/// `raw_bytes` is `ByteSet::of(raw)`. Returns whether `raw` had plain spacing (no white space
/// but single spaces), so that `out` is `raw` lower-cased.
fn lower_collapse_ascii(raw: &str, raw_bytes: ByteSet, out: &mut String) -> bool {
    out.clear();
    // Most values hold no white space but single spaces: then collapsing changes nothing and
    // this is a copy and a lower-casing of the whole buffer.
    let plain_spacing = !raw_bytes.any(ByteSet::CONTROL_SPACE) && !has_double_space(raw);
    if plain_spacing {
        out.push_str(raw);
        out.make_ascii_lowercase();
        return true;
    }
    out.reserve(raw.len());
    let mut in_space = false;
    for b in raw.bytes() {
        match b {
            b'\n' | b'\r' => {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                in_space = false;
            }
            b'\t' | 0x0b | 0x0c | b' ' => {
                if !in_space {
                    out.push(' ');
                }
                in_space = true;
            }
            _ => {
                out.push(char::from(b.to_ascii_lowercase()));
                in_space = false;
            }
        }
    }
    false
}

/// Whether NFKC's quick check answers a plain yes for `s` (it is normalised already). Only the
/// runs of non-ASCII characters are checked: an ASCII character is normalised and of
/// combining class 0, so the check restarts after each one exactly as it starts on a run, and
/// decoding prose character by character cost more than the rest of its decoding.
/// `nfkc_quick_check_by_runs_agrees` compares it with the whole-string check.
fn nfkc_quick_yes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut at = 0;
    while let Some(n) = first_non_ascii(&b[at..]) {
        let start = at + n;
        // UTF-8 encodes every non-ASCII character in bytes >= 0x80 only, so the run ends on a
        // character boundary.
        let end = b[start..]
            .iter()
            .position(u8::is_ascii)
            .map_or(b.len(), |n| start + n);
        let Some(run) = s.get(start..end) else {
            return false;
        };
        if is_nfkc_quick(run.chars()) != IsNormalized::Yes {
            return false;
        }
        at = end;
    }
    true
}

/// The index of the first byte of `b` that is not ASCII, eight bytes at a time.
fn first_non_ascii(b: &[u8]) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let high = u64::from_le_bytes(word) & HIGH;
        if high != 0 {
            return Some(i + (high.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|b| !b.is_ascii()).map(|n| i + n)
}

/// Whether `s` holds the ASCII byte `first` directly followed by `second` (`--`, `/*`). The
/// first byte is rare in ordinary values, so a vectorised search for it leaves few candidates,
/// at a fraction of the cost of `str::contains`, which sets its search up on every call.
pub(crate) fn has_pair(s: &str, first: u8, second: u8) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(first, b).any(|i| b.get(i + 1) == Some(&second))
}

/// Whether `s` holds two spaces in a row. Asked of nearly every inspected value, whose
/// spacing is mostly single: a prebuilt vectorised searcher costs a fraction of
/// `str::contains`, which sets its search up on every call.
fn has_double_space(s: &str) -> bool {
    static DOUBLE_SPACE: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"  "));
    DOUBLE_SPACE.find(s.as_bytes()).is_some()
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn hex_val(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// Percent-decodes `%XX` and IIS-style `%uXXXX`; malformed escapes are kept literally.
/// Invalid UTF-8 produced by decoding is replaced (U+FFFD) rather than rejected.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            if matches!(b.get(i + 1), Some(b'u' | b'U'))
                && let Some(cp) = hex_run(&b[i + 2..], 4)
            {
                push_char(&mut out, cp);
                i += 6;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_run(b: &[u8], n: usize) -> Option<u32> {
    if b.len() < n {
        return None;
    }
    b[..n]
        .iter()
        .try_fold(0u32, |acc, c| hex_val(*c).map(|v| acc * 16 + v))
}

fn push_char(out: &mut Vec<u8>, cp: u32) {
    let c = char::from_u32(cp).unwrap_or('\u{fffd}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Named entities attackers use to smuggle syntax (HTML5 adds `&colon;`, `&lpar;`, `&Tab;`...).
const ENTITIES: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("amp", '&'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("colon", ':'),
    ("semi", ';'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("lpar", '('),
    ("rpar", ')'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lbrack", '['),
    ("rbrack", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("lbrace", '{'),
    ("rbrace", '}'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("excl", '!'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("ast", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
    ("equals", '='),
    ("quest", '?'),
    ("commat", '@'),
    ("grave", '`'),
    ("lowbar", '_'),
    ("verbar", '|'),
    ("vert", '|'),
    ("hat", '^'),
    ("tilde", '~'),
];

/// Decodes `&name;`, `&#ddd;` and `&#xhh;` (the `;` is optional for numeric forms, as in
/// browsers). Unknown names are kept literally.
pub fn html_decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        match decode_entity(rest) {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes one entity at the start of `s` (which starts with `&`): the character and the
/// number of bytes consumed.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (radix, start) = if matches!(b.get(2), Some(b'x' | b'X')) {
            (16, 3)
        } else {
            (10, 2)
        };
        let digits = b[start..]
            .iter()
            .take(8)
            .take_while(|c| (**c as char).is_digit(radix))
            .count();
        if digits == 0 {
            return None;
        }
        let cp = u32::from_str_radix(&s[start..start + digits], radix).ok()?;
        let mut used = start + digits;
        if b.get(used) == Some(&b';') {
            used += 1;
        }
        return Some((char::from_u32(cp).unwrap_or('\u{fffd}'), used));
    }
    let name_len = b[1..]
        .iter()
        .take(10)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if name_len == 0 || b.get(1 + name_len) != Some(&b';') {
        return None;
    }
    let name = &s[1..1 + name_len];
    ENTITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, c)| (*c, name_len + 2))
}

/// Decodes JavaScript/JSON-style `\uXXXX`, `\u{X..}` and `\xHH` escapes; other backslashes stay.
pub fn escape_decode(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(b'u') => {
                    if let Some(cp) = hex_run(&b[i + 2..], 4) {
                        push_char(&mut out, cp);
                        i += 6;
                        continue;
                    }
                    if b.get(i + 2) == Some(&b'{')
                        && let Some(close) = b[i + 3..].iter().take(7).position(|c| *c == b'}')
                        && let Some(cp) = hex_run(&b[i + 3..], close)
                    {
                        push_char(&mut out, cp);
                        i += 4 + close;
                        continue;
                    }
                }
                Some(b'x') => {
                    if let Some(used) = decode_hex_bytes(&b[i..], &mut out) {
                        i += used;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a run of `\xHH` escapes at the start of `b`: as UTF-8 when the bytes form valid
/// UTF-8 (`\xc2\xbc` is `¼`, as a C or Python string literal would produce), else one
/// character per byte. Returns the bytes of `b` consumed, or `None` if `b` does not start with
/// an escape.
fn decode_hex_bytes(b: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut bytes = Vec::new();
    let mut i = 0;
    while b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'x') {
        let Some(v) = hex_run(&b[i + 2..], 2) else {
            break;
        };
        bytes.push(v as u8);
        i += 4;
    }
    if bytes.is_empty() {
        return None;
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => out.extend_from_slice(text.as_bytes()),
        Err(_) => {
            for v in bytes {
                push_char(out, u32::from(v));
            }
        }
    }
    Some(i)
}

/// Turns tabs, form feeds and other horizontal space into one space per run; runs of CR/LF
/// become one `\n` (kept because newlines separate shell commands).
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    collapse_ws_into(s, &mut out);
    out
}

/// [`collapse_ws`], appending to `out`.
fn collapse_ws_into(s: &str, out: &mut String) {
    let mut in_space = false;
    for c in s.chars() {
        if c == '\n' || c == '\r' {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            in_space = false;
        } else if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
}

/// Replaces SQL comments by a space; MySQL executable comments `/*!50000 x */` keep `x`.
pub fn strip_sql_comments(s: &str) -> String {
    if !s.contains("/*") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let body = &rest[start + 2..];
        let end = body.find("*/");
        let inner = &body[..end.unwrap_or(body.len())];
        if let Some(exec) = inner.strip_prefix('!') {
            out.push(' ');
            out.push_str(exec.trim_start_matches(|c: char| c.is_ascii_digit()));
        }
        out.push(' ');
        rest = match end {
            Some(e) => &body[e + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Typographic quotes and accents to ASCII quotes (‘ ’ ´ ′ to `'`, “ ” „ ″ to `"`): database
/// drivers and Windows "best fit" code-page conversions turn them into real quotes, so in the
/// SQL view `1’ OR ’1’=’1` is `1' OR '1'='1`. Prose with curly apostrophes then reads like
/// prose with straight ones, which the rules already expect.
pub fn fold_typographic_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            // NFKC has already turned `´` into a space and a combining acute accent.
            ' ' if chars.peek() == Some(&'\u{301}') => {
                chars.next();
                '\''
            }
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' | '\u{2032}' | '\u{b4}'
            | '\u{301}' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '\u{2033}' => '"',
            c => c,
        });
    }
    out
}

/// Backslash to slash and runs of slashes to one, so Windows and doubled separators look alike.
pub fn fold_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_slash = false;
    for c in s.chars() {
        let c = if c == '\\' { '/' } else { c };
        if c == '/' && prev_slash {
            continue;
        }
        prev_slash = c == '/';
        out.push(c);
    }
    out
}

/// Removes the characters shells drop while parsing a word (`\ ' " ^`) and the expansions
/// that are empty in practice ([`strip_empty_expansions`]), so `c'a't`, `c\at`, `c^at`,
/// `ca$@t` and `cat$u` all read `cat`.
pub fn strip_shell_quoting(s: &str) -> String {
    let s = strip_empty_expansions(s);
    s.chars()
        .filter(|c| !matches!(c, '\\' | '\'' | '"' | '^'))
        .collect()
}

/// Removes shell parameter expansions that attackers insert to split a word so that keyword
/// filters miss it: `$@` and `$*` anywhere (empty without arguments), and, inside a word, the
/// special parameters `$_ $$ $! $? $- $# $0`–`$9` and unset variables (`c$_at`, `una$$me`,
/// `/etc$u/passwd` read `cat`, `uname`, `/etc/passwd`). A `$name` that starts a word is a
/// real variable reference (`;$cmd`) and is kept for the rules that look for it.
pub fn strip_empty_expansions(s: &str) -> String {
    if !s.contains('$') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let in_word = |j: usize| j > 0 && (b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'/');
    while i < b.len() {
        if b[i] == b'$' {
            match b.get(i + 1) {
                Some(b'@' | b'*') => {
                    i += 2;
                    continue;
                }
                Some(b'_' | b'$' | b'!' | b'?' | b'-' | b'#' | b'0'..=b'9') if in_word(i) => {
                    i += 2;
                    continue;
                }
                Some(c) if c.is_ascii_alphabetic() && in_word(i) => {
                    i += 1;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    continue;
                }
                _ => {}
            }
        }
        // Copy one whole character (the input is UTF-8; `$` and ASCII are single bytes).
        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_percent_and_entities() {
        assert_eq!(views("%253Cscript%253E", 100).text, "<script>");
        assert_eq!(views("&lt;img src=x&gt;", 100).text, "<img src=x>");
        assert_eq!(views("&#x3c;a&#60;b&#0000060", 100).text, "<a<b<");
        assert_eq!(views("java&Tab;script&colon;", 100).text, "java script:");
        assert_eq!(views("%u003cx", 100).text, "<x");
        assert_eq!(views("&unknown; & &", 100).text, "&unknown; & &");
    }

    #[test]
    fn escapes_unicode_and_case() {
        assert_eq!(views("\\u003cSCRIPT\\x3e", 100).text, "<script>");
        assert_eq!(views("ＳＥＬＥＣＴ", 100).text, "select");
        assert_eq!(views("a\0b", 100).text, "ab");
        assert_eq!(views("a \t\r\n  b", 100).text, "a \n b");
    }

    #[test]
    fn class_views() {
        let v = views("1/**/UNION/*!50000SELECT*/1", 100);
        assert_eq!(v.sql, "1 union select 1");
        assert_eq!(views("..\\..\\\\windows", 100).path, "../../windows");
        assert_eq!(
            views("c'a't /e\"t\"c/pa$@sswd", 100).shell,
            "cat /etc/passwd"
        );
    }

    #[test]
    fn hex_escapes_as_utf8() {
        // (NFKC then folds `¼` to `1⁄4`.)
        assert_eq!(
            views("\\xc2\\xbcscript\\xc2\\xbe", 100).decoded,
            "1⁄4script3⁄4"
        );
        assert_eq!(views("\\x3cb\\x3e", 100).text, "<b>");
        // Not valid UTF-8: one character per byte, as before.
        assert_eq!(views("\\xff\\x41", 100).text, "ÿa");
    }

    #[test]
    fn empty_expansions_removed_inside_words() {
        assert_eq!(views("c$_at /et$!c/pas$?swd", 100).shell, "cat /etc/passwd");
        assert_eq!(
            views("una$$me -a; cat$u /etc$u/passwd", 100).shell,
            "uname -a; cat /etc/passwd"
        );
        assert_eq!(views("sh$XX -c id", 100).shell, "sh -c id");
        assert_eq!(views("/et$@c/pas$*swd", 100).path, "/etc/passwd");
        // A variable starting a word is a real reference; prices stay.
        assert_eq!(views(";$garb x", 100).shell, ";$garb x");
        assert_eq!(views("red;$5", 100).shell, "red;$5");
    }

    #[test]
    fn plus_is_a_space_in_url_encoded_values() {
        let v = views("%22+WAITFOR+DELAY+%27", 100);
        assert_eq!(v.sql, "\" waitfor delay '");
        assert_eq!(v.text, "\"+waitfor+delay+'");
        assert_eq!(views("c=a+b", 100).sql, "c=a+b");
    }

    #[test]
    fn typographic_quotes_in_the_sql_view() {
        let v = views("1’ OR ’1’=’1", 100);
        assert_eq!(v.sql, "1' or '1'='1");
        assert_eq!(v.text, "1’ or ’1’=’1");
        // (NFKC turns `´` into a space and a combining accent; spaces then collapse.)
        assert_eq!(views("1´ OR ´1´=´1", 100).sql, "1' or'1'='1");
    }

    #[test]
    fn bounded() {
        let long = "%25".repeat(10_000);
        let v = views(&long, 64);
        assert!(v.text.len() <= 64);
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    proptest::proptest! {
        /// Values the fast path takes are exactly those decoding leaves as they are.
        #[test]
        fn decoding_plain_values_changes_nothing(
            s in "[a-zA-Z0-9 \t\n\r\x0b\x0c/'\"^$@*_.;|<>()=#:!?`{}\\[\\]~+,\\-éÉ—ßΣİＡ¼’´\u{a0}\u{2028}\u{301}]{0,40}",
        ) {
            let plain = s.is_ascii() || is_nfkc_quick(s.chars()) == IsNormalized::Yes;
            if plain {
                proptest::prop_assert_eq!(decode(&s, 64), (s, false));
            }
        }

        /// Checking the non-ASCII runs alone answers what the check of the whole value does.
        #[test]
        fn nfkc_quick_check_by_runs_agrees(
            s in "[a-zA-Z0-9 .'\\-éÉ—ßΣİＡ¼’´\u{a0}\u{2028}\u{301}\u{327}\u{1100}\u{1161}\u{ff9e}]{0,40}",
        ) {
            proptest::prop_assert_eq!(
                nfkc_quick_yes(&s),
                is_nfkc_quick(s.chars()) == IsNormalized::Yes
            );
            proptest::prop_assert_eq!(
                first_non_ascii(s.as_bytes()),
                s.bytes().position(|b| !b.is_ascii())
            );
        }

        /// The one-pass ASCII lower-casing and collapsing is `collapse_ws` of `to_lowercase`.
        #[test]
        fn ascii_lowering_matches_the_general_one(s in "[a-zA-Z0-9 \t\n\r\x0b\x0c.;'-]{0,40}") {
            let mut out = String::from("stale");
            lower_collapse_ascii(&s, ByteSet::of(&s), &mut out);
            proptest::prop_assert_eq!(out, collapse_ws(&s.to_lowercase()));
        }

        /// The one-pass Unicode lower-casing and collapsing is `collapse_ws` of `to_lowercase`,
        /// with any ASCII white space and with single spaces only (where, without `Σ`, the
        /// run-by-run copy is what runs).
        #[test]
        fn unicode_lowering_matches_the_general_one(
            s in proptest::prop_oneof![
                "[a-zA-Z0-9 \t\n\r\x0b\x0c.;'éÉ—ßΣσİＡ¼’´\u{a0}\u{85}\u{2028}\u{3000}\u{301}ǅⅫ]{0,40}",
                "[a-zA-Z0-9 .;'éÉ—ßσİＡ¼’´\u{a0}\u{85}\u{2028}\u{3000}\u{301}ǅⅫ]{0,40}",
            ],
        ) {
            let mut out = String::from("stale");
            lower_collapse_unicode(&s, ByteSet::of(&s), &mut out);
            proptest::prop_assert_eq!(out, collapse_ws(&s.to_lowercase()));
        }

        /// The shortcuts of `derive_views` never change a view.
        #[test]
        fn shortcuts_change_nothing(
            s in "[a-zA-Z0-9 \t\n\r\x0b\x0c/\\\\'\"^$@*_.;|<>()=#:!?`{}\\[\\]~+,\\-éÉ—ßΣİＡ¼’´\u{a0}\u{2028}\u{301}%&]{0,40}",
            url_encoded in proptest::prelude::any::<bool>(),
        ) {
            let mut fast = views("%3Cwarm%20buffers%3E", 64);
            fast.decoded = s.clone();
            let bytes = ByteSet::of(&s);
            derive_views(url_encoded, bytes, true, &mut fast);
            let mut slow = Views { decoded: s, ..Views::default() };
            derive_views(url_encoded, bytes, false, &mut slow);
            // The byte classes of `text` taken over from `decoded` are those of `text`.
            proptest::prop_assert_eq!(fast.text_bytes, ByteSet::of(&fast.text));
            // What is marked as a copy of `text` is equal to it.
            for (bit, view) in [(Views::SQL, &fast.sql), (Views::PATH, &fast.path), (Views::SHELL, &fast.shell)] {
                proptest::prop_assert!(!fast.same_as_text(bit) || *view == fast.text);
            }
            // Without shortcuts nothing is marked; the views themselves must agree.
            slow.same = fast.same;
            proptest::prop_assert_eq!(fast, slow);
        }
    }
}
