//! One external OpenID provider at run time: its settings, its discovery document (fetched from
//! `<issuer>/.well-known/openid-configuration` on first use, cached for [`METADATA_TTL`], the
//! last good copy kept when a refresh fails, at most one fetch at a time and none within
//! [`RETRY_AFTER`] of a failed one) and the ID token [`Verifier`] built from it — issuer pinned
//! to the discovered one (which must equal the configured issuer), audience = our client id,
//! algorithms pinned, keys from its JWKS through [`JwksCache`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_jose::{Algorithm, JwksCache, JwksOptions, KeySource, Rules, Verifier};
use serde_json::{Map, Value};

use super::http::JsonClient;
use super::settings::ProviderSettings;

/// How long a discovery document is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// No new discovery fetch within this time after a failed one.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Longest accepted ID token.
const MAX_ID_TOKEN: usize = 16 * 1024;
/// Asymmetric algorithms an ID token may use when the config pins none.
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What the discovery document told us.
pub(crate) struct Metadata {
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    /// The provider sends `iss` in authorization responses (RFC 9207), so it must be there.
    pub(crate) iss_in_response: bool,
    pub(crate) verifier: Verifier,
}

struct Cached {
    metadata: Option<Arc<Metadata>>,
    fetched: Option<Instant>,
    failed: Option<Instant>,
}

/// A provider and its cached metadata.
pub(crate) struct Provider {
    pub(crate) settings: ProviderSettings,
    cache: tokio::sync::Mutex<Cached>,
}

fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An endpoint from the document: https, or http on a loopback host.
fn endpoint(doc: &Map<String, Value>, name: &str) -> Result<String, String> {
    let raw = doc
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name} is missing"))?;
    let url = url::Url::parse(raw).map_err(|_| format!("{name} is not a URL"))?;
    match (url.scheme(), url.host_str()) {
        ("https", Some(_)) => Ok(raw.to_owned()),
        ("http", Some(h)) if loopback(h) => Ok(raw.to_owned()),
        _ => Err(format!("{name} must be https")),
    }
}

impl Provider {
    pub(crate) fn new(settings: ProviderSettings) -> Self {
        Self {
            settings,
            cache: tokio::sync::Mutex::new(Cached {
                metadata: None,
                fetched: None,
                failed: None,
            }),
        }
    }

    /// The metadata, fetched if missing or older than [`METADATA_TTL`].
    pub(crate) async fn metadata(&self, client: &JsonClient) -> Result<Arc<Metadata>, String> {
        let mut cache = self.cache.lock().await;
        let fresh = cache.fetched.is_some_and(|t| t.elapsed() < METADATA_TTL);
        let backing_off = cache.failed.is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if let Some(m) = &cache.metadata
            && (fresh || backing_off)
        {
            return Ok(m.clone());
        }
        if backing_off {
            return Err("discovery failed moments ago".into());
        }
        match self.discover(client).await {
            Ok(m) => {
                let m = Arc::new(m);
                cache.metadata = Some(m.clone());
                cache.fetched = Some(Instant::now());
                cache.failed = None;
                Ok(m)
            }
            Err(e) => {
                cache.failed = Some(Instant::now());
                tracing::warn!(provider = %self.settings.name, error = %e,
                    "OpenID provider discovery failed");
                // A stale document still works better than none.
                cache.metadata.clone().ok_or(e)
            }
        }
    }

    async fn discover(&self, client: &JsonClient) -> Result<Metadata, String> {
        let s = &self.settings;
        let url = format!("{}/.well-known/openid-configuration", s.issuer);
        let (doc, status) = client.get(&url).await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("status {status}"));
        }
        // OpenID Connect Discovery §4.3: the document's issuer must be the one we asked.
        let issuer = doc
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or("issuer is missing")?;
        if issuer.trim_end_matches('/') != s.issuer {
            return Err(format!("issuer '{issuer}' differs from the configured one"));
        }
        let jwks_uri = endpoint(&doc, "jwks_uri")?;
        let offered: Vec<Algorithm> = match doc.get("id_token_signing_alg_values_supported") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|n| n.parse::<Algorithm>().ok())
                .collect(),
            // OpenID Connect Discovery: RS256 is the default.
            _ => vec![Algorithm::RS256],
        };
        let algorithms: Vec<Algorithm> = if s.algorithms.is_empty() {
            offered
                .into_iter()
                .filter(|a| ASYMMETRIC.contains(a))
                .collect()
        } else {
            s.algorithms.clone()
        };
        if algorithms.is_empty() {
            return Err("the provider offers no accepted ID token algorithm".into());
        }
        let jwks = JwksCache::new(&jwks_uri, JwksOptions::default()).map_err(|e| e.to_string())?;
        let rules = Rules {
            algorithms,
            issuer: Some(issuer.to_owned()),
            audiences: vec![s.client_id.clone()],
            max_token_size: MAX_ID_TOKEN,
            required_claims: vec!["sub".into(), "iat".into()],
            ..Rules::default()
        };
        Ok(Metadata {
            authorization_endpoint: endpoint(&doc, "authorization_endpoint")?,
            token_endpoint: endpoint(&doc, "token_endpoint")?,
            iss_in_response: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            verifier: Verifier::new(rules, KeySource::Remote(jwks)),
        })
    }
}
