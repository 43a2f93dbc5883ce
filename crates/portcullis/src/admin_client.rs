//! A small client for the admin API (`/admin/v1`) used by `apply`/`diff`/`export` and the
//! management wrappers: hyper-util's pooled client (http, or https verified against the
//! Mozilla roots), a bearer token from `PORTCULLIS_ADMIN_TOKEN`, JSON in and out, and
//! problem+json answers turned into [`AdminError::Problem`] with their field errors.
//!
//! The token is read from the environment only, never from an argument: arguments end up in
//! shell history and in `ps` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the token comes from.
pub(crate) const TOKEN_ENV: &str = "PORTCULLIS_ADMIN_TOKEN";
/// How long one call may take (an apply of a large document included).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response accepted (an export of a large catalog fits easily).
const MAX_RESPONSE: usize = 64 << 20;

/// `--admin-url`, shared by every command that talks to the admin API.
#[derive(Args, Clone, Debug)]
pub(crate) struct AdminUrl {
    /// Base URL of the admin listener. The token comes from $PORTCULLIS_ADMIN_TOKEN.
    #[arg(
        long = "admin-url",
        env = "PORTCULLIS_ADMIN_URL",
        default_value = "http://127.0.0.1:9080",
        global = true
    )]
    pub(crate) url: String,
}

/// One invalid field of a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// JSON Pointer into the request body (`/products/2/paths/0`; empty = the whole body).
    pub(crate) path: String,
    /// What is wrong.
    pub(crate) message: String,
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum AdminError {
    /// The API answered with a problem document.
    Problem {
        status: StatusCode,
        code: String,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// No usable answer (connection refused, timeout, not JSON).
    Transport(String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Problem {
                status,
                code,
                detail,
                errors,
            } => {
                write!(f, "admin API answered {} {code}", status.as_u16())?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                for e in errors {
                    let at = if e.path.is_empty() {
                        "(document)"
                    } else {
                        &e.path
                    };
                    write!(f, "\n  {at}: {}", e.message)?;
                }
                Ok(())
            }
            AdminError::Transport(msg) => write!(f, "admin API: {msg}"),
        }
    }
}

impl std::error::Error for AdminError {}

/// A connection to one admin listener with one token.
pub(crate) struct AdminClient {
    base: String,
    token: String,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl AdminClient {
    /// A client for `url` with the token from [`TOKEN_ENV`].
    pub(crate) fn from_env(url: &AdminUrl) -> anyhow::Result<Self> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let token = token.with_context(|| {
            format!(
                "set {TOKEN_ENV} to an admin API token (portcullis admin create-token, or \
                 POST /admin/v1/me/tokens)"
            )
        })?;
        Self::new(&url.url, token.trim().to_owned())
    }

    fn new(url: &str, token: String) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .with_context(|| format!("--admin-url {url:?} is not a URL"))?;
        anyhow::ensure!(
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some(),
            "--admin-url {url:?} must be an http:// or https:// URL"
        );
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_webpki_roots()
        .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(AdminClient { base, token, http })
    }

    /// GET `path` (under the base URL, e.g. `/admin/v1/products`).
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        self.call(Method::GET, path, None).await
    }

    /// POST a JSON body.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, AdminError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Every item of a paginated list (`{"items": [...], "next": ...}`), following `next`.
    pub(crate) async fn list_all(&self, path: &str) -> Result<Vec<Value>, AdminError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let url = match &after {
                None => format!("{path}{sep}limit=500"),
                Some(cursor) => format!("{path}{sep}limit=500&after={}", query_escape(cursor)),
            };
            let mut page: Value = self.get(&url).await?;
            if let Some(Value::Array(got)) = page.get_mut("items").map(Value::take) {
                items.extend(got);
            }
            match page.get("next").and_then(Value::as_str) {
                Some(next) => after = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, AdminError> {
        let transport = |e: &dyn fmt::Display| AdminError::Transport(e.to_string());
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::ACCEPT, "application/json, application/problem+json")
            .header(header::USER_AGENT, "portcullis-cli");
        let payload = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(v).map_err(|e| transport(&e))?)
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| transport(&e))?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                AdminError::Transport(format!("cannot reach {url}: {}", error_chain(&e)))
            })?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| transport(&e))?
                .to_bytes();
            Ok::<_, AdminError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| AdminError::Transport(format!("no answer from {url} within 60 s")))??;
        if !status.is_success() {
            return Err(problem(status, &bytes));
        }
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| AdminError::Transport(format!("unexpected answer from {url}: {e}")))
    }
}

/// A problem+json body (or, from something that is not the admin API, its status).
fn problem(status: StatusCode, bytes: &[u8]) -> AdminError {
    let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let errors = doc
        .get("errors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| FieldError {
                    path: e
                        .get("path")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    message: e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let code = match text("code") {
        c if c.is_empty() => "unknown".to_owned(),
        c => c,
    };
    AdminError::Problem {
        status,
        code,
        detail: text("detail"),
        errors,
    }
}

/// hyper's errors say "client error (Connect)"; the cause says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Percent-encodes one path segment or query value.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_keep_their_field_errors() {
        let body = br#"{"code":"admin.invalid","detail":"2 fields are invalid","errors":[
            {"path":"/products/2/paths/0","message":"must start with '/'"},
            {"path":"","message":"whole"}]}"#;
        let err = problem(StatusCode::UNPROCESSABLE_ENTITY, body);
        let text = err.to_string();
        assert!(
            text.starts_with("admin API answered 422 admin.invalid: 2 fields"),
            "{text}"
        );
        assert!(
            text.contains("\n  /products/2/paths/0: must start with '/'"),
            "{text}"
        );
        assert!(text.contains("\n  (document): whole"), "{text}");
        let err = problem(StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(err.to_string(), "admin API answered 502 unknown");
    }

    #[test]
    fn urls_are_checked_and_segments_escaped() {
        assert!(AdminClient::new("ftp://x", "t".into()).is_err());
        assert!(AdminClient::new("not a url", "t".into()).is_err());
        assert!(AdminClient::new("http://127.0.0.1:9080/", "t".into()).is_ok());
        assert_eq!(
            query_escape("ann@example.com/x y"),
            "ann%40example.com%2Fx%20y"
        );
    }
}
