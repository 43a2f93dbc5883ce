//! The request body as the upstream client sends it, shaped so a retry never resends bytes
//! that may already have reached a backend.
//!
//! A streaming body can be sent once. Yet a connect failure is always safe to retry, because
//! the client polls the body only after a connection exists. [`UpstreamBody::Deferred`] relies
//! on exactly that: the body waits in a shared slot and is taken on first poll, so after a
//! connect failure it is still in the slot for the next target, and after any later failure it
//! is gone and no retry can resend it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use parking_lot::Mutex;
use portcullis_policy::{Body, BoxError};

/// A body slot shared between the attempts of one request.
pub(crate) type BodySlot = Arc<Mutex<Option<Body>>>;

/// Request body handed to the hyper client.
pub(crate) enum UpstreamBody {
    /// No body (GET, health checks, or an already-complete empty body).
    Empty,
    /// A buffered body; each attempt gets its own cheap `Bytes` clone.
    Replay(Option<Bytes>),
    /// A streaming body sent without any chance of retry.
    Streaming(Body),
    /// A streaming body that stays in `slot` until the client first polls it.
    Deferred { slot: BodySlot, taken: Option<Body> },
}

// === impl UpstreamBody ===

impl UpstreamBody {
    pub(crate) fn deferred(slot: &BodySlot) -> Self {
        Self::Deferred {
            slot: Arc::clone(slot),
            taken: None,
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Replay(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Streaming(body) => Pin::new(body).poll_frame(cx),
            Self::Deferred { slot, taken } => {
                if taken.is_none() {
                    *taken = slot.lock().take();
                }
                match taken {
                    Some(body) => Pin::new(body).poll_frame(cx),
                    // Another attempt consumed the body: sending a truncated request would be
                    // worse than failing this one.
                    None => Poll::Ready(Some(Err("request body already consumed".into()))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Replay(bytes) => bytes.is_none(),
            Self::Streaming(body) => body.is_end_stream(),
            Self::Deferred { slot, taken } => match taken {
                Some(body) => body.is_end_stream(),
                None => slot.lock().as_ref().is_some_and(|b| b.is_end_stream()),
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Replay(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::Streaming(body) => body.size_hint(),
            Self::Deferred { slot, taken } => match taken {
                Some(body) => body.size_hint(),
                None => slot
                    .lock()
                    .as_ref()
                    .map_or_else(SizeHint::default, |b| b.size_hint()),
            },
        }
    }
}
