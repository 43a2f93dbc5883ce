//! Body wrappers: a request body that enforces a byte limit while streaming (and counts what
//! passed), buffering within a limit for policies that read bodies, and a response body that
//! reports when it has been sent (for the access log and metrics).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use portcullis_policy::{Body, BoxError};

/// Per-request counters shared between the body wrappers and the handler.
#[derive(Debug, Default)]
pub struct BodyStats {
    /// Request body bytes received.
    pub bytes_in: AtomicU64,
    /// Set when the request body exceeded its limit.
    pub too_large: AtomicBool,
}

/// The request body went over its limit.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {0} bytes")]
pub struct BodyTooLarge(pub u64);

/// Streams a body, failing once more than `limit` bytes have passed.
pub struct Limited {
    inner: Body,
    limit: u64,
    seen: u64,
    stats: Arc<BodyStats>,
}

impl Limited {
    /// Wraps `inner`.
    pub fn new(inner: Body, limit: u64, stats: Arc<BodyStats>) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
            stats,
        }
    }
}

impl HttpBody for Limited {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    this.seen += n;
                    this.stats.bytes_in.fetch_add(n, Ordering::Relaxed);
                    if this.seen > this.limit {
                        this.stats.too_large.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge(this.limit)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn collect_limited(
    body: Body,
    limit: u64,
    stats: Arc<BodyStats>,
) -> Result<Bytes, BoxError> {
    Ok(Limited::new(body, limit, stats).collect().await?.to_bytes())
}

/// Called once when a response body is done (fully sent, failed, or dropped by a closed
/// connection), with the number of bytes sent.
pub trait OnComplete: Send + 'static {
    /// `bytes_out` is what went to the client; `completed` is false if the body stopped early.
    fn complete(self: Box<Self>, bytes_out: u64, completed: bool);
}

/// A response body that counts bytes and reports completion exactly once.
pub struct Observed {
    inner: Body,
    bytes: u64,
    done: bool,
    hook: Option<Box<dyn OnComplete>>,
}

impl Observed {
    /// Wraps `inner`; `hook` runs when the body ends or is dropped.
    pub fn new(inner: Body, hook: Box<dyn OnComplete>) -> Self {
        Self {
            inner,
            bytes: 0,
            done: false,
            hook: Some(hook),
        }
    }

    fn finish(&mut self, completed: bool) {
        if let Some(hook) = self.hook.take() {
            hook.complete(self.bytes, completed);
        }
    }
}

impl HttpBody for Observed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.done = true;
                    this.finish(true);
                }
            }
            Poll::Ready(None) => {
                this.done = true;
                this.finish(true);
            }
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        let done = self.done || self.inner.is_end_stream();
        self.finish(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use std::sync::Mutex;

    fn body(s: &'static str) -> Body {
        Full::new(Bytes::from_static(s.as_bytes()))
            .map_err(|e| match e {})
            .boxed_unsync()
    }

    #[tokio::test]
    async fn limit_trips_and_counts() {
        let stats = Arc::new(BodyStats::default());
        assert!(
            collect_limited(body("hello"), 5, stats.clone())
                .await
                .is_ok()
        );
        assert_eq!(stats.bytes_in.load(Ordering::Relaxed), 5);
        let stats = Arc::new(BodyStats::default());
        let err = collect_limited(body("hello!"), 5, stats.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exceeds 5 bytes"));
        assert!(stats.too_large.load(Ordering::Relaxed));
    }

    struct Record(Arc<Mutex<Vec<(u64, bool)>>>);
    impl OnComplete for Record {
        fn complete(self: Box<Self>, bytes: u64, completed: bool) {
            self.0.lock().unwrap().push((bytes, completed));
        }
    }

    #[tokio::test]
    async fn observed_reports_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let b = Observed::new(body("abc"), Box::new(Record(log.clone())));
        let collected = b.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abc");
        assert_eq!(*log.lock().unwrap(), vec![(3, true)]);
        let log = Arc::new(Mutex::new(Vec::new()));
        drop(Observed::new(
            http_body_util::StreamBody::new(futures_util::stream::pending::<
                Result<Frame<Bytes>, BoxError>,
            >())
            .boxed_unsync(),
            Box::new(Record(log.clone())),
        ));
        assert_eq!(*log.lock().unwrap(), vec![(0, false)]);
    }
}
