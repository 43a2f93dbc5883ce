//! Bodies in UTF-16 or UTF-32. RFC 8259 asks for UTF-8, but Jackson (Spring) detects and decodes
//! UTF-16 and UTF-32 JSON, and XML readers honour a byte order mark: a body sent in one of those
//! encodings reaches such a back end as text while a UTF-8 reading sees a `NUL` between every
//! character, where no pattern matches. So a body that announces a wide encoding (a byte order
//! mark) or shows one (the `NUL` pattern its first, ASCII, character leaves, as RFC 4627 §3
//! describes it) is decoded before inspection.

/// The text of `body` if it is UTF-16 or UTF-32 (malformed code units become U+FFFD); `None`
/// for anything else, UTF-8 included.
pub(super) fn wide_text(body: &[u8]) -> Option<String> {
    let (encoding, skip) = match body {
        [0xFF, 0xFE, 0, 0, ..] => (Wide::Utf32Le, 4),
        [0, 0, 0xFE, 0xFF, ..] => (Wide::Utf32Be, 4),
        [0xFF, 0xFE, ..] => (Wide::Utf16Le, 2),
        [0xFE, 0xFF, ..] => (Wide::Utf16Be, 2),
        [0, 0, 0, a, ..] if *a != 0 => (Wide::Utf32Be, 0),
        [a, 0, 0, 0, ..] if *a != 0 => (Wide::Utf32Le, 0),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => (Wide::Utf16Be, 0),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => (Wide::Utf16Le, 0),
        _ => return None,
    };
    let body = &body[skip..];
    Some(match encoding {
        Wide::Utf16Le | Wide::Utf16Be => {
            let le = encoding == Wide::Utf16Le;
            let units = body.chunks_exact(2).map(|u| {
                let u = [u[0], u[1]];
                if le {
                    u16::from_le_bytes(u)
                } else {
                    u16::from_be_bytes(u)
                }
            });
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        Wide::Utf32Le | Wide::Utf32Be => body
            .chunks_exact(4)
            .map(|u| {
                let u = [u[0], u[1], u[2], u[3]];
                let n = if encoding == Wide::Utf32Le {
                    u32::from_le_bytes(u)
                } else {
                    u32::from_be_bytes(u)
                };
                char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wide {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_encodings_are_recognised_and_decoded() {
        let text = "{\"q\":\"é😀\"}";
        let le16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let le32: Vec<u8> = text
            .chars()
            .flat_map(|c| u32::from(c).to_le_bytes())
            .collect();
        let be32: Vec<u8> = text
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        for body in [&le16, &be16, &le32, &be32] {
            assert_eq!(wide_text(body).as_deref(), Some(text));
        }
        let mut bom = vec![0xFE, 0xFF];
        bom.extend_from_slice(&be16);
        assert_eq!(wide_text(&bom).as_deref(), Some(text));
        let mut bom = vec![0xFF, 0xFE, 0, 0];
        bom.extend_from_slice(&le32);
        assert_eq!(wide_text(&bom).as_deref(), Some(text));
        // A lone surrogate and a code point past U+10FFFF are replaced, not dropped.
        assert_eq!(
            wide_text(&[b'a', 0, b'b', 0, 0x00, 0xD8]).as_deref(),
            Some("ab\u{FFFD}")
        );
        assert_eq!(
            wide_text(&[b'a', 0, 0, 0, 0, 0, 0x11, 0]).as_deref(),
            Some("a\u{FFFD}")
        );
    }

    #[test]
    fn utf8_and_short_bodies_are_left_alone() {
        for body in [
            &b"{\"q\":1}"[..],
            b"<a/>",
            b"a=1",
            b"",
            b"a",
            &[0xEF, 0xBB, 0xBF, b'{'],
        ] {
            assert_eq!(wide_text(body), None, "{body:?}");
        }
    }
}
