//! Request-smuggling evidence that hyper hides: when a request carries both `Content-Length` and
//! `Transfer-Encoding`, hyper follows RFC 9112 §6.1 — it drops `Content-Length`, decodes chunked
//! and closes the connection afterwards — so the handler never sees the ambiguity. We promise a
//! 400 for it, so a small scanner watches the raw bytes of each HTTP/1 connection, tracks
//! message framing (heads, Content-Length bodies, chunked bodies), and records the ordinal of any
//! request head that carried both headers. The handler counts requests on the connection and
//! refuses the flagged one. HTTP/2 connections (and anything the scanner cannot follow) are left
//! alone: the flag is only a hint, double-checked against the parsed request.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[cfg(test)]
mod against_hyper;
mod chunked;
mod head_lines;

use chunked::Chunked;
use head_lines::{HeadLines, cut_complete_head};

/// Longest head the scanner buffers unless told otherwise (see
/// [`ScanIo::buffering_heads_up_to`]); past this hyper rejects the request anyway.
const MAX_HEAD: usize = 256 * 1024;

/// Per-connection counters shared by the scanner, the handler and the listener.
///
/// Besides the smuggling evidence they tell the listener when an HTTP/1 connection is idle
/// between requests (see [`FramingFlags::is_idle`]), so that it can drop hyper's per-connection
/// state and buffers while the client thinks.
#[derive(Debug)]
pub struct FramingFlags {
    requests: AtomicU64,
    ambiguous: AtomicU64,
    /// Request heads the scanner has seen.
    heads: AtomicU64,
    /// Responses whose body has ended (sent, failed or dropped).
    responses: AtomicU64,
    /// Everything read so far ends exactly at a message boundary.
    at_boundary: AtomicBool,
    /// Something was written since the last successful flush.
    unflushed: AtomicBool,
    /// The connection left plain request/response framing (upgrade, HTTP/2, or bytes the
    /// scanner cannot follow): it is never idle in the sense above.
    sticky: AtomicBool,
    /// No more request heads will come: the connection was upgraded, speaks HTTP/2, or carries
    /// bytes the scanner cannot follow.
    headless: AtomicBool,
}

impl Default for FramingFlags {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            ambiguous: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            responses: AtomicU64::new(0),
            at_boundary: AtomicBool::new(true),
            unflushed: AtomicBool::new(false),
            sticky: AtomicBool::new(false),
            headless: AtomicBool::new(false),
        }
    }
}

impl FramingFlags {
    /// Called once per request by the handler, in arrival order: true if this request's head
    /// carried both Content-Length and Transfer-Encoding.
    pub fn next_request_is_ambiguous(&self) -> bool {
        let ordinal = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        self.ambiguous.load(Ordering::Relaxed) == ordinal
    }

    /// Called by the handler when a response body has ended (or was dropped).
    pub fn response_done(&self) {
        self.responses.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by the handler when the connection was switched to another protocol.
    pub fn upgraded(&self) {
        self.headless.store(true, Ordering::Relaxed);
        self.sticky.store(true, Ordering::Relaxed);
    }

    /// True while an HTTP/1 connection waits for the next request head: every head seen has
    /// had its response end (an incomplete head may be arriving), and heads still follow.
    pub fn awaiting_head(&self) -> bool {
        !self.headless.load(Ordering::Relaxed)
            && self.heads.load(Ordering::Relaxed) == self.responses.load(Ordering::Relaxed)
    }

    /// Request heads seen on the connection so far.
    pub fn heads(&self) -> u64 {
        self.heads.load(Ordering::Relaxed)
    }

    /// True when the HTTP/1 connection holds nothing of a message: every byte read belonged to
    /// a complete request, every request has had its response body end, and everything written
    /// has been flushed to the socket. Checked by the listener while hyper waits, so nothing
    /// changes underneath it (all of these are updated from inside the connection's own task).
    pub fn is_idle(&self) -> bool {
        !self.sticky.load(Ordering::Relaxed)
            && self.at_boundary.load(Ordering::Relaxed)
            && self.answered()
    }

    /// Every head seen has had its response end, and everything written has been flushed.
    fn answered(&self) -> bool {
        !self.unflushed.load(Ordering::Relaxed)
            && self.heads.load(Ordering::Relaxed) == self.responses.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    Body(u64),
    Chunked(Chunked),
    Off,
    /// A head had more header lines than the limit (its request line kept for the log):
    /// nothing more is passed on.
    Refused(Vec<u8>),
}

/// The byte-level framing tracker.
#[derive(Debug)]
struct Scanner {
    state: State,
    heads: u64,
    /// Most header lines a head may have (see [`head_lines`]).
    max_lines: usize,
    /// Longest head followed; a longer one switches the scanner off.
    max_head: usize,
    /// Header lines of a head that arrives in pieces.
    lines: HeadLines,
}

impl Scanner {
    fn new(max_lines: usize) -> Self {
        Self {
            state: State::Head(Vec::new()),
            heads: 0,
            max_lines,
            max_head: MAX_HEAD,
            lines: HeadLines::default(),
        }
    }

    /// Follows the framing of `data`; returns the offset in `data` where a head with too many
    /// header lines was cut (the state is then [`State::Refused`]).
    fn feed(&mut self, mut data: &[u8], flags: &FramingFlags) -> Option<usize> {
        let len = data.len();
        while !data.is_empty() {
            let offset = len - data.len();
            match &mut self.state {
                State::Off | State::Refused(_) => return None,
                // The common case, a whole head within one read and nothing buffered: scanned
                // in place, without copying it into the buffer.
                State::Head(buf)
                    if buf.is_empty()
                        && let Some(end) = head_end(data, 0) =>
                {
                    let (block, rest) = data.split_at(end);
                    if let Some(cut) = cut_complete_head(block, self.max_lines) {
                        self.state = State::Refused(request_line(block).to_vec());
                        return Some(offset + cut);
                    }
                    data = rest;
                    self.state = self.on_head(block, flags);
                }
                State::Head(buf) => {
                    let before = buf.len();
                    buf.extend_from_slice(data);
                    let end = head_end(buf, before.saturating_sub(3));
                    if before == 0 {
                        self.lines = HeadLines::default();
                    }
                    let this_head = end.map_or(data, |end| &data[..end - before]);
                    if let Some(cut) = self.lines.feed(this_head, self.max_lines) {
                        let line = request_line(&buf[..before + cut]).to_vec();
                        self.state = State::Refused(line);
                        return Some(offset + cut);
                    }
                    let Some(end) = end else {
                        if buf.len() > self.max_head {
                            self.state = State::Off;
                        }
                        return None;
                    };
                    let consumed = end - before;
                    data = &data[consumed..];
                    let block = std::mem::take(buf);
                    self.state = self.on_head(&block[..end], flags);
                }
                State::Body(left) => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    data = &data[usize::try_from(n).unwrap_or(data.len())..];
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::Chunked(chunked) => match chunked.feed(data) {
                    Ok(Some(end)) => {
                        data = &data[end..];
                        self.state = State::Head(Vec::new());
                    }
                    Ok(None) => return None,
                    Err(chunked::Invalid) => self.state = State::Off,
                },
            }
        }
        None
    }

    /// Inspects one complete head; returns the state for what follows it. Works on bytes: only
    /// three header names matter, so there is no text conversion and no per-line splitting.
    fn on_head(&mut self, head: &[u8], flags: &FramingFlags) -> State {
        let mut lines = memchr::memchr_iter(b'\n', head).scan(0, |start, end| {
            let line = &head[*start..end];
            *start = end + 1;
            Some(line.strip_suffix(b"\r").unwrap_or(line))
        });
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        let Some(request_line) = lines.by_ref().find(|l| !l.is_empty()) else {
            return State::Head(Vec::new());
        };
        if request_line.starts_with(b"PRI * HTTP/2.0") {
            return State::Off;
        }
        self.heads += 1;
        flags.heads.store(self.heads, Ordering::Relaxed);
        // `Some(None)`: Content-Length fields hyper refuses (the connection then ends).
        let (mut cl, mut te): (Option<Option<u64>>, bool) = (None, false);
        for line in lines {
            // Only three names matter; their first letters rule out most lines at once.
            let first = line.trim_ascii_start().first().map(u8::to_ascii_lowercase);
            if !matches!(first, Some(b'c' | b't' | b'u')) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let name = line[..colon].trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                // hyper's rule: several such fields must hold the same number.
                let value = content_length(&line[colon + 1..]);
                cl = Some(match (cl, value) {
                    (None, n) => n,
                    (Some(a), b) if a == b => a,
                    _ => None,
                });
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                te = true;
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                // What follows a successful upgrade is not HTTP/1 any more.
                flags.sticky.store(true, Ordering::Relaxed);
            }
        }
        if te && cl.is_some() {
            flags.ambiguous.store(self.heads, Ordering::Relaxed);
        }
        match (te, cl) {
            (true, _) => State::Chunked(Chunked::Start),
            (false, Some(None)) => State::Off,
            (false, Some(Some(0)) | None) => State::Head(Vec::new()),
            (false, Some(Some(n))) => State::Body(n),
        }
    }
}

/// A `Content-Length` field value as hyper's server reads it: decimal digits only (no sign, no
/// list). `None` if hyper refuses it.
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let d = (d as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// The request line of a head (or of its start): its first non-empty line, without `\r\n`.
fn request_line(head: &[u8]) -> &[u8] {
    let start = head
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(head.len());
    let line = &head[start..];
    let end = memchr::memchr(b'\n', line).unwrap_or(line.len());
    line[..end].strip_suffix(b"\r").unwrap_or(&line[..end])
}

/// Index just past the blank line ending a head (`\r\n\r\n` or `\n\n`), searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    memchr::memchr_iter(b'\n', &buf[from..])
        .map(|i| from + i)
        .find_map(|i| match &buf[i + 1..] {
            [b'\n', ..] => Some(i + 2),
            [b'\r', b'\n', ..] => Some(i + 3),
            _ => None,
        })
}

/// Builds the gateway's whole HTTP/1.1 answer to a head refused for too many header lines,
/// given its request line (see [`ScanIo::refusing_heads_over`]).
pub type Refuse = Box<dyn FnOnce(&[u8]) -> Bytes + Send + Sync>;

/// Most bytes read and dropped after a refusal while waiting for the client to stop sending.
const REFUSAL_DRAIN: usize = 1 << 20;

/// The answer to a refused head, and how far its lingering close has come.
struct Refusal {
    out: Bytes,
    shut_down: bool,
    drained: usize,
    /// hyper's read, parked until its answers to the requests before the refused head are out.
    parked_read: Option<Waker>,
}

/// Wraps a connection's IO and scans what is read.
pub struct ScanIo<T> {
    inner: T,
    scanner: Scanner,
    flags: Arc<FramingFlags>,
    refuse: Option<Refuse>,
    /// The answer to a refused head being written; hyper reads the end of the stream once it
    /// is out and the client has stopped sending.
    /// Boxed: every idle connection holds a `ScanIo`, and almost none ever refuses a head.
    refusal: Option<Box<Refusal>>,
}

impl<T> ScanIo<T> {
    /// Wraps `inner`; the handler reads `flags`.
    pub fn new(inner: T, flags: Arc<FramingFlags>) -> Self {
        Self {
            inner,
            scanner: Scanner::new(usize::MAX),
            flags,
            refuse: None,
            refusal: None,
        }
    }

    /// Refuses any head with more than `max_lines` header lines: hyper is given the head only
    /// up to where the first line over the limit begins, then the end of the stream, and
    /// `refuse`'s answer is written once hyper's answers to earlier requests are out. So hyper's
    /// own limit never trips (it would answer with a bare 431) and can stay at its inline
    /// default (see [`head_lines`]).
    #[must_use]
    pub fn refusing_heads_over(mut self, max_lines: usize, refuse: Refuse) -> Self {
        self.scanner.max_lines = max_lines;
        self.refuse = Some(refuse);
        self
    }

    /// Follows heads up to `bytes` long (at least [`MAX_HEAD`]). Must be at least what hyper
    /// buffers: a scanner that gave up on a head hyper still serves would stop counting heads
    /// for the rest of the connection.
    #[must_use]
    pub fn buffering_heads_up_to(mut self, bytes: usize) -> Self {
        self.scanner.max_head = bytes.max(MAX_HEAD);
        self
    }

    /// The wrapped IO.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncWrite + Unpin> ScanIo<T> {
    /// Writes the refusal, after hyper's answers to the requests before the refused head, then
    /// closes like nginx's lingering close: the write side shut, what the client still sends
    /// read and dropped (up to [`REFUSAL_DRAIN`]; the header read timeout, running on the cut
    /// head, bounds the time). Closing with unread bytes would reset the connection, and a reset
    /// can destroy the answer before the client reads it. `Ready(Ok)` with nothing read (the end
    /// of the stream for hyper) when done.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>
    where
        T: AsyncRead,
    {
        let Some(refusal) = self.refusal.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        if !self.flags.answered() {
            // Woken by the flush that follows the last of those answers.
            refusal.parked_read = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let inner = &mut self.inner;
        while !refusal.out.is_empty() {
            match ready!(Pin::new(&mut *inner).poll_write(cx, &refusal.out))? {
                0 => return Poll::Ready(Ok(())),
                n => refusal.out.advance(n),
            }
        }
        if !refusal.shut_down {
            ready!(Pin::new(&mut *inner).poll_shutdown(cx))?;
            refusal.shut_down = true;
        }
        let mut scratch = [0u8; 4096];
        while refusal.drained < REFUSAL_DRAIN {
            let mut sink = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut *inner).poll_read(cx, &mut sink))?;
            if sink.filled().is_empty() {
                break;
            }
            refusal.drained += sink.filled().len();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for ScanIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.refusal.is_some() {
            return this.poll_refusal(cx);
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let cut = this.scanner.feed(&buf.filled()[before..], &this.flags);
            let (at_boundary, off) = match &this.scanner.state {
                State::Head(b) => (b.is_empty(), false),
                State::Off => (false, true),
                _ => (false, false),
            };
            this.flags.at_boundary.store(at_boundary, Ordering::Relaxed);
            if off {
                this.flags.sticky.store(true, Ordering::Relaxed);
                this.flags.headless.store(true, Ordering::Relaxed);
            }
            if let Some(cut) = cut {
                buf.set_filled(before + cut);
                let answer = match (&this.scanner.state, this.refuse.take()) {
                    (State::Refused(line), Some(refuse)) => refuse(line),
                    _ => Bytes::new(),
                };
                this.refusal = Some(Box::new(Refusal {
                    out: answer,
                    shut_down: false,
                    drained: 0,
                    parked_read: None,
                }));
                // Nothing of this read for hyper: the refusal goes out now (or is parked).
                if cut == 0 {
                    return this.poll_refusal(cx);
                }
            }
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ScanIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.flags.unflushed.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = poll {
            self.flags.unflushed.store(false, Ordering::Relaxed);
            if let Some(read) = self.refusal.as_mut().and_then(|r| r.parked_read.take()) {
                read.wake();
            }
        }
        poll
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.flags.unflushed.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes; returns the flagged ordinal and heads seen.
    fn scan(stream: &str, step: usize) -> (u64, u64) {
        let flags = FramingFlags::default();
        let mut s = Scanner::new(usize::MAX);
        for piece in stream.as_bytes().chunks(step) {
            s.feed(piece, &flags);
        }
        (flags.ambiguous.load(Ordering::Relaxed), s.heads)
    }

    #[test]
    fn follows_pipelined_framing_and_flags_the_ambiguous_head() {
        let stream = concat!(
            "GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n",
            "POST /d HTTP/1.1\r\nContent-Length: 30\r\n\r\nTransfer-Encoding: chunked\r\n\r\n..",
            "POST /e HTTP/1.1\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        );
        for step in [1, 3, 7, 64, 4096] {
            // The body of /d looks like a header but is body: only /e (the 5th head) is flagged.
            assert_eq!(scan(stream, step), (5, 5), "step {step}");
        }
    }

    #[test]
    fn a_chunked_body_without_trailers_ends_at_its_blank_line() {
        // The head after a chunked body with an empty trailer section is a head, not trailers
        // (heads may end lines with a bare `\n`, chunked framing may not).
        let stream = concat!(
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /c HTTP/1.1\nTransfer-Encoding: chunked\n\n0\r\n\r\n",
            "POST /d HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        );
        for step in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(scan(stream, step), (4, 4), "step {step}");
        }
    }

    #[test]
    fn clean_streams_are_not_flagged() {
        let stream =
            "GET / HTTP/1.1\n\nPOST / HTTP/1.1\nContent-Length: 2\n\nokGET / HTTP/1.1\r\n\r\n";
        assert_eq!(scan(stream, 5), (0, 3));
        // HTTP/2 prior knowledge: the scanner switches itself off.
        assert_eq!(scan("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nanything", 4), (0, 0));
    }

    proptest::proptest! {
        /// `head_end` finds the first blank line at or after `from`, as a byte-by-byte search
        /// does.
        #[test]
        fn head_end_finds_the_first_blank_line(
            bytes in proptest::collection::vec(proptest::sample::select(b"a:\r\n".to_vec()), 0..40),
            from in 0usize..44,
        ) {
            let naive = (from..bytes.len()).find_map(|i| match &bytes[i..] {
                [b'\n', b'\n', ..] => Some(i + 2),
                [b'\n', b'\r', b'\n', ..] => Some(i + 3),
                _ => None,
            });
            proptest::prop_assert_eq!(head_end(&bytes, from), naive);
        }
    }

    #[test]
    fn handler_ordinals_match() {
        let flags = FramingFlags::default();
        flags.ambiguous.store(2, Ordering::Relaxed);
        assert!(!flags.next_request_is_ambiguous());
        assert!(flags.next_request_is_ambiguous());
        assert!(!flags.next_request_is_ambiguous());
    }
}
