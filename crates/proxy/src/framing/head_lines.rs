//! Counting a request head's header lines as its bytes arrive, to refuse a head with too many
//! before hyper sees the first byte of the one over the limit.
//!
//! hyper's parser answers more header fields than its limit with a bare `431` (no problem+json,
//! no log line), and a limit above its inline default of 100 makes it allocate and fill two
//! header arrays on the heap for every request. So hyper keeps its inline default and the
//! scanner enforces the count: the head is cut where the first line over the limit begins, and
//! the gateway answers with its own 431 (see `ScanIo`).

/// Incremental header-line counter for one head. Empty lines before the request line are
/// skipped (RFC 9112 §2.2), as hyper skips them.
#[derive(Debug, Default)]
pub(super) struct HeadLines {
    /// The request line has ended.
    request_line_done: bool,
    /// Header lines ended so far (`u32`: a head holds far fewer, and every idle connection
    /// keeps this counter).
    lines: u32,
    /// The current line has bytes other than `\r`.
    line_has_content: bool,
    /// The next byte starts a line.
    at_line_start: bool,
}

impl HeadLines {
    /// Feeds the next bytes of one head (never bytes past its end); returns the offset in
    /// `data` where a header line beyond `limit` begins.
    pub(super) fn feed(&mut self, data: &[u8], limit: usize) -> Option<usize> {
        let mut pos = 0;
        while pos < data.len() {
            if self.at_line_start
                && self.request_line_done
                && usize::try_from(self.lines).is_ok_and(|n| n >= limit)
                && !matches!(data[pos], b'\r' | b'\n')
            {
                return Some(pos);
            }
            let Some(i) = memchr::memchr(b'\n', &data[pos..]) else {
                self.line_has_content |= data[pos..].iter().any(|&b| b != b'\r');
                self.at_line_start = false;
                return None;
            };
            let line = &data[pos..pos + i];
            if self.line_has_content || line.iter().any(|&b| b != b'\r') {
                if self.request_line_done {
                    self.lines = self.lines.saturating_add(1);
                } else {
                    self.request_line_done = true;
                }
            }
            self.line_has_content = false;
            self.at_line_start = true;
            pos += i + 1;
        }
        None
    }
}

/// Where a complete head must be cut: the start of its first header line beyond `limit`.
/// Heads with too few line feeds to hold more than `limit` header lines are passed over
/// without looking at their lines.
pub(super) fn cut_complete_head(head: &[u8], limit: usize) -> Option<usize> {
    // A request line and `limit` header lines take at least two bytes each (a character and
    // a line feed), and a cut needs one byte more; most heads are shorter than that. Longer
    // ones: a request line, `limit` header lines and the blank line end in `limit + 2` line
    // feeds, and the start of one more header line needs at least one more.
    if head.len() < limit.saturating_mul(2).saturating_add(3)
        || memchr::memchr_iter(b'\n', head).count() <= limit.saturating_add(2)
    {
        return None;
    }
    HeadLines::default().feed(head, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(n: usize, leading_blank: usize) -> String {
        let mut s = "\r\n".repeat(leading_blank);
        s.push_str("GET / HTTP/1.1\r\n");
        for i in 0..n {
            s.push_str(&format!("x-h{i}: v\r\n"));
        }
        s.push_str("\r\n");
        s
    }

    #[test]
    fn a_head_at_the_limit_is_not_cut() {
        assert_eq!(cut_complete_head(head(3, 0).as_bytes(), 3), None);
        assert_eq!(cut_complete_head(head(3, 4).as_bytes(), 3), None);
    }

    #[test]
    fn the_shortest_head_over_the_limit_is_cut() {
        // Two bytes per line: the length pre-check must not pass it over.
        let h = "G\na\nb\nc\n\n";
        assert_eq!(cut_complete_head(h.as_bytes(), 2), Some(6));
        assert_eq!(cut_complete_head(h.as_bytes(), 3), None);
    }

    #[test]
    fn a_head_over_the_limit_is_cut_where_the_extra_line_begins() {
        let h = head(4, 2);
        let cut = cut_complete_head(h.as_bytes(), 3).expect("over the limit");
        assert!(h[cut..].starts_with("x-h3: v\r\n"), "{:?}", &h[cut..]);
    }

    proptest! {
        /// Fed in any pieces, the counter cuts where a whole-head scan does, and only heads
        /// with more than `limit` header lines.
        #[test]
        fn pieces_cut_where_the_whole_head_does(
            n in 0usize..12,
            limit in 0usize..10,
            blank in 0usize..3,
            splits in proptest::collection::vec(1usize..7, 0..40),
        ) {
            let h = head(n, blank);
            let bytes = h.as_bytes();
            let whole = HeadLines::default().feed(bytes, limit);
            prop_assert_eq!(whole.is_some(), n > limit);
            prop_assert_eq!(cut_complete_head(bytes, limit), whole);
            let mut counter = HeadLines::default();
            let (mut at, mut found) = (0, None);
            let mut steps = splits.into_iter().chain(std::iter::repeat(usize::MAX));
            while at < bytes.len() && found.is_none() {
                let end = at.saturating_add(steps.next().unwrap_or(1)).min(bytes.len());
                found = counter.feed(&bytes[at..end], limit).map(|c| at + c);
                at = end;
            }
            prop_assert_eq!(found, whole);
        }
    }
}
