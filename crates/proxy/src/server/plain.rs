//! Plain (non-TLS) connections that hold no hyper state while they idle.
//!
//! hyper keeps a connection's read buffer (8–16 KiB), write buffer (8 KiB), parser state and
//! dispatcher for as long as the connection lives, also while a keep-alive client thinks between
//! requests: ~30 KiB per idle connection. Like nginx, this module gives all of that back while
//! the connection is idle. A connection alternates between two states:
//!
//! - **idle:** the task holds only the socket, the framing scanner and a deadline, and waits for
//!   a byte to arrive (or the deadline, or shutdown);
//! - **busy:** a hyper connection (boxed, so it costs nothing while idle) serves requests until
//!   it ends, or until it has been idle for [`LINGER`] (50 ms) — then it is dropped and the
//!   socket taken back from it ([`Leased`]).
//!
//! Dropping hyper is only safe when it holds nothing of a message; [`FramingFlags::is_idle`]
//! says so from the raw bytes (every byte read belongs to a complete request, every request's
//! response has ended, every byte written was flushed). Connections that leave plain HTTP/1
//! framing (HTTP/2, upgrades) stay with hyper to the end.
//!
//! The header read timeout runs from the moment a connection starts waiting for a request head
//! until the head is complete. The idle state keeps that clock (`deadline`), and a busy period
//! must complete its first head by the same deadline and each later one within the timeout of
//! its wait (see [`busy`]); hyper's own header timer is off on these connections.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use portcullis_config::EdgeLimits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Drain, builder, scan_io, service};
use crate::framing::{FramingFlags, ScanIo};
use crate::gateway::Gateway;
use crate::handler::ConnInfo;

/// How long a hyper connection may sit idle before its state is dropped. Long enough that a
/// busy keep-alive connection (the next request follows within microseconds to a few
/// milliseconds) keeps its hyper connection instead of rebuilding it per request; short, because
/// every connection lingering at once adds ~30 KiB to the peak heap, which the allocator keeps.
const LINGER: Duration = Duration::from_millis(50);

type Io = ScanIo<TcpStream>;

/// Serves one plain connection until the client or hyper closes it, a timeout ends it, or the
/// listener drains.
///
/// Not an `async fn`: its arguments would stay in the idle task's future next to what is made
/// of them (the connection's `ConnInfo` by value beside its `Arc`, a second copy of the limits),
/// and every idle connection holds that future.
pub(super) fn serve(
    stream: TcpStream,
    conn: ConnInfo,
    gateway: Arc<Gateway>,
    limits: EdgeLimits,
    mut drain: Drain,
) -> impl Future<Output = ()> + Send + 'static {
    // One per connection, across its busy periods (what is cached in it, e.g. the peer's
    // header text, survives hyper being dropped).
    let conn = Arc::new(conn);
    let home: Arc<Mutex<Option<Io>>> = Arc::new(Mutex::new(None));
    let mut io = scan_io(stream, &gateway, &conn, &limits);
    async move {
        let flags = &conn.framing;
        // When the connection last went idle (here: when it was accepted).
        let mut idle_since = Instant::now();
        loop {
            let deadline = idle_since + limits.header_read_timeout;
            // `peek` rather than `readable`: it sees through stale readiness and resolves only
            // once a byte (or the end of the stream) is really there.
            let mut first = [0u8; 1];
            tokio::select! {
                biased;
                () = drain.stopping() => return,
                peeked = io.get_ref().peek(&mut first) => match peeked {
                    // The client closed an idle connection: so do we, as hyper would.
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                () = tokio::time::sleep_until(deadline) => return,
            }
            let heads_before = flags.heads();
            let leased = Leased {
                io: Some(io),
                home: home.clone(),
            };
            // Boxed: hyper's connection is large and must not be part of the idle task.
            let busy = Box::pin(busy(leased, &conn, &gateway, &limits, &mut drain, deadline));
            match busy.await {
                // The idle clock restarts only when a request was served; bytes that did not
                // complete a head do not buy more time.
                Some(since) if flags.heads() != heads_before => idle_since = since,
                Some(_) => {}
                None => return,
            }
            // hyper was dropped; the socket went back home.
            let Some(back) = home.lock().take() else {
                return;
            };
            io = back;
        }
    }
}

/// Runs hyper on the connection. `Some(t)`: hyper was dropped because the connection has been
/// idle since `t`; `None`: the connection is over.
///
/// The header read timeout is kept here, not by hyper (which would box and register a new timer
/// for every request): one timer, armed whenever the connection starts waiting for a request
/// head (the first at the idle state's deadline), closes the connection if no head completes
/// in time.
async fn busy(
    leased: Leased,
    conn: &Arc<ConnInfo>,
    gateway: &Arc<Gateway>,
    limits: &EdgeLimits,
    drain: &mut Drain,
    head_deadline: Instant,
) -> Option<Instant> {
    let flags: &FramingFlags = &conn.framing;
    let builder = builder(limits, false);
    let hyper_conn = builder
        .serve_connection_with_upgrades(
            TokioIo::new(leased),
            service(gateway.clone(), conn.clone()),
        )
        .into_owned();
    tokio::pin!(hyper_conn);
    let head_timer = tokio::time::sleep_until(head_deadline);
    tokio::pin!(head_timer);
    // The number of heads seen when the timer was armed: it expires unanswered only if none
    // has completed since. `None`: not armed.
    let mut armed_at = Some(flags.heads());
    let mut stopping = false;
    // One timer per busy period, pushed back at each idle moment: moving a registered tokio
    // timer to a later deadline is a store, not a timer-wheel operation.
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);
    // One shutdown future for the busy period, polled again and again: a new one per wait
    // would register (and drop) a watch waiter twice per request.
    let stop = drain.stopping();
    tokio::pin!(stop);
    // Set when one phase below ends on hyper's `Pending`: the next phase starts without polling
    // hyper again (nothing has happened since, and its wakers are registered). Each poll of
    // hyper's connection reads the clock for its `Date` cache and walks its read and write
    // state: at two extra polls per request, more than the rest of this loop.
    let mut just_polled = false;
    loop {
        // Serve until the connection ends, holds nothing of a message any more, or starts
        // waiting for a head with the timer not armed for it.
        let served = poll_fn(|cx| {
            poll_phase(hyper_conn.as_mut(), cx, &mut just_polled, || {
                (flags.is_idle() && !stopping) || needs_head_timer(flags, armed_at)
            })
        });
        tokio::select! {
            biased;
            result = served => {
                if let Some(result) = result {
                    return ended(result);
                }
                just_polled = true;
            }
            () = &mut stop, if !stopping => {
                hyper_conn.as_mut().graceful_shutdown();
                stopping = true;
                continue;
            }
            () = &mut head_timer, if armed_at.is_some() => {
                if head_timed_out(flags, armed_at) {
                    return None;
                }
                armed_at = None;
                continue;
            }
        }
        let now = Instant::now();
        if needs_head_timer(flags, armed_at) {
            armed_at = Some(flags.heads());
            head_timer.as_mut().reset(now + limits.header_read_timeout);
        }
        if !flags.is_idle() || stopping {
            continue;
        }
        // Idle: give the client LINGER to send its next request before dropping hyper.
        linger.as_mut().reset(now + LINGER);
        let busy_again = poll_fn(|cx| {
            poll_phase(hyper_conn.as_mut(), cx, &mut just_polled, || {
                !flags.is_idle()
            })
        });
        tokio::select! {
            biased;
            result = busy_again => {
                if let Some(result) = result {
                    return ended(result);
                }
                just_polled = true;
            }
            // An idle connection closes at once on shutdown, as hyper's graceful shutdown does.
            // (Only a connection not yet stopping gets here: one that is waits for hyper.)
            () = &mut stop, if !stopping => return None,
            () = &mut head_timer, if armed_at.is_some() => {
                if head_timed_out(flags, armed_at) {
                    return None;
                }
                armed_at = None;
            }
            () = &mut linger => return Some(now),
        }
    }
}

/// The connection waits for a head and the head timer is not armed for that wait.
fn needs_head_timer(flags: &FramingFlags, armed_at: Option<u64>) -> bool {
    flags.awaiting_head() && armed_at != Some(flags.heads())
}

/// At the head timer's expiry: the connection has waited for a head since it was armed.
fn head_timed_out(flags: &FramingFlags, armed_at: Option<u64>) -> bool {
    armed_at == Some(flags.heads()) && flags.awaiting_head()
}

/// One poll of a phase of [`busy`] over hyper's connection: `Ready(Some)` when the connection
/// has ended, `Ready(None)` when it is pending and `phase_over` says the phase is done, else
/// `Pending`. With `just_polled` set (and cleared) hyper is not polled: the phase before ended
/// on its `Pending` a moment ago.
fn poll_phase<F: Future>(
    conn: Pin<&mut F>,
    cx: &mut Context<'_>,
    just_polled: &mut bool,
    phase_over: impl FnOnce() -> bool,
) -> Poll<Option<F::Output>> {
    if std::mem::take(just_polled) {
        return Poll::Pending;
    }
    match conn.poll(cx) {
        Poll::Ready(result) => Poll::Ready(Some(result)),
        Poll::Pending if phase_over() => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    }
}

fn ended(result: Result<(), Box<dyn std::error::Error + Send + Sync>>) -> Option<Instant> {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    None
}

/// The connection's IO while hyper has it; put back into `home` when hyper drops it.
struct Leased {
    io: Option<Io>,
    home: Arc<Mutex<Option<Io>>>,
}

impl Leased {
    fn io(&mut self) -> Pin<&mut Io> {
        Pin::new(self.io.as_mut().expect("the IO is only taken out on drop"))
    }
}

impl Drop for Leased {
    fn drop(&mut self) {
        *self.home.lock() = self.io.take();
    }
}

impl AsyncRead for Leased {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io().poll_read(cx, buf)
    }
}

impl AsyncWrite for Leased {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io().poll_write(cx, b)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io().poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io().poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.io().poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }
}
