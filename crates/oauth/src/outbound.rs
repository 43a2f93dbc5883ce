//! The one way this crate calls other servers (login providers, introspection endpoints): a
//! pooled hyper client over rustls with the Mozilla (webpki) roots, connect bounded to 2 s,
//! redirects never followed (hyper does not follow them), and the limits every exchange keeps.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Whole-exchange time limit (connect, request, body).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest accepted response.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// TCP connect time limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for http and https URLs with a fixed request body.
pub(crate) type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A new client; fails only if the crypto provider lacks rustls' default protocol versions.
pub(crate) fn https_client() -> Result<HttpsClient, String> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_webpki_roots()
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
