//! The authorization server's runtime settings, built by the composition root from the
//! validated gateway config (this crate never sees the YAML).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use portcullis_jose::Algorithm;

/// Access token format when no API product of the grant names one (`token_format` product
/// attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormat {
    /// 256 random bits, stored only as a keyed hash; resolved through the store.
    Opaque,
    /// A signed JWT (RFC 9068, `typ: at+jwt`), verifiable with the JWKS alone.
    Jwt,
}

impl TokenFormat {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }

    /// Parses `opaque` / `jwt`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opaque" => Some(Self::Opaque),
            "jwt" => Some(Self::Jwt),
            _ => None,
        }
    }
}

/// Signing key schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSettings {
    /// Algorithm for new keys (RS256, PS256, ES256, EdDSA).
    pub algorithm: Algorithm,
    /// How long a key signs before the next one takes over.
    pub rotate_every: Duration,
    /// How long the next key is published in the JWKS before it signs, so every verifier's
    /// cached JWKS already holds it.
    pub publish_ahead: Duration,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::RS256,
            rotate_every: Duration::from_secs(30 * 24 * 3600),
            publish_ahead: Duration::from_secs(24 * 3600),
        }
    }
}

/// TLS of the authorization server's listener (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// CA bundle for client certificates (`tls_client_auth`); optional client auth.
    pub client_ca: Option<PathBuf>,
}

/// Everything the authorization server needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Listener address.
    pub address: SocketAddr,
    /// Issuer identifier (`https://host[:port]`, no path); endpoints hang below it.
    pub issuer: String,
    /// TLS, if the listener terminates it.
    pub tls: Option<TlsSettings>,
    /// Default access token format.
    pub access_token_format: TokenFormat,
    /// Access token lifetime.
    pub access_token_lifetime: Duration,
    /// Refresh token lifetime.
    pub refresh_token_lifetime: Duration,
    /// Authorization code lifetime (short).
    pub code_lifetime: Duration,
    /// ID token lifetime.
    pub id_token_lifetime: Duration,
    /// Signing keys.
    pub signing: SigningSettings,
    /// Sign-in methods of the login page (built-in users, external OpenID providers).
    pub login: crate::federation::settings::LoginSettings,
}

impl Settings {
    /// Defaults for `issuer` at `address` (used by tests and as the config defaults).
    pub fn new(address: SocketAddr, issuer: impl Into<String>) -> Self {
        Self {
            address,
            issuer: issuer.into(),
            tls: None,
            access_token_format: TokenFormat::Opaque,
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            code_lifetime: Duration::from_secs(60),
            id_token_lifetime: Duration::from_secs(300),
            signing: SigningSettings::default(),
            login: Default::default(),
        }
    }

    /// `issuer` + `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    /// The longest time a token signed by a key can stay valid after the key stops signing.
    pub fn longest_token_lifetime(&self) -> Duration {
        self.access_token_lifetime.max(self.id_token_lifetime)
    }
}
