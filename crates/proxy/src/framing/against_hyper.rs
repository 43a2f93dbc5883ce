//! The scanner judged by hyper itself: streams of requests that hyper accepts, in framings that
//! are easy to get wrong (bare `\n` heads, chunk extensions and blanks, empty and odd trailer
//! sections, repeated `Content-Length`), are served by a real hyper HTTP/1 connection over a
//! `ScanIo` that hands out a few bytes per read. For every request hyper dispatches, the
//! scanner must have counted it as the same head and flag it exactly when it carried both
//! `Content-Length` and `Transfer-Encoding`; when the stream ends it must be at a boundary.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{FramingFlags, ScanIo};

/// How a request's body is framed.
#[derive(Debug, Clone)]
enum Framing {
    None,
    Length {
        body: Vec<u8>,
        repeated: bool,
    },
    Chunked {
        chunks: Vec<Chunk>,
        last_ext: bool,
        trailers: Trailers,
        also_length: bool,
    },
}

#[derive(Debug, Clone)]
struct Chunk {
    data: Vec<u8>,
    upper: bool,
    zeros: usize,
    blanks: &'static str,
    ext: Option<&'static str>,
}

/// Trailer sections hyper accepts; the odd ones hide a request line.
#[derive(Debug, Clone, Copy)]
enum Trailers {
    None,
    One,
    BareLineFeedInside,
    LeadingBareLineFeed,
}

#[derive(Debug, Clone)]
struct Req {
    blank_lines: Vec<&'static str>,
    eol: Vec<bool>,
    framing: Framing,
}

impl Req {
    /// The request's bytes and the body hyper should hand out.
    fn encode(&self, ordinal: usize) -> (Vec<u8>, Vec<u8>) {
        let mut eol = self.eol.iter().cycle();
        let mut out = Vec::new();
        let mut line = |out: &mut Vec<u8>, text: &str| {
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(if *eol.next().unwrap_or(&true) {
                b"\r\n"
            } else {
                b"\n"
            });
        };
        for blank in &self.blank_lines {
            out.extend_from_slice(blank.as_bytes());
        }
        line(&mut out, &format!("POST /r{ordinal} HTTP/1.1"));
        line(&mut out, "Host: a");
        line(&mut out, "cookie: c=1");
        let mut body = Vec::new();
        match &self.framing {
            Framing::None => {}
            Framing::Length { body: b, repeated } => {
                line(&mut out, &format!("Content-Length: {}", b.len()));
                if *repeated {
                    line(&mut out, &format!("content-length:  {} ", b.len()));
                }
            }
            Framing::Chunked { also_length, .. } => {
                if *also_length {
                    line(&mut out, "Content-Length: 4");
                }
                line(&mut out, "Transfer-Encoding: chunked");
            }
        }
        line(&mut out, "");
        match &self.framing {
            Framing::None => {}
            Framing::Length { body: b, .. } => {
                out.extend_from_slice(b);
                body.clone_from(b);
            }
            Framing::Chunked {
                chunks,
                last_ext,
                trailers,
                ..
            } => {
                for c in chunks {
                    let size = if c.upper {
                        format!("{:0w$X}", c.data.len(), w = c.zeros)
                    } else {
                        format!("{:0w$x}", c.data.len(), w = c.zeros)
                    };
                    out.extend_from_slice(size.as_bytes());
                    out.extend_from_slice(c.blanks.as_bytes());
                    if let Some(ext) = c.ext {
                        out.extend_from_slice(ext.as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&c.data);
                    out.extend_from_slice(b"\r\n");
                    body.extend_from_slice(&c.data);
                }
                out.extend_from_slice(if *last_ext { b"0;end\r\n" } else { b"0\r\n" });
                out.extend_from_slice(match trailers {
                    Trailers::None => b"" as &[u8],
                    Trailers::One => b"x-t: 1\r\n",
                    Trailers::BareLineFeedInside => b"x-t: 1\n\nGET /hidden HTTP/1.1\r\n",
                    Trailers::LeadingBareLineFeed => b"\nGET /hidden HTTP/1.1\r\n",
                });
                out.extend_from_slice(b"\r\n");
            }
        }
        (out, body)
    }

    fn ambiguous(&self) -> bool {
        matches!(
            self.framing,
            Framing::Chunked {
                also_length: true,
                ..
            }
        )
    }
}

fn chunk() -> impl Strategy<Value = Chunk> {
    (
        proptest::collection::vec(proptest::sample::select(b"ab\r\n0;".to_vec()), 1..20),
        any::<bool>(),
        0usize..4,
        proptest::sample::select(vec!["", " ", "\t ", "  "]),
        proptest::option::of(proptest::sample::select(vec![";a=b", "; x", ";q=\"1\""])),
    )
        .prop_map(|(data, upper, zeros, blanks, ext)| Chunk {
            data,
            upper,
            zeros,
            blanks,
            ext,
        })
}

fn framing(ambiguous: bool) -> impl Strategy<Value = Framing> {
    let chunked = (
        proptest::collection::vec(chunk(), 0..3),
        any::<bool>(),
        proptest::sample::select(vec![
            Trailers::None,
            Trailers::One,
            Trailers::BareLineFeedInside,
            Trailers::LeadingBareLineFeed,
        ]),
    )
        .prop_map(move |(chunks, last_ext, trailers)| Framing::Chunked {
            chunks,
            last_ext,
            trailers,
            also_length: ambiguous,
        });
    if ambiguous {
        return chunked.boxed();
    }
    prop_oneof![
        Just(Framing::None),
        (
            proptest::collection::vec(proptest::sample::select(b"x\r\n0".to_vec()), 0..30),
            any::<bool>()
        )
            .prop_map(|(body, repeated)| Framing::Length { body, repeated }),
        chunked,
    ]
    .boxed()
}

fn request(ambiguous: bool) -> impl Strategy<Value = Req> {
    (
        proptest::collection::vec(proptest::sample::select(vec!["\r\n", "\n"]), 0..2),
        proptest::collection::vec(any::<bool>(), 1..4),
        framing(ambiguous),
    )
        .prop_map(|(blank_lines, eol, framing)| Req {
            blank_lines,
            eol,
            framing,
        })
}

/// What the service saw of one request.
#[derive(Debug, PartialEq)]
struct Seen {
    path: String,
    heads_scanned: u64,
    flagged: bool,
    body: Vec<u8>,
}

/// What came of serving a stream.
struct Served {
    seen: Vec<Seen>,
    flags: Arc<FramingFlags>,
    /// hyper's verdict on the connection.
    ended: Result<(), hyper::Error>,
}

/// Serves `stream` with hyper over a scanner reading at most `read_size` bytes at a time.
fn serve(stream: Vec<u8>, read_size: usize) -> Served {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (client, server) = tokio::io::duplex(read_size);
        let flags = Arc::new(FramingFlags::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let service = {
            let (flags, seen) = (flags.clone(), seen.clone());
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let (flags, seen) = (flags.clone(), seen.clone());
                async move {
                    // As the handler does: the flag, then the double check on the parsed head.
                    let flagged = flags.next_request_is_ambiguous()
                        && req.headers().contains_key(http::header::TRANSFER_ENCODING);
                    let heads_scanned = flags.heads.load(Ordering::Relaxed);
                    let path = req.uri().path().to_owned();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes().to_vec());
                    seen.lock().push(Seen {
                        path,
                        heads_scanned,
                        flagged,
                        body: body.unwrap_or_else(|e| format!("body error: {e}").into_bytes()),
                    });
                    Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
                }
            })
        };
        // Half-close: the client has sent everything and shut its side before the answers.
        let conn = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(TokioIo::new(ScanIo::new(server, flags.clone())), service);
        // Reading and writing at once: the pipe holds only `read_size` bytes each way.
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let client_side = async move {
            // hyper may close early on a stream it refuses.
            let write = async {
                if to_server.write_all(&stream).await.is_ok() {
                    let _ = to_server.shutdown().await;
                }
            };
            let mut answers = Vec::new();
            let read = from_server.read_to_end(&mut answers);
            let ((), _) = tokio::join!(write, read);
        };
        let (ended, ()) = tokio::join!(conn, client_side);
        let seen = std::mem::take(&mut *seen.lock());
        Served { seen, flags, ended }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_scanner_counts_and_flags_the_heads_hyper_serves(
        clean in proptest::collection::vec(request(false), 1..5),
        last_ambiguous in proptest::option::of(request(true)),
        read_size in 1usize..40,
    ) {
        let requests: Vec<Req> = clean.into_iter().chain(last_ambiguous).collect();
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (i, r) in requests.iter().enumerate() {
            let (bytes, body) = r.encode(i);
            stream.extend_from_slice(&bytes);
            want.push((format!("/r{i}"), r.ambiguous(), body));
        }
        let Served { seen, flags, ended } = serve(stream, read_size);
        prop_assert!(ended.is_ok(), "hyper: {:?}", ended);
        prop_assert_eq!(seen.len(), want.len(), "hyper served {:?}", seen);
        for (k, (s, (path, ambiguous, body))) in seen.iter().zip(&want).enumerate() {
            prop_assert_eq!(&s.path, path);
            prop_assert_eq!(&s.body, body, "request {}", k);
            prop_assert_eq!(s.flagged, *ambiguous, "request {}", k);
            // The scanner has seen this head (and maybe pipelined ones after it), never fewer.
            prop_assert!(s.heads_scanned > k as u64, "request {}: {} heads scanned", k, s.heads_scanned);
        }
        prop_assert_eq!(flags.heads.load(Ordering::Relaxed), want.len() as u64);
        prop_assert!(flags.at_boundary.load(Ordering::Relaxed));
    }

    /// Streams with a few bytes inserted, replaced or removed: hyper refuses many of them, and
    /// the scanner may give up then, but it never loses count of a head hyper dispatches, and
    /// when hyper served the whole stream the scanner counted exactly its requests.
    #[test]
    fn edited_streams_never_put_the_scanner_behind_hyper(
        requests in proptest::collection::vec(request(false), 1..4),
        ambiguous in proptest::option::of(request(true)),
        edits in proptest::collection::vec(
            (any::<proptest::sample::Index>(), 0u8..3, proptest::sample::select(b" \t\r\n:;0aT-,".to_vec())),
            1..4,
        ),
        read_size in 1usize..40,
    ) {
        let mut stream = Vec::new();
        for (i, r) in requests.iter().chain(&ambiguous).enumerate() {
            stream.extend_from_slice(&r.encode(i).0);
        }
        for (at, kind, byte) in edits {
            let at = at.index(stream.len() + 1);
            match kind {
                0 => stream.insert(at, byte),
                _ if at == stream.len() => {}
                1 => stream[at] = byte,
                _ => {
                    stream.remove(at);
                }
            }
        }
        let Served { seen, flags, ended } = serve(stream, read_size);
        for (k, s) in seen.iter().enumerate() {
            prop_assert!(s.heads_scanned > k as u64, "request {}: {} heads scanned", k, s.heads_scanned);
        }
        let clean = ended.is_ok() && seen.iter().all(|s| !s.body.starts_with(b"body error"));
        if clean {
            prop_assert_eq!(flags.heads.load(Ordering::Relaxed), seen.len() as u64);
        }
    }
}
