//! Where a chunked request body ends, byte by byte, exactly as hyper's decoder
//! (`hyper/src/proto/h1/decode.rs`, `ChunkedState`) sees it.
//!
//! The scanner must agree with hyper on every body hyper accepts: if it ended a body earlier or
//! later, it would count the wrong heads, so the `Content-Length` + `Transfer-Encoding` refusal
//! would look at the wrong request, and the header read timeout (armed by head counts) would
//! stop running for the rest of the connection. Where hyper fails the body the connection ends
//! anyway, so there the scanner only has to give up ([`Invalid`]).
//!
//! Two of hyper's rules are easy to get wrong: a trailer section may be empty (the body then
//! ends with the `\r\n` right after the last chunk's size line), and trailer lines end only at
//! `\r\n` (a bare `\n` is part of the line).

/// hyper failed the body here: its connection ends, there is nothing more to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Invalid;

/// The decoder's state, one variant per state of hyper's (`Size`'s value is the size so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// Before a chunk's size: a hex digit must come.
    Start,
    Size(u64),
    /// Blanks after the size.
    SizeLws(u64),
    /// After `;`, up to `\r`.
    Extension(u64),
    /// After the size line's `\r`.
    SizeLf(u64),
    /// Chunk data still to come.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the blank line that ends the body.
    EndCr,
    /// Inside a trailer line.
    Trailer,
    TrailerLf,
    /// After the final blank line's `\r`.
    EndLf,
}

impl Chunked {
    /// Follows `data`. `Ok(Some(n))`: the body ended after `n` bytes of it; `Ok(None)`: all of
    /// it belongs to the body, which goes on.
    pub(super) fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, Invalid> {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            // The next state, and how many bytes of `data` (from `i`) this step took.
            let (next, used) = match *self {
                Self::Data(n) => {
                    let left = data.len() - i;
                    let take = usize::try_from(n).map_or(left, |n| n.min(left));
                    let rest = n - take as u64;
                    let next = if rest == 0 {
                        Self::DataCr
                    } else {
                        Self::Data(rest)
                    };
                    (next, take)
                }
                // Up to the `\r`; hyper refuses a bare `\n` in an extension.
                Self::Extension(n) => match memchr::memchr2(b'\r', b'\n', &data[i..]) {
                    None => (Self::Extension(n), data.len() - i),
                    Some(at) if data[i + at] == b'\r' => (Self::SizeLf(n), at + 1),
                    Some(_) => return Err(Invalid),
                },
                Self::Trailer => match memchr::memchr(b'\r', &data[i..]) {
                    None => (Self::Trailer, data.len() - i),
                    Some(at) => (Self::TrailerLf, at + 1),
                },
                Self::Start => (Self::Size(hex(b).ok_or(Invalid)?), 1),
                Self::Size(n) | Self::SizeLws(n) if matches!(b, b'\t' | b' ') => {
                    (Self::SizeLws(n), 1)
                }
                Self::Size(n) | Self::SizeLws(n) if b == b';' => (Self::Extension(n), 1),
                Self::Size(n) | Self::SizeLws(n) if b == b'\r' => (Self::SizeLf(n), 1),
                Self::Size(n) => {
                    let d = hex(b).ok_or(Invalid)?;
                    let n = n.checked_mul(16).and_then(|n| n.checked_add(d));
                    (Self::Size(n.ok_or(Invalid)?), 1)
                }
                Self::SizeLf(0) if b == b'\n' => (Self::EndCr, 1),
                Self::SizeLf(n) if b == b'\n' => (Self::Data(n), 1),
                Self::DataCr if b == b'\r' => (Self::DataLf, 1),
                Self::DataLf if b == b'\n' => (Self::Start, 1),
                Self::EndCr if b == b'\r' => (Self::EndLf, 1),
                // Anything else starts a trailer line.
                Self::EndCr => (Self::Trailer, 1),
                Self::TrailerLf if b == b'\n' => (Self::EndCr, 1),
                Self::EndLf if b == b'\n' => return Ok(Some(i + 1)),
                Self::SizeLws(_)
                | Self::SizeLf(_)
                | Self::DataCr
                | Self::DataLf
                | Self::TrailerLf
                | Self::EndLf => return Err(Invalid),
            };
            *self = next;
            i += used;
        }
        Ok(None)
    }
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `body` in pieces of `step`; the offset where the body ended, or the error.
    fn end(body: &[u8], step: usize) -> Result<Option<usize>, Invalid> {
        let mut c = Chunked::Start;
        let mut at = 0;
        for piece in body.chunks(step) {
            if let Some(n) = c.feed(piece)? {
                return Ok(Some(at + n));
            }
            at += piece.len();
        }
        Ok(None)
    }

    #[test]
    fn bodies_end_where_hyper_ends_them() {
        let cases: [(&str, Result<Option<usize>, Invalid>); 9] = [
            ("0\r\n\r\nGET", Ok(Some(5))),
            ("3\r\nabc\r\n0\r\n\r\n", Ok(Some(13))),
            ("3 ;a=b\r\nabc\r\n00\r\n\r\n", Ok(Some(19))),
            ("A\r\n0123456789\r\n0\r\nx: 1\r\n\r\n", Ok(Some(26))),
            // A bare `\n` is part of a trailer line: the blank line is the `\r\n` after `2`.
            ("0\r\nx: 1\n\ny: 2\r\n\r\nGET", Ok(Some(17))),
            ("0\r\n\nGET / HTTP/1.1\r\n\r\n", Ok(Some(22))),
            ("3\nabc", Err(Invalid)),
            ("3;a\nb\r\n", Err(Invalid)),
            ("3\r\nabcd\r\n", Err(Invalid)),
        ];
        for (body, want) in cases {
            for step in [1, 2, 5, 64] {
                assert_eq!(
                    end(body.as_bytes(), step),
                    want,
                    "{body:?} in pieces of {step}"
                );
            }
        }
    }

    #[test]
    fn sizes_beyond_u64_are_refused_as_hyper_refuses_them() {
        assert_eq!(end(b"ffffffffffffffff\r\n", 3), Ok(None));
        assert_eq!(end(b"10000000000000000\r\n", 3), Err(Invalid));
    }

    proptest! {
        /// However the bytes are split, the body ends at the same offset.
        #[test]
        fn pieces_do_not_matter(
            bytes in proptest::collection::vec(proptest::sample::select(b"0a;: \r\nx".to_vec()), 0..40),
            step in 1usize..8,
        ) {
            prop_assert_eq!(end(&bytes, step), end(&bytes, bytes.len().max(1)));
        }
    }
}
