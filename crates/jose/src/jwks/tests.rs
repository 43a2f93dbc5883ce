//! The JWKS cache against a real local HTTP server: fetch counts, max-age, rate-limited refresh,
//! failures keeping the last good set, size and time limits.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::*;
use crate::{Algorithm, KeySource, Rules, Signer, Verifier, jwk_set};

/// What the server answers.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: Bytes,
    cache_control: Option<&'static str>,
    delay: Duration,
}

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    answer: Arc<parking_lot::Mutex<Answer>>,
}

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(parking_lot::Mutex::new(answer));
        let (h, a) = (hits.clone(), answer.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (h, a) = (h.clone(), a.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        let (h, a) = (h.clone(), a.clone());
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            let answer = a.lock().clone();
                            tokio::time::sleep(answer.delay).await;
                            let mut resp = http::Response::builder().status(answer.status);
                            if let Some(cc) = answer.cache_control {
                                resp = resp.header("cache-control", cc);
                            }
                            Ok::<_, Infallible>(resp.body(Full::new(answer.body)).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, hits, answer }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn set(&self, f: impl FnOnce(&mut Answer)) {
        f(&mut self.answer.lock());
    }
}

fn jwks(signers: &[&Signer]) -> Bytes {
    Bytes::from(serde_json::to_vec(&jwk_set(signers.iter().copied())).unwrap())
}

fn ok(body: Bytes) -> Answer {
    Answer {
        status: 200,
        body,
        cache_control: None,
        delay: Duration::ZERO,
    }
}

fn options(refresh_interval: Duration) -> JwksOptions {
    JwksOptions {
        min_ttl: Duration::from_millis(100),
        refresh_interval,
        timeout: Duration::from_secs(2),
        ..JwksOptions::default()
    }
}

#[tokio::test]
async fn first_use_fetches_once_and_concurrent_callers_share_it() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let server = Server::start(ok(jwks(&[&signer]))).await;
    let cache = JwksCache::new(&server.url, options(Duration::from_secs(60))).unwrap();
    assert_eq!(
        server.hits(),
        0,
        "nothing is fetched before keys are needed"
    );
    let calls = (0..10).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move { cache.keys().await.map(|k| k.len()) })
    });
    for call in calls {
        assert_eq!(call.await.unwrap(), Ok(1));
    }
    assert_eq!(server.hits(), 1);
    assert_eq!(cache.fetch_count(), 1);
}

#[tokio::test]
async fn unknown_kid_refreshes_at_most_once_per_interval() {
    let old = Signer::generate("old", Algorithm::ES256).unwrap();
    let new = Signer::generate("new", Algorithm::ES256).unwrap();
    let server = Server::start(ok(jwks(&[&old]))).await;
    let interval = Duration::from_millis(400);
    let cache = JwksCache::new(&server.url, options(interval)).unwrap();
    cache.keys().await.unwrap();
    // Within the interval of the first fetch: no refetch, however many unknown kids arrive.
    for _ in 0..20 {
        cache.refresh_for_unknown_kid().await;
    }
    assert_eq!(server.hits(), 1);
    server.set(|a| a.body = jwks(&[&old, &new]));
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    let sprays = (0..20).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move { cache.refresh_for_unknown_kid().await })
    });
    for spray in sprays {
        assert!(spray.await.unwrap().unwrap().contains_kid("new"));
    }
    assert_eq!(
        server.hits(),
        2,
        "twenty concurrent unknown kids, one fetch"
    );
}

#[tokio::test]
async fn verifier_picks_up_rotation_and_refuses_sprayed_kids_cheaply() {
    let old = Signer::generate("old", Algorithm::ES256).unwrap();
    let new = Signer::generate("new", Algorithm::ES256).unwrap();
    let server = Server::start(ok(jwks(&[&old]))).await;
    let interval = Duration::from_millis(300);
    let cache = JwksCache::new(&server.url, options(interval)).unwrap();
    let verifier = Verifier::new(
        Rules {
            algorithms: vec![Algorithm::ES256],
            ..Rules::default()
        },
        KeySource::Remote(cache),
    );
    let claims = json!({"exp": 4_000_000_000u64, "sub": "a"});
    verifier.verify(&old.sign(&claims).unwrap()).await.unwrap();
    // Rotation: the issuer now signs with `new`, published after our last fetch.
    server.set(|a| a.body = jwks(&[&new]));
    let token = new.sign(&claims).unwrap();
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        VerifyError::UnknownKid,
        "within the refresh interval the new key is not fetched yet"
    );
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
    // Forged algorithms never touch the JWKS.
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    let forged = format!(
        "{}.e30.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","kid":"zzz"}"#
        )
    );
    assert_eq!(
        verifier.verify(&forged).await.unwrap_err(),
        VerifyError::DisallowedAlgorithm
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn failures_keep_the_last_good_set() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let server = Server::start(ok(jwks(&[&signer]))).await;
    let mut opts = options(Duration::ZERO);
    opts.max_bytes = 4096;
    opts.timeout = Duration::from_millis(300);
    let cache = JwksCache::new(&server.url, opts).unwrap();
    cache.keys().await.unwrap();
    type Breakage = Box<dyn Fn(&mut Answer)>;
    let failures: [(&str, Breakage); 6] = [
        ("status", Box::new(|a| a.status = 500)),
        (
            "garbage",
            Box::new(|a| a.body = Bytes::from_static(b"<html>")),
        ),
        (
            "no usable key",
            Box::new(|a| a.body = Bytes::from_static(br#"{"keys":[{"kty":"oct","k":"AA"}]}"#)),
        ),
        (
            "too large",
            Box::new(|a| a.body = Bytes::from(vec![b' '; 5000])),
        ),
        ("slow", Box::new(|a| a.delay = Duration::from_secs(2))),
        ("empty", Box::new(|a| a.body = Bytes::new())),
    ];
    for (what, fail) in failures {
        server.set(|a| *a = ok(jwks(&[&signer])));
        server.set(fail);
        let started = std::time::Instant::now();
        assert!(cache.refresh().await.is_err(), "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: bounded by the timeout"
        );
        let keys = cache.current().expect(what);
        assert!(keys.contains_kid("k1"), "{what}");
    }
}

#[tokio::test]
async fn unreachable_jwks_is_tried_once_per_interval() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    drop(listener);
    let cache = JwksCache::new(&url, options(Duration::from_secs(60))).unwrap();
    for _ in 0..5 {
        assert_eq!(
            cache.keys().await.unwrap_err(),
            VerifyError::KeysUnavailable
        );
    }
    assert_eq!(cache.fetch_count(), 1);
}

#[tokio::test]
async fn max_age_sets_freshness_and_stale_sets_refresh_in_the_background() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let server = Server::start(Answer {
        cache_control: Some("public, max-age=1"),
        ..ok(jwks(&[&signer]))
    })
    .await;
    let mut opts = options(Duration::ZERO);
    opts.min_ttl = Duration::ZERO;
    let cache = JwksCache::new(&server.url, opts).unwrap();
    cache.keys().await.unwrap();
    cache.keys().await.unwrap();
    assert_eq!(server.hits(), 1, "fresh for max-age=1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Stale: served at once, refreshed behind the caller's back.
    cache.keys().await.unwrap();
    for _ in 0..100 {
        if server.hits() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.hits(), 2);
    // Clamps.
    let clamp = JwksOptions {
        min_ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(3600),
        default_ttl: Duration::from_secs(600),
        ..JwksOptions::default()
    };
    assert_eq!(clamp.ttl(Some(Duration::ZERO)), Duration::from_secs(60));
    assert_eq!(
        clamp.ttl(Some(Duration::from_secs(86400))),
        Duration::from_secs(3600)
    );
    assert_eq!(clamp.ttl(None), Duration::from_secs(600));
}

#[tokio::test]
async fn shared_caches_are_one_per_url_and_options() {
    let a = JwksCache::shared("https://idp.example/jwks", JwksOptions::default()).unwrap();
    let b = JwksCache::shared("https://idp.example/jwks", JwksOptions::default()).unwrap();
    let c = JwksCache::shared("https://idp.example/other", JwksOptions::default()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(!Arc::ptr_eq(&a, &c));
    assert!(JwksCache::new("ftp://idp.example/jwks", JwksOptions::default()).is_err());
    assert!(JwksCache::new("/jwks", JwksOptions::default()).is_err());
}

#[tokio::test]
async fn https_jwks_is_verified_against_the_configured_roots() {
    let signer = Signer::generate("tls-key", Algorithm::ES256).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls_pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()).into(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/jwks",
        listener.local_addr().unwrap().port()
    );
    let body = jwks(&[&signer]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |_req| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(http::Response::new(Full::new(body))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let trusted =
        JwksCache::with_tls_config(&url, options(Duration::from_secs(60)), client).unwrap();
    assert!(trusted.keys().await.unwrap().contains_kid("tls-key"));
    // With the public roots the self-signed certificate is refused.
    let public = JwksCache::new(&url, options(Duration::from_secs(60))).unwrap();
    assert_eq!(
        public.keys().await.unwrap_err(),
        VerifyError::KeysUnavailable
    );
    assert_eq!(public.fetch_count(), 1);
}
