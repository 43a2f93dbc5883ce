//! Token resolution through an external RFC 7662 introspection endpoint, for gateways in front
//! of another authorization server's opaque tokens. Answers are cached (bounded, until the
//! token's `exp` or `max_ttl`, whichever comes first; inactive answers for `max_ttl`), keyed by
//! the token's SHA-256 held only in memory, so a known token costs no network round trip.
//! Requests are bounded in time and size and never follow redirects.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, header};
use http_body_util::{BodyExt, Full, Limited};
use quick_cache::sync::Cache;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::resolver::{Inactive, ResolveError, TokenInfo};

use crate::outbound::{self, HttpsClient, MAX_BODY, TIMEOUT};

#[derive(Clone)]
struct Cached {
    info: Option<Arc<TokenInfo>>,
    why: Inactive,
    until: Instant,
}

/// A cached client of one introspection endpoint.
pub struct RemoteIntrospection {
    url: http::Uri,
    auth: HeaderValue,
    client: HttpsClient,
    cache: Cache<[u8; 32], Cached>,
    max_ttl: Duration,
}

impl std::fmt::Debug for RemoteIntrospection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteIntrospection")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl RemoteIntrospection {
    /// A client of `url` authenticating with `client_secret_basic`.
    pub fn new(
        url: &str,
        client_id: &str,
        client_secret: &str,
        max_ttl: Duration,
        entries: usize,
    ) -> Result<Self, String> {
        let url: http::Uri = url.parse().map_err(|_| format!("invalid URL '{url}'"))?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form(client_id),
            form(client_secret)
        ));
        let mut auth = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|_| "invalid client credentials".to_owned())?;
        auth.set_sensitive(true);
        Ok(Self {
            url,
            auth,
            client: outbound::https_client()?,
            cache: Cache::new(entries.max(16)),
            max_ttl,
        })
    }

    /// What `token` means, from the cache or the endpoint.
    pub async fn resolve(
        &self,
        token: &str,
    ) -> Result<Result<Arc<TokenInfo>, Inactive>, ResolveError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some(hit) = self.cache.get(&key)
            && hit.until > now
        {
            return Ok(judge(&hit));
        }
        let doc = self.ask(token).await?;
        let entry = cached(&doc, now, self.max_ttl);
        let out = judge(&entry);
        self.cache.insert(key, entry);
        Ok(out)
    }

    async fn ask(&self, token: &str) -> Result<Value, ResolveError> {
        let body = format!("token={}&token_type_hint=access_token", form(token));
        let req = http::Request::post(self.url.clone())
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| ResolveError::Unavailable)?;
        let fail = |what: &str| {
            tracing::warn!(url = %self.url, what, "token introspection failed");
            ResolveError::Unavailable
        };
        let resp = tokio::time::timeout(TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| fail("timeout"))?
            .map_err(|_| fail("connection"))?;
        if resp.status() != http::StatusCode::OK {
            return Err(fail("status"));
        }
        let bytes =
            tokio::time::timeout(TIMEOUT, Limited::new(resp.into_body(), MAX_BODY).collect())
                .await
                .map_err(|_| fail("timeout"))?
                .map_err(|_| fail("body"))?
                .to_bytes();
        serde_json::from_slice(&bytes).map_err(|_| fail("json"))
    }
}

fn cached(doc: &Value, now: Instant, max_ttl: Duration) -> Cached {
    let inactive = |why| Cached {
        info: None,
        why,
        until: now + max_ttl,
    };
    if doc.get("active").and_then(Value::as_bool) != Some(true) {
        return inactive(Inactive::Invalid);
    }
    let secs = |k: &str| {
        doc.get(k)
            .and_then(Value::as_u64)
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
    };
    let wall = SystemTime::now();
    let expires_at = secs("exp");
    if expires_at.is_some_and(|e| e <= wall) {
        return inactive(Inactive::Expired);
    }
    let ttl = expires_at
        .and_then(|e| e.duration_since(wall).ok())
        .map_or(max_ttl, |d| d.min(max_ttl));
    let str_of = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let cnf = doc.get("cnf").and_then(Value::as_object);
    let products = match doc.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let info = TokenInfo {
        id: str_of("jti").unwrap_or_default(),
        format: "introspected",
        client_id: str_of("client_id").unwrap_or_default(),
        subject: str_of("sub"),
        scopes: str_of("scope")
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        products,
        issued_at: secs("iat").unwrap_or(wall),
        expires_at: expires_at.unwrap_or(wall + ttl),
        owner: None,
        cnf_x5t: cnf
            .and_then(|c| c.get("x5t#S256"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        cnf_jkt: cnf
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        family_id: None,
        claims: doc.as_object().cloned().unwrap_or_default(),
    };
    Cached {
        info: Some(Arc::new(info)),
        why: Inactive::Expired,
        until: now + ttl,
    }
}

fn judge(c: &Cached) -> Result<Arc<TokenInfo>, Inactive> {
    match &c.info {
        Some(info) if info.expires_at > SystemTime::now() => Ok(info.clone()),
        Some(_) => Err(Inactive::Expired),
        None => Err(c.why),
    }
}
