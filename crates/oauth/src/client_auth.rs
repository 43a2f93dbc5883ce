//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` (RFC 6749 §2.3.1: `Authorization: Basic`, id and secret each
//! form-urlencoded before base64) and `client_secret_post` (form parameters). Exactly one
//! method per request: using two is `invalid_request` (§2.3). `tls_client_auth` (RFC 8705) lives
//! in [`crate::mtls`], `private_key_jwt` (RFC 7523) in [`crate::client_assertion`]; which methods
//! an app may use, in [`crate::auth_method`].
//!
//! The client id is the app credential's consumer key and the secret its consumer secret; the
//! store compares keyed hashes in constant time ([`OAuthRepository::authenticate_oauth_client`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};
use portcullis_store::{KeyHash, Keyring, OAuthClient, OAuthRepository};
use quick_cache::sync::Cache;
use zeroize::Zeroizing;

use crate::client_assertion::{self, Assertions};
use crate::error::OAuthError;
use crate::mtls::PeerCertificate;
use crate::params::Params;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic.
    SecretBasic,
    /// Form parameters.
    SecretPost,
    /// A verified TLS client certificate matching the registration (RFC 8705 §2.1).
    TlsClientAuth,
    /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The RFC 7591 / RFC 8414 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretBasic => "client_secret_basic",
            Self::SecretPost => "client_secret_post",
            Self::TlsClientAuth => "tls_client_auth",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// Presented credentials.
pub(crate) struct Presented {
    pub(crate) id: String,
    pub(crate) secret: Zeroizing<String>,
    pub(crate) method: AuthMethod,
}

fn decode_part(part: &str) -> Option<String> {
    // `+` means space in form encoding; percent escapes decode to UTF-8.
    let decoded: String = form_urlencoded::parse(format!("x={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some(decoded)
}

/// Reads the client's credentials from the request.
pub(crate) fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let mut basic = None;
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = values.next() {
        if values.next().is_some() {
            return Err(OAuthError::invalid_request("several Authorization headers"));
        }
        let text = value.to_str().map_err(|_| OAuthError::invalid_client())?;
        let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = Zeroizing::new(
                STANDARD
                    .decode(rest.trim())
                    .map_err(|_| OAuthError::invalid_client().basic())?,
            );
            let text =
                std::str::from_utf8(&raw).map_err(|_| OAuthError::invalid_client().basic())?;
            let (id, secret) = text
                .split_once(':')
                .ok_or(OAuthError::invalid_client().basic())?;
            let id = decode_part(id).ok_or(OAuthError::invalid_client().basic())?;
            let secret =
                Zeroizing::new(decode_part(secret).ok_or(OAuthError::invalid_client().basic())?);
            basic = Some(Presented {
                id,
                secret,
                method: AuthMethod::SecretBasic,
            });
        }
    }
    let form_secret = params.get("client_secret");
    match (basic, form_secret) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not several",
        )),
        (Some(b), None) => {
            if params.get("client_id").is_some_and(|id| id != b.id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the authenticated client",
                ));
            }
            Ok(b)
        }
        (None, Some(secret)) => Ok(Presented {
            id: params
                .get("client_id")
                .ok_or(OAuthError::invalid_client())?
                .to_owned(),
            secret: Zeroizing::new(secret.to_owned()),
            method: AuthMethod::SecretPost,
        }),
        (None, None) => Err(OAuthError::invalid_client()),
    }
}

/// How long a successful client authentication is remembered: the token endpoint then skips
/// the store reads for a busy client. It bounds how long a revoked credential (or a product
/// approval change) can still obtain new tokens.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(2);

/// Recently authenticated clients, by the keyed hashes of id and secret (a hit means both were
/// verified against the store moments ago).
pub(crate) struct ClientCache {
    keyring: Arc<Keyring>,
    cache: Cache<(KeyHash, KeyHash), (Arc<OAuthClient>, Instant)>,
    /// `tls_client_auth` successes by client id and certificate thumbprint (a cache of its own:
    /// a thumbprint is public, so it must never be usable as a secret of the other one).
    by_cert: Cache<(KeyHash, Arc<str>), (Arc<OAuthClient>, Instant)>,
    /// `private_key_jwt` verification (client lookups, key sets; never assertions).
    assertions: Assertions,
}

impl ClientCache {
    /// `issuer` and `token_endpoint` are what client assertions must name as `aud`.
    pub(crate) fn new(keyring: Arc<Keyring>, issuer: &str, token_endpoint: &str) -> Self {
        Self {
            assertions: Assertions::new(keyring.clone(), issuer, token_endpoint),
            keyring,
            cache: Cache::new(10_000),
            by_cert: Cache::new(10_000),
        }
    }

    /// A client that authenticated with the certificate `x5t` moments ago.
    pub(crate) fn cached(&self, id: &str, x5t: &str) -> Option<OAuthClient> {
        let (client, at) = self
            .by_cert
            .get(&(self.keyring.hash_credential(id), x5t.into()))?;
        (at.elapsed() < CLIENT_CACHE_TTL).then(|| (*client).clone())
    }

    /// Remembers a certificate authentication.
    pub(crate) fn remember(&self, id: &str, x5t: &str, client: &OAuthClient) {
        self.by_cert.insert(
            (self.keyring.hash_credential(id), x5t.into()),
            (Arc::new(client.clone()), Instant::now()),
        );
    }
}

/// Authenticates the client of a request.
pub(crate) async fn authenticate(
    store: &dyn OAuthRepository,
    clients: &ClientCache,
    headers: &HeaderMap,
    params: &Params,
    peer: Option<&PeerCertificate>,
) -> Result<(OAuthClient, AuthMethod, String), OAuthError> {
    if let Some(r) = crate::mtls::authenticate(store, clients, headers, params, peer).await {
        return r;
    }
    if let Some(a) = client_assertion::presented(params)? {
        if has_secret(headers, params) {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        let client = clients.assertions.authenticate(store, &a).await?;
        return Ok((client, AuthMethod::PrivateKeyJwt, a.client_id));
    }
    let p = presented(headers, params)?;
    let key = (
        clients.keyring.hash_credential(&p.id),
        clients.keyring.hash_credential(&p.secret),
    );
    if let Some((client, at)) = clients.cache.get(&key)
        && at.elapsed() < CLIENT_CACHE_TTL
    {
        permitted(&client, p.method)?;
        return Ok(((*client).clone(), p.method, p.id));
    }
    match store.authenticate_oauth_client(&p.id, &p.secret).await {
        Ok(client) => {
            permitted(&client, p.method)?;
            clients
                .cache
                .insert(key, (Arc::new(client.clone()), Instant::now()));
            Ok((client, p.method, p.id))
        }
        Err(e) => {
            let err = OAuthError::from_store(&e);
            Err(
                if p.method == AuthMethod::SecretBasic && err.code == "invalid_client" {
                    err.basic()
                } else {
                    err
                },
            )
        }
    }
}

/// True if the request carries a secret (Basic header or `client_secret`).
fn has_secret(headers: &HeaderMap, params: &Params) -> bool {
    params.get("client_secret").is_some()
        || headers.get_all(header::AUTHORIZATION).iter().any(|v| {
            v.as_bytes()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"basic "))
        })
}

/// The app may use `method` (`token_endpoint_auth_method`); Basic failures carry their
/// challenge.
fn permitted(client: &OAuthClient, method: AuthMethod) -> Result<(), OAuthError> {
    crate::auth_method::permitted(client, method).map_err(|e| {
        if method == AuthMethod::SecretBasic {
            e.basic()
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let p = presented(&basic("pcl_a%2Bb", "s+c%3Ar"), &Params::default()).unwrap();
        assert_eq!(p.id, "pcl_a+b");
        assert_eq!(p.secret.as_str(), "s c:r");
        assert_eq!(p.method, AuthMethod::SecretBasic);
    }

    #[test]
    fn two_methods_or_none_are_refused() {
        let both = Params::parse(b"client_id=a&client_secret=b").unwrap();
        assert_eq!(
            presented(&basic("a", "b"), &both).err().unwrap().code,
            "invalid_request"
        );
        assert_eq!(
            presented(&HeaderMap::new(), &Params::default())
                .err()
                .unwrap()
                .code,
            "invalid_client"
        );
        let post = presented(&HeaderMap::new(), &both).unwrap();
        assert_eq!(post.method, AuthMethod::SecretPost);
    }

    #[test]
    fn an_assertion_with_a_secret_is_two_methods() {
        let assertion = "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2ln";
        let post = Params::parse(format!("{assertion}&client_secret=s").as_bytes()).unwrap();
        assert!(has_secret(&HeaderMap::new(), &post));
        let form = Params::parse(assertion.as_bytes()).unwrap();
        assert!(has_secret(&basic("a", "b"), &form));
        assert!(!has_secret(&HeaderMap::new(), &form));
        assert!(crate::client_assertion::presented(&form).unwrap().is_some());
    }
}
