//! The floor under any hyper-based HTTP/1.1 reverse proxy, for the benchmarks (not shipped).
//!
//! `hyper_floor LISTEN UPSTREAM` accepts connections on LISTEN and forwards every request, as
//! received (method, URI, headers, streamed body), to UPSTREAM over one keep-alive HTTP/1.1
//! connection per client connection, and streams the response back. Nothing else: no routing,
//! no header rewriting, no limits, no timeouts, no pool, no logging, one current-thread
//! runtime. Whatever a gateway built on hyper + tokio does per request costs at least this
//! much, so `bench/instructions.sh` and `bench/run.sh` measure it next to nginx and Portcullis
//! to show how much of Portcullis's cost is the stack and how much is its own work.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::client::conn::http1 as client;
use hyper::server::conn::http1 as server;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// The client connection's upstream connection, opened on its first request.
type Upstream = Arc<Mutex<Option<client::SendRequest<Incoming>>>>;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: hyper_floor LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().map_err(std::io::Error::other)?;
    let upstream: SocketAddr = upstream.parse().map_err(std::io::Error::other)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(listen, upstream))
}

async fn serve(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            // Return from main so that profilers (callgrind) write their output.
            _ = sigterm.recv() => return Ok(()),
        };
        stream.set_nodelay(true)?;
        // Requests on one HTTP/1.1 connection come one at a time: one upstream connection per
        // client connection is enough, and needs no shared pool.
        let up = Upstream::default();
        let svc = service_fn(move |req| forward(up.clone(), upstream, req));
        tokio::spawn(async move {
            let _ = server::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn forward(
    up: Upstream,
    addr: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, Box<dyn std::error::Error + Send + Sync>> {
    let mut slot = up.lock().await;
    if slot.as_ref().is_none_or(client::SendRequest::is_closed) {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = client::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        *slot = Some(send);
    }
    let send = slot.as_mut().expect("connected above");
    send.ready().await?;
    Ok(send.send_request(req).await?)
}
