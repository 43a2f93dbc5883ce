//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the
//! client proves possession of a private key by signing a short-lived JWT with it; the server
//! verifies it with the public keys the client registered (app attribute `jwks`, or `jwks_uri`
//! fetched and cached with [`JwksCache`]).
//!
//! Rules, each refusal the same `invalid_client` (the log says which, the client never does):
//! - `client_assertion_type` is `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`;
//! - `iss` = `sub` = the client_id (and a `client_id` parameter, if sent, equals it);
//! - `aud` is the issuer identifier or the token endpoint URL (every value of an array must
//!   be one of these: an assertion also addressed to another party is refused);
//! - signed with RS256, PS256, ES256 or EdDSA with a registered key fitting that algorithm
//!   (HMAC — `client_secret_jwt` — is not supported, so a public key is never an HMAC secret);
//! - `exp` required and at most [`MAX_LIFETIME`] ahead; `nbf`/`iat` not in the future, with
//!   [`DEFAULT_LEEWAY`];
//! - `jti` required and single use: its keyed hash is recorded in the store until the assertion
//!   expires, so a replay is refused on every node.
//!
//! Client lookups are cached like secret authentications ([`CLIENT_CACHE_TTL`]); assertions
//! never are (each is single use).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jose::{
    Algorithm, DEFAULT_LEEWAY, JwksCache, JwksOptions, KeySet, KeySource, Rules, Verified, Verifier,
};
use portcullis_store::client_metadata::{JWKS, JWKS_URI};
use portcullis_store::{KeyHash, Keyring, OAuthClient, OAuthRepository};
use quick_cache::sync::Cache;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::client_auth::{AuthMethod, CLIENT_CACHE_TTL};
use crate::error::OAuthError;
use crate::params::Params;

/// The only `client_assertion_type` (RFC 7523 §2.2).
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Accepted signature algorithms (asymmetric only).
pub(crate) const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];
/// Longest accepted time between now and the assertion's `exp` (plus the leeway).
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(300);
/// Longest accepted `jti`.
const MAX_JTI_LEN: usize = 256;
/// Longest accepted assertion.
const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// Most clients whose key sets are kept (inline sets parsed, remote sets fetched).
const MAX_KEY_SOURCES: usize = 1_000;
/// Header `typ` values accepted besides none (RFC 7523 has none; rfc7523bis proposes the
/// explicit one).
const TYPES: [&str; 2] = ["jwt", "client-authentication+jwt"];

/// A presented assertion, its claimed client not yet verified.
pub(crate) struct Presented {
    /// The client_id the assertion names in `iss` and `sub`.
    pub(crate) client_id: String,
    jwt: String,
}

/// Why an assertion was refused: logged, never shown to the client.
type Refusal = &'static str;

/// Reads `client_assertion_type` + `client_assertion`. `None` when neither is present.
pub(crate) fn presented(params: &Params) -> Result<Option<Presented>, OAuthError> {
    let (kind, jwt) = match (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    ) {
        (None, None) => return Ok(None),
        (Some(k), Some(j)) => (k, j),
        _ => {
            return Err(refuse(
                None,
                "client_assertion_type or client_assertion missing",
            ));
        }
    };
    if kind != ASSERTION_TYPE {
        return Err(refuse(None, "unsupported client_assertion_type"));
    }
    let client_id = claimed_client(jwt).map_err(|why| refuse(None, why))?;
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(refuse(
            None,
            "client_id differs from the assertion's iss/sub",
        ));
    }
    Ok(Some(Presented {
        client_id,
        jwt: jwt.to_owned(),
    }))
}

/// The client an assertion claims to come from (`iss` = `sub`), read without verification to
/// find its keys. Nothing else of the unverified payload is used.
fn claimed_client(jwt: &str) -> Result<String, Refusal> {
    if jwt.len() > MAX_ASSERTION_LEN {
        return Err("assertion too large");
    }
    let payload = jwt.split('.').nth(1).ok_or("not a compact JWS")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "payload not base64url")?;
    let claims: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| "payload not a JSON object")?;
    match (claims.get("iss"), claims.get("sub")) {
        (Some(Value::String(iss)), Some(Value::String(sub))) if iss == sub && !iss.is_empty() => {
            Ok(iss.clone())
        }
        (Some(_), Some(_)) => Err("iss and sub differ"),
        _ => Err("iss or sub missing"),
    }
}

fn refuse(credential_id: Option<&str>, reason: Refusal) -> OAuthError {
    tracing::info!(
        credential = credential_id.unwrap_or("-"),
        reason,
        "private_key_jwt client assertion refused"
    );
    OAuthError::invalid_client()
}

/// Verification state shared by the endpoints: client lookups (2 s), the clients' key sets,
/// and what an assertion must name as its audience.
pub(crate) struct Assertions {
    keyring: Arc<Keyring>,
    audiences: [String; 2],
    rules: Rules,
    clients: Cache<KeyHash, (Arc<OAuthClient>, Instant)>,
    /// Inline JWKS by the SHA-256 of the attribute text (a changed attribute is a new entry).
    inline: Cache<[u8; 32], Verifier>,
    /// Remote JWKS by URL.
    remote: Cache<String, Verifier>,
    jwks_options: JwksOptions,
}

impl Assertions {
    /// `issuer` is the server's issuer identifier, `token_endpoint` its token endpoint URL.
    pub(crate) fn new(keyring: Arc<Keyring>, issuer: &str, token_endpoint: &str) -> Self {
        Self {
            keyring,
            audiences: [issuer.to_owned(), token_endpoint.to_owned()],
            rules: Rules {
                algorithms: ALGORITHMS.to_vec(),
                leeway: DEFAULT_LEEWAY,
                max_token_size: MAX_ASSERTION_LEN,
                required_claims: vec!["jti".into()],
                max_lifetime: Some(MAX_LIFETIME),
                ..Rules::default()
            },
            clients: Cache::new(10_000),
            inline: Cache::new(MAX_KEY_SOURCES),
            remote: Cache::new(MAX_KEY_SOURCES),
            jwks_options: JwksOptions {
                // Client keys rotate at the client's pace; an hour bounds how long a removed key
                // keeps working when the client's JWKS gives no shorter max-age.
                max_ttl: Duration::from_secs(3600),
                max_bytes: 64 * 1024,
                ..JwksOptions::default()
            },
        }
    }

    /// The usable client with this id, from a 2 s cache or the store.
    async fn client(
        &self,
        store: &dyn OAuthRepository,
        client_id: &str,
    ) -> Result<OAuthClient, OAuthError> {
        let key = self.keyring.hash_credential(client_id);
        if let Some((client, at)) = self.clients.get(&key)
            && at.elapsed() < CLIENT_CACHE_TTL
        {
            return Ok((*client).clone());
        }
        let client = store.oauth_client(client_id).await.map_err(|e| {
            let err = OAuthError::from_store(&e);
            if err.code == "invalid_client" {
                refuse(None, "unknown or unusable client");
            }
            err
        })?;
        self.clients
            .insert(key, (Arc::new(client.clone()), Instant::now()));
        Ok(client)
    }

    /// The verifier for the client's registered keys, if it has any usable.
    fn verifier(&self, client: &OAuthClient) -> Result<Verifier, Refusal> {
        let attrs = &client.app_attributes;
        if let Some(doc) = attrs.get(JWKS) {
            let digest: [u8; 32] = Sha256::digest(doc.as_bytes()).into();
            if let Some(v) = self.inline.get(&digest) {
                return Ok(v);
            }
            let keys = KeySet::from_jwks_json(doc.as_bytes()).map_err(|_| "jwks is not a JWKS")?;
            if keys.is_empty() {
                return Err("jwks holds no usable signature key");
            }
            let v = Verifier::new(self.rules.clone(), KeySource::Static(Arc::new(keys)));
            self.inline.insert(digest, v.clone());
            return Ok(v);
        }
        if let Some(url) = attrs.get(JWKS_URI) {
            if let Some(v) = self.remote.get(url) {
                return Ok(v);
            }
            let cache = JwksCache::new(url, self.jwks_options.clone())
                .map_err(|_| "jwks_uri is not a usable URL")?;
            let v = Verifier::new(self.rules.clone(), KeySource::Remote(cache));
            self.remote.insert(url.clone(), v.clone());
            return Ok(v);
        }
        Err("no keys registered (jwks or jwks_uri)")
    }

    /// Authenticates the client of `presented`: client state, signature, claims, single use.
    pub(crate) async fn authenticate(
        &self,
        store: &dyn OAuthRepository,
        presented: &Presented,
    ) -> Result<OAuthClient, OAuthError> {
        let client = self.client(store, &presented.client_id).await?;
        let id = Some(client.credential_id.as_str());
        if crate::auth_method::permitted(&client, AuthMethod::PrivateKeyJwt).is_err() {
            return Err(refuse(
                id,
                "token_endpoint_auth_method does not allow private_key_jwt",
            ));
        }
        let verifier = self.verifier(&client).map_err(|why| refuse(id, why))?;
        let verified = verifier
            .verify(&presented.jwt)
            .await
            .map_err(|e| refuse(id, e.kind()))?;
        let (jti, expires_at) = self
            .check_claims(&verified, &presented.client_id)
            .map_err(|why| refuse(id, why))?;
        let hash = self
            .keyring
            .hash_credential(&format!("{}\0{jti}", client.credential_id));
        let first = store
            .use_assertion_jti(&hash, expires_at, SystemTime::now())
            .await
            .map_err(|e| OAuthError::from_store(&e))?;
        if !first {
            return Err(refuse(id, "jti replayed"));
        }
        Ok(client)
    }

    /// The checks jose's [`Rules`] do not make: header `typ`, `iss`/`sub`, `aud`, `jti`.
    /// Returns the `jti` and until when it must be remembered.
    fn check_claims<'a>(
        &self,
        v: &'a Verified,
        client_id: &str,
    ) -> Result<(&'a str, SystemTime), Refusal> {
        if let Some(typ) = v.header.get("typ") {
            let typ = typ.as_str().ok_or("typ not a string")?.to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if !TYPES.contains(&typ) {
                return Err("typ not accepted");
            }
        }
        if v.str_claim("iss") != Some(client_id) || v.str_claim("sub") != Some(client_id) {
            return Err("iss or sub is not the client_id");
        }
        let ours = |a: &Value| {
            a.as_str()
                .is_some_and(|a| self.audiences.iter().any(|x| x == a))
        };
        let aud_ok = match v.claims.get("aud") {
            Some(a @ Value::String(_)) => ours(a),
            Some(Value::Array(list)) => !list.is_empty() && list.iter().all(ours),
            _ => false,
        };
        if !aud_ok {
            return Err("aud is not this server");
        }
        let jti = v
            .str_claim("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or("jti missing or malformed")?;
        // jose checked `exp` is a finite number within MAX_LIFETIME (+ leeway) of now.
        let exp = v
            .claims
            .get("exp")
            .and_then(Value::as_f64)
            .filter(|e| *e > 0.0)
            .ok_or("exp malformed")?;
        let until = UNIX_EPOCH + Duration::from_secs_f64(exp) + DEFAULT_LEEWAY;
        Ok((jti, until))
    }
}

#[cfg(test)]
#[path = "client_assertion_tests.rs"]
mod tests;
