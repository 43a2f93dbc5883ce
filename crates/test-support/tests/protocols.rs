//! TLS with ALPN (HTTP/2 and HTTP/1.1), WebSocket pass-through, and the admin endpoints.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portcullis_test_support::{Recorder, TestGateway, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn tls_listener_negotiates_h2_and_http11() {
    let up = Recorder::start("up").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let yaml = format!(
        "listeners: [ {{ name: tls, address: \"127.0.0.1:0\", tls: {{ cert: \"{}\", key: \"{}\" }} }} ]\napis:\n  - {{ name: x, base_path: /, upstream: {{ targets: [\"{}\"] }} }}\n",
        cert_path.display(),
        key_path.display(),
        up.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let url = format!("https://localhost:{}/secure", gw.addr().port());
    for (flag, want) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = tokio::process::Command::new("curl")
            .args([
                "-sk",
                flag,
                "--resolve",
                &format!("localhost:{}:127.0.0.1", gw.addr().port()),
            ])
            .args([
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                &url,
            ])
            .output()
            .await
            .expect("curl is installed");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{want} 200"));
    }
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    gw.stop().await;
}

#[tokio::test]
async fn tls_handshake_is_bounded_by_the_header_read_timeout() {
    let up = Recorder::start("up").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let yaml = format!(
        "listeners: [ {{ name: tls, address: \"127.0.0.1:0\", tls: {{ cert: \"{}\", key: \"{}\" }} }} ]\nlimits: {{ header_read_timeout: 300ms }}\napis:\n  - {{ name: x, base_path: /, upstream: {{ targets: [\"{}\"] }} }}\n",
        cert_path.display(),
        key_path.display(),
        up.url()
    );
    let gw = TestGateway::start(&yaml).await;
    // Connect and never start the handshake: the gateway must hang up on its own.
    let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "connection not closed: {read:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    gw.stop().await;
}

/// Answers 101 and echoes whatever arrives on the upgraded connection.
async fn websocket_echo() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(|mut req: Request<Incoming>| async move {
                    let upgrade = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        if let Ok(up) = upgrade.await {
                            let mut io = TokioIo::new(up);
                            let mut buf = [0u8; 1024];
                            while let Ok(n) = io.read(&mut buf).await {
                                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    });
                    let mut resp = Response::new(Full::new(Bytes::new()));
                    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                    resp.headers_mut()
                        .insert("upgrade", "websocket".parse().unwrap());
                    resp.headers_mut()
                        .insert("connection", "upgrade".parse().unwrap());
                    Ok::<_, Infallible>(resp)
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn websocket_upgrade_passes_through() {
    let echo = websocket_echo().await;
    let yaml = format!(
        "listeners: [ {{ name: p, address: \"127.0.0.1:0\" }} ]\nlimits: {{ header_read_timeout: 300ms }}\napis:\n  - {{ name: ws, base_path: /ws, upstream: {{ targets: [\"http://{echo}\"] }} }}\n"
    );
    let gw = TestGateway::start(&yaml).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"GET /ws/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.unwrap(),
            1,
            "connection closed early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    // Longer than the header read timeout: an upgraded connection waits for no head.
    tokio::time::sleep(Duration::from_millis(700)).await;
    s.write_all(b"ping-frame-bytes").await.unwrap();
    let mut buf = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"ping-frame-bytes");
    gw.stop().await;
}

#[tokio::test]
async fn admin_serves_metrics_health_and_status() {
    let up = Recorder::start("up").await;
    let yaml = format!(
        "listeners: [ {{ name: p, address: \"127.0.0.1:0\" }} ]\napis:\n  - name: metered\n    base_path: /m\n    upstream: {{ targets: [\"{}\"] }}\n    policies: {{ request: [ {{ spike-arrest: {{ rate: 1000/s, mode: monitor }} }} ] }}\n",
        up.url()
    );
    let gw = TestGateway::start(&yaml).await;
    for _ in 0..3 {
        assert_eq!(get(&gw.url("/m/x"), &[]).await.status, 200);
    }
    assert_eq!(get(&gw.url("/nowhere"), &[]).await.status, 404);
    let metrics = get(&gw.admin_url("/metrics"), &[]).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("portcullis_requests_total{api=\"metered\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_requests_total{api=\"-\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_request_duration_seconds_bucket{api=\"metered\""),
        "{text}"
    );
    assert_eq!(get(&gw.admin_url("/healthz"), &[]).await.status, 200);
    assert_eq!(get(&gw.admin_url("/readyz"), &[]).await.status, 200);
    let auth = gw.admin_auth().await;
    let status = get(
        &gw.admin_url("/admin/v1/status"),
        &[("authorization", &auth)],
    )
    .await
    .json();
    assert_eq!(status["apis"][0]["name"], "metered");
    assert_eq!(status["apis"][0]["request"][0], "spike-arrest");
    assert_eq!(status["apis"][0]["upstream"][0]["healthy"], true);
    gw.stop().await;
}
