//! The OAuth 2.0 / OpenID Connect storage contract: client lookup (apps are the clients, their
//! credentials the client id and secret), issued tokens, authorization codes, token-signing keys
//! and the built-in end-user store.
//!
//! What it protects:
//! - **Secrets at rest** (invariant 6): tokens, refresh tokens and codes are stored only as
//!   keyed hashes ([`crate::Keyring::hash_credential`]); signing keys only sealed with
//!   [`crate::Purpose::SigningKeys`]; end-user passwords only as argon2id hashes. A database dump
//!   holds nothing a caller could present.
//! - **Replay**: codes and client assertions are single use and refresh tokens rotate; the
//!   repository makes "first use wins" atomic ([`OAuthRepository::consume_code`],
//!   [`OAuthRepository::rotate_refresh_token`], [`OAuthRepository::use_assertion_jti`]) and
//!   reports a replay so the caller can revoke the whole token family (RFC 9700 §4.14).
//! - **Public identifiers only in tokens**: a token names its client by the credential id
//!   (`key_…`), never by the consumer key, which is also an API key and must stay secret.
//!
//! Token issuance is the authorization server's hot path (thousands per second), so it writes
//! no `change_log` row (that would make every gateway reload its credential index) and takes a
//! batch ([`OAuthRepository::store_tokens`]) so callers can group commits.

use std::time::SystemTime;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::StoreError;
use crate::management::{Actor, Attributes};
use crate::secret::KeyHash;

/// An OAuth client: one approved, unexpired credential of an approved app of an active
/// developer, with the API products it is approved for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// Credential id (`key_…`): the public identifier put into tokens and introspection.
    pub credential_id: String,
    /// Display prefix of the consumer key.
    pub prefix: String,
    /// App id.
    pub app_id: String,
    /// App name.
    pub app_name: String,
    /// Developer id.
    pub developer_id: String,
    /// Developer e-mail.
    pub developer_email: String,
    /// Registered redirect URIs (exact match).
    pub callback_urls: Vec<String>,
    /// App attributes (e.g. `sector_identifier` for pairwise subjects, `jwks` for
    /// private_key_jwt).
    pub app_attributes: Attributes,
    /// Products whose association with this credential is **approved**.
    pub products: Vec<ClientProduct>,
}

impl OAuthClient {
    /// Every scope the client may be granted: the union of its approved products' scopes.
    pub fn allowed_scopes(&self) -> std::collections::BTreeSet<&str> {
        self.products
            .iter()
            .flat_map(|p| p.scopes.iter().map(String::as_str))
            .collect()
    }
}

/// An approved product as the authorization server needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProduct {
    /// Product name.
    pub name: String,
    /// Scopes it grants.
    pub scopes: Vec<String>,
    /// Product attributes (`token_format: jwt|opaque`).
    pub attributes: Attributes,
}

/// `access` or `refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An access token (opaque or JWT).
    Access,
    /// A refresh token (always opaque).
    Refresh,
}

impl TokenKind {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "access" => Ok(Self::Access),
            "refresh" => Ok(Self::Refresh),
            other => Err(StoreError::Corrupt(format!("unknown token kind {other:?}"))),
        }
    }
}

/// A token to store. The caller hashes it ([`crate::Keyring::hash_credential`]) and keeps the
/// plaintext only to hand it to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Token id (`tok_…`, also the JWT `jti`).
    pub id: String,
    /// Keyed hash of the token as presented.
    pub hash: KeyHash,
    /// Access or refresh.
    pub kind: TokenKind,
    /// `opaque` or `jwt`.
    pub format: String,
    /// Credential id of the client.
    pub credential_id: String,
    /// End-user subject as given to the client, or `None` for client_credentials.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Products the token was granted through.
    pub products: Vec<String>,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// When it expires.
    pub expires_at: SystemTime,
    /// The rotation family (all tokens descending from one grant).
    pub family_id: String,
    /// The refresh token it was rotated from.
    pub parent_id: Option<String>,
    /// The authorization code it was issued from.
    pub code_id: Option<String>,
    /// Certificate binding (`cnf.x5t#S256`, RFC 8705).
    pub cnf_x5t: Option<String>,
    /// DPoP key binding (`cnf.jkt`, RFC 9449).
    pub cnf_jkt: Option<String>,
    /// Further claims (JSON object: `auth_time`, `acr`, ...), for introspection.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// A stored token (never its plaintext or hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token id (`jti`).
    pub id: String,
    /// Access or refresh.
    pub kind: TokenKind,
    /// `opaque` or `jwt`.
    pub format: String,
    /// Credential id of the client.
    pub credential_id: String,
    /// End-user subject.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Products.
    pub products: Vec<String>,
    /// Issued at.
    pub issued_at: SystemTime,
    /// Expires at.
    pub expires_at: SystemTime,
    /// Rotation family.
    pub family_id: String,
    /// Rotated from.
    pub parent_id: Option<String>,
    /// Issued from this authorization code.
    pub code_id: Option<String>,
    /// Certificate thumbprint binding.
    pub cnf_x5t: Option<String>,
    /// DPoP key thumbprint binding.
    pub cnf_jkt: Option<String>,
    /// Further claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// For a refresh token: when it was rotated (used).
    pub used_at: Option<SystemTime>,
    /// When it was revoked.
    pub revoked_at: Option<SystemTime>,
    /// The client's app and developer, if the credential still exists.
    pub owner: Option<TokenOwner>,
}

/// Who a token was issued to, as the gateway attaches it to requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// App id.
    pub app_id: String,
    /// App name.
    pub app_name: String,
    /// Developer id.
    pub developer_id: String,
    /// Developer e-mail.
    pub developer_email: String,
    /// Display prefix of the client's consumer key.
    pub credential_prefix: String,
    /// Credential approved and unexpired, app approved and developer active when read: a token
    /// stops working with its client (Apigee semantics).
    pub usable: bool,
}

impl TokenRecord {
    /// Not revoked, not expired at `now`, not rotated, and its client still usable.
    pub fn is_active(&self, now: SystemTime) -> bool {
        self.revoked_at.is_none()
            && self.used_at.is_none()
            && self.expires_at > now
            && self.owner.as_ref().is_some_and(|o| o.usable)
    }
}

/// Outcome of [`OAuthRepository::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token was unused: it is now used and the new tokens are stored.
    Rotated,
    /// The old token had been used or revoked already: a replay. Its whole family is revoked
    /// now; nothing was stored.
    Replayed {
        /// Tokens revoked by this call.
        revoked: u64,
    },
}

/// An authorization code to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// Code id (`code_…`).
    pub id: String,
    /// Keyed hash of the code.
    pub hash: KeyHash,
    /// Credential id of the client it was issued to.
    pub credential_id: String,
    /// End-user subject (as given to this client).
    pub subject: String,
    /// The end user's local id (for userinfo claims).
    pub user_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Products the scopes come from.
    pub products: Vec<String>,
    /// The redirect URI it was sent to (must be repeated exactly at the token endpoint).
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// OpenID Connect nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: SystemTime,
    /// Issued at.
    pub issued_at: SystemTime,
    /// Expires at (short: RFC 9700 recommends ≤ 10 minutes).
    pub expires_at: SystemTime,
    /// The token family every token issued from this code belongs to.
    pub family_id: String,
}

/// A stored code (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// Code id.
    pub id: String,
    /// Client credential id.
    pub credential_id: String,
    /// End-user subject.
    pub subject: String,
    /// End user's local id.
    pub user_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Products.
    pub products: Vec<String>,
    /// Redirect URI.
    pub redirect_uri: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// Nonce.
    pub nonce: Option<String>,
    /// Authentication time.
    pub auth_time: SystemTime,
    /// Issued at.
    pub issued_at: SystemTime,
    /// Expires at.
    pub expires_at: SystemTime,
    /// Token family.
    pub family_id: String,
}

/// Outcome of [`OAuthRepository::consume_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// First use: the code is now spent; the caller may issue tokens from it.
    First(Box<CodeRecord>),
    /// Second use: every token issued from the code is revoked now (RFC 9700 §4.5).
    Replayed {
        /// Tokens revoked by this call.
        revoked: u64,
        /// The revoked family (for in-memory caches to drop).
        family_id: String,
    },
    /// No such code, or expired.
    Invalid,
}

/// Lifecycle of a signing key: published as `next` before it signs, `active` while it signs,
/// `retired` (still published, so tokens it signed verify) until its tokens have expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKeyState {
    /// Published in the JWKS, not signing yet.
    Next,
    /// Signing.
    Active,
    /// No longer signing, still published.
    Retired,
}

impl SigningKeyState {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            other => Err(StoreError::Corrupt(format!(
                "unknown signing key state {other:?}"
            ))),
        }
    }
}

/// A signing key to store: the private key is sealed by the repository.
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// JOSE algorithm name (`RS256`, `ES256`, ...).
    pub alg: String,
    /// PKCS#8 DER private key (sealed before it is written).
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// Initial state.
    pub state: SigningKeyState,
}

impl std::fmt::Debug for NewSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A stored signing key, private half decrypted (only the authorization server asks for it).
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// Algorithm name.
    pub alg: String,
    /// PKCS#8 DER private key.
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// Public JWK (JSON).
    pub public_jwk: String,
    /// State.
    pub state: SigningKeyState,
    /// Created.
    pub created_at: SystemTime,
    /// Became active.
    pub activated_at: Option<SystemTime>,
    /// Retired.
    pub retired_at: Option<SystemTime>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// An end user of the built-in user store (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthUser {
    /// `usr_…` (the local subject; clients see a pairwise subject derived from it).
    pub id: String,
    /// Login name, unique.
    pub username: String,
    /// OpenID claims released by userinfo/id_token (`email`, `name`, ...), a JSON object.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// Created.
    pub created_at: SystemTime,
}

/// Storage for the authorization server.
#[async_trait]
pub trait OAuthRepository: Send + Sync {
    // --- clients ---
    /// The client whose consumer key is `client_id`, if it is usable (credential approved and
    /// unexpired, app approved, developer active). `Unauthorized` otherwise, whatever the
    /// reason, so the endpoint cannot be used to probe keys.
    async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, StoreError>;
    /// As [`oauth_client`](Self::oauth_client), and the consumer secret must match
    /// (keyed hash, compared in constant time). `Unauthorized` on any mismatch.
    async fn authenticate_oauth_client(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<OAuthClient, StoreError>;
    /// The usable client with this credential id (refresh, introspection output).
    async fn oauth_client_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<OAuthClient, StoreError>;

    // --- tokens ---
    /// Stores tokens in one transaction.
    async fn store_tokens(&self, tokens: &[NewToken]) -> Result<(), StoreError>;
    /// The token with this hash, active or not.
    async fn find_token(&self, hash: &KeyHash) -> Result<Option<TokenRecord>, StoreError>;
    /// Revokes one token; with `family`, every token of its family too. Returns how many
    /// tokens changed. Unknown hash → `Ok(0)` (RFC 7009: not an error).
    async fn revoke_token(
        &self,
        hash: &KeyHash,
        credential_id: &str,
        family: bool,
    ) -> Result<u64, StoreError>;
    /// Revokes every token of a family (refresh replay, code replay).
    async fn revoke_family(&self, family_id: &str) -> Result<u64, StoreError>;
    /// Atomically marks the refresh token `old_id` used and stores `new_tokens`; if it was
    /// used or revoked already, revokes its family instead (see [`Rotation`]).
    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        new_tokens: &[NewToken],
    ) -> Result<Rotation, StoreError>;
    /// Deletes tokens, codes and assertion `jti` records that expired before `before`.
    /// Returns how many rows went.
    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError>;

    // --- client assertions (private_key_jwt) ---
    /// Records the first use of a client assertion: `hash` is the keyed hash of the client's
    /// credential id and the assertion's `jti`, `expires_at` when the assertion stops being
    /// acceptable. `true` on first use (or when an earlier record had expired by `now`),
    /// `false` for a replay. Atomic across nodes sharing the database.
    async fn use_assertion_jti(
        &self,
        hash: &KeyHash,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError>;

    // --- authorization codes ---
    /// Stores a new code.
    async fn store_code(&self, code: &NewCode) -> Result<(), StoreError>;
    /// Spends a code (see [`CodeUse`]).
    async fn consume_code(&self, hash: &KeyHash, now: SystemTime) -> Result<CodeUse, StoreError>;
    /// Stores tokens issued from a spent code, unless the code has been replayed meanwhile
    /// (then `Conflict` and nothing is stored), in one transaction.
    async fn store_code_tokens(&self, code_id: &str, tokens: &[NewToken])
    -> Result<(), StoreError>;

    // --- signing keys ---
    /// Every signing key, private halves decrypted.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a key (`Conflict` if the kid exists, or if it is `active` while another is).
    async fn add_signing_key(&self, key: &NewSigningKey) -> Result<(), StoreError>;
    /// Rotation in one transaction: if `promote` is still `next`, the current active key
    /// retires, `promote` becomes active and `new_next` is added. Returns `false` (changing
    /// nothing) when another node rotated first.
    async fn rotate_signing_keys(
        &self,
        promote: &str,
        new_next: &NewSigningKey,
    ) -> Result<bool, StoreError>;
    /// Deletes retired keys retired before `before`.
    async fn delete_retired_keys(&self, before: SystemTime) -> Result<u64, StoreError>;

    // --- end users ---
    /// Creates an end user (argon2id password, ≥ 12 characters).
    async fn create_oauth_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<OAuthUser, StoreError>;
    /// Reads a user by id or username.
    async fn get_oauth_user(&self, id_or_username: &str) -> Result<OAuthUser, StoreError>;
    /// Checks a password; `Unauthorized` for an unknown user, a wrong password or a disabled
    /// user (unknown users cost as much time as known ones).
    async fn authenticate_oauth_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<OAuthUser, StoreError>;
    /// Login federation: the local user linked to `subject` at the external provider
    /// `provider`, created on its first login (username `<provider>/<subject>`, no password, so
    /// it can only log in through the provider), its claims replaced by `claims` on every
    /// login. One write transaction: concurrent first logins of one subject create one user.
    async fn link_federated_user(
        &self,
        actor: &Actor,
        provider: &str,
        subject: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<OAuthUser, StoreError>;
}
