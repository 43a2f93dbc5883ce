//! The HTTP GET behind [`super::JwksCache`]: hyper-util's pooled client over hyper-rustls,
//! a bounded body, and the `max-age` of the response.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client as Legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::KeyError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub(super) struct Client(Legacy<HttpsConnector<HttpConnector>, Empty<Bytes>>);

impl Client {
    /// https verified against the Mozilla roots (webpki-roots).
    pub(super) fn webpki() -> Result<Self, KeyError> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| KeyError::Fetch(e.to_string()))?
        .with_webpki_roots()
        .with_no_client_auth();
        Ok(Self::with_tls(tls))
    }

    pub(super) fn with_tls(tls: rustls::ClientConfig) -> Self {
        let mut http = HttpConnector::new();
        // The https connector decides the scheme; this one only dials TCP.
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Legacy::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self(client)
    }

    /// GETs `url`: the body (at most `max_bytes`) and the response's `max-age`, if any.
    pub(super) async fn get(
        &self,
        url: &http::Uri,
        max_bytes: usize,
    ) -> Result<(Bytes, Option<Duration>), KeyError> {
        let fail = |e: &dyn std::fmt::Display| KeyError::Fetch(e.to_string());
        let request = http::Request::get(url.clone())
            .header(header::ACCEPT, "application/jwk-set+json, application/json")
            .header(header::USER_AGENT, "portcullis-jwks")
            .body(Empty::new())
            .map_err(|e| fail(&e))?;
        let response = self.0.request(request).await.map_err(|e| fail(&e))?;
        if response.status() != http::StatusCode::OK {
            return Err(KeyError::Fetch(format!("status {}", response.status())));
        }
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_bytes as u64) {
            return Err(KeyError::Fetch(format!("body over {max_bytes} bytes")));
        }
        let max_age = response
            .headers()
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_max_age)
            .min();
        let body = Limited::new(response.into_body(), max_bytes)
            .collect()
            .await
            .map_err(|e| KeyError::Fetch(format!("body: {e}")))?
            .to_bytes();
        Ok((body, max_age))
    }
}

/// The freshness a `Cache-Control` value grants: `max-age=N`, or zero for `no-cache` /
/// `no-store` (the caller's minimum TTL then applies). `None` if it says neither.
pub fn parse_max_age(value: &str) -> Option<Duration> {
    let mut result = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-cache" | "no-store" => return Some(Duration::ZERO),
            "max-age" => {
                let secs = arg.trim().trim_matches('"').parse::<u64>().ok()?;
                result = Some(Duration::from_secs(secs));
            }
            _ => {}
        }
    }
    result
}
