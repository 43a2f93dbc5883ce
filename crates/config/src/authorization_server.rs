//! The `authorization_server` section: the built-in OAuth 2.0 / OpenID Connect server's own
//! listener, issuer, token formats and lifetimes, and signing-key schedule. Its model (the YAML
//! shape), its validation (every error with its field path) and the compiled
//! [`AuthorizationServerSpec`] live here together; changing the section needs a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_core::DurationSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Collector;

pub mod login;
pub use login::{LoginConfig, LoginSpec, ProviderConfig, ProviderSpec};

/// The built-in authorization server (absent: not started). See docs/oauth.md.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServer {
    /// `IP:port` of its own listener (separate from API listeners and the admin API).
    pub address: String,
    /// Issuer identifier: `https://host[:port]` without path, query or fragment (`http://` only
    /// for a loopback host). Endpoints are `<issuer>/oauth2/...`; it is the `iss` of every token.
    pub issuer: String,
    /// Terminate TLS on the listener (PEM files, relative to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<AuthorizationServerTls>,
    /// Access tokens.
    #[serde(default)]
    pub access_token: AccessTokenConfig,
    /// Refresh tokens (authorization_code grant; rotated on every use).
    #[serde(default)]
    pub refresh_token: RefreshTokenConfig,
    /// Authorization code lifetime (at most 10 minutes, RFC 6749 §4.1.2).
    #[serde(default = "default_code_lifetime")]
    pub code_lifetime: DurationSpec,
    /// OpenID Connect ID token lifetime.
    #[serde(default = "default_id_token_lifetime")]
    pub id_token_lifetime: DurationSpec,
    /// Token-signing keys.
    #[serde(default)]
    pub signing: SigningConfig,
    /// Sign-in methods of the login page: the built-in user store and/or external OpenID
    /// providers (login federation, see docs/oauth.md).
    #[serde(default)]
    pub login: LoginConfig,
}

/// TLS files of the authorization server listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServerTls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM bundle of the CAs trusted for client certificates. When set, clients are asked for
    /// a certificate (optional at the TLS level); a verified one enables `tls_client_auth`
    /// (RFC 8705 §2.1) and binds the access tokens issued to it (`cnf.x5t#S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// Access token settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AccessTokenConfig {
    /// Format when no API product of the grant sets the `token_format` attribute
    /// (`jwt` wins when products disagree).
    pub format: AccessTokenFormat,
    /// Lifetime.
    pub lifetime: DurationSpec,
}

impl Default for AccessTokenConfig {
    fn default() -> Self {
        Self {
            format: AccessTokenFormat::Opaque,
            lifetime: DurationSpec(Duration::from_secs(3600)),
        }
    }
}

/// Access token format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenFormat {
    /// 256 random bits, stored only as a keyed hash; the gateway resolves it (cached).
    Opaque,
    /// A signed RFC 9068 JWT (`typ: at+jwt`, `kid`), verifiable with the JWKS alone.
    Jwt,
}

/// Refresh token settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshTokenConfig {
    /// Lifetime.
    pub lifetime: DurationSpec,
}

impl Default for RefreshTokenConfig {
    fn default() -> Self {
        Self {
            lifetime: DurationSpec(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// Signing key schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Algorithm of new keys.
    pub algorithm: SigningAlgorithm,
    /// How long a key signs before the next one takes over.
    pub rotate_every: DurationSpec,
    /// How long the next key is published in the JWKS before it signs (must be shorter than
    /// `rotate_every`).
    pub publish_ahead: DurationSpec,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::Rs256,
            rotate_every: DurationSpec(Duration::from_secs(30 * 24 * 3600)),
            publish_ahead: DurationSpec(Duration::from_secs(24 * 3600)),
        }
    }
}

/// A token signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA 2048).
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256 (RSA 2048).
    #[serde(rename = "PS256")]
    Ps256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

fn default_code_lifetime() -> DurationSpec {
    DurationSpec(Duration::from_secs(60))
}

fn default_id_token_lifetime() -> DurationSpec {
    DurationSpec(Duration::from_secs(300))
}

/// The compiled section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationServerSpec {
    /// Listener address.
    pub address: SocketAddr,
    /// Issuer (no trailing slash).
    pub issuer: String,
    /// Certificate and key, resolved against the config file's directory.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CA bundle for client certificates (`tls.client_ca`, resolved).
    pub client_ca: Option<PathBuf>,
    /// Default access token format (`opaque` / `jwt`).
    pub access_token_format: AccessTokenFormat,
    /// Access token lifetime.
    pub access_token_lifetime: Duration,
    /// Refresh token lifetime.
    pub refresh_token_lifetime: Duration,
    /// Code lifetime.
    pub code_lifetime: Duration,
    /// ID token lifetime.
    pub id_token_lifetime: Duration,
    /// Signing algorithm of new keys.
    pub signing_algorithm: SigningAlgorithm,
    /// Rotation period.
    pub rotate_every: Duration,
    /// Publication lead time of the next key.
    pub publish_ahead: Duration,
    /// Sign-in methods (built-in users, external providers).
    pub login: LoginSpec,
}

const AT: &str = "/authorization_server";

/// Checks `issuer`: an absolute https URL (http only for loopback) of a host, without
/// userinfo, path, query or fragment.
fn check_issuer(raw: &str) -> Result<String, String> {
    let bad =
        || format!("issuer '{raw}' must be https://host[:port] with no path, query or fragment");
    let uri: http::Uri = raw.parse().map_err(|_| bad())?;
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') || uri.query().is_some() || raw.contains('#') {
        return Err(bad());
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(bad());
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") => {
            let host = authority.host();
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(format!(
                    "issuer '{raw}' must use https (http is allowed only for a loopback host)"
                ));
            }
        }
        _ => return Err(bad()),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// Validates and compiles the section.
pub(crate) fn compile(
    a: &AuthorizationServer,
    base: &Path,
    errs: &mut Collector<'_>,
) -> Option<AuthorizationServerSpec> {
    let address = a
        .address
        .parse::<SocketAddr>()
        .map_err(|_| {
            errs.at(
                &format!("{AT}/address"),
                format!("invalid address '{}': expected IP:port", a.address),
            )
        })
        .ok();
    let issuer = check_issuer(&a.issuer)
        .map_err(|m| errs.at(&format!("{AT}/issuer"), m))
        .ok();
    let tls = a
        .tls
        .as_ref()
        .map(|t| (base.join(&t.cert), base.join(&t.key)));
    if let Some((cert, key)) = &tls {
        for (file, field) in [(cert, "cert"), (key, "key")] {
            if !file.is_file() {
                errs.at(
                    &format!("{AT}/tls/{field}"),
                    format!("file not found: {}", file.display()),
                );
            }
        }
    }
    let client_ca = a.tls.as_ref().and_then(|t| {
        crate::client_certs::compile(
            t.client_ca.as_deref(),
            None,
            base,
            &format!("{AT}/tls"),
            errs,
        )
        .map(|c| c.ca)
    });
    let positive = [
        ("access_token/lifetime", a.access_token.lifetime),
        ("refresh_token/lifetime", a.refresh_token.lifetime),
        ("code_lifetime", a.code_lifetime),
        ("id_token_lifetime", a.id_token_lifetime),
        ("signing/rotate_every", a.signing.rotate_every),
        ("signing/publish_ahead", a.signing.publish_ahead),
    ];
    let mut ok = true;
    for (field, d) in positive {
        if d.0 < Duration::from_secs(1) {
            errs.at(&format!("{AT}/{field}"), "must be at least 1s");
            ok = false;
        }
    }
    if a.code_lifetime.0 > Duration::from_secs(600) {
        errs.at(
            &format!("{AT}/code_lifetime"),
            "must be at most 10m (codes are short-lived, RFC 6749 §4.1.2)",
        );
        ok = false;
    }
    if a.signing.publish_ahead.0 >= a.signing.rotate_every.0 {
        errs.at(
            &format!("{AT}/signing/publish_ahead"),
            "must be shorter than signing.rotate_every",
        );
        ok = false;
    }
    let login = login::compile(&a.login, &format!("{AT}/login"), base, errs);
    if !ok {
        return None;
    }
    Some(AuthorizationServerSpec {
        address: address?,
        issuer: issuer?,
        tls,
        client_ca,
        access_token_format: a.access_token.format,
        access_token_lifetime: a.access_token.lifetime.0,
        refresh_token_lifetime: a.refresh_token.lifetime.0,
        code_lifetime: a.code_lifetime.0,
        id_token_lifetime: a.id_token_lifetime.0,
        signing_algorithm: a.signing.algorithm,
        rotate_every: a.signing.rotate_every.0,
        publish_ahead: a.signing.publish_ahead.0,
        login: login?,
    })
}

#[cfg(test)]
mod tests {
    use super::check_issuer;

    #[test]
    fn issuers_must_be_https_hosts_without_paths() {
        assert_eq!(
            check_issuer("https://auth.example.com/").unwrap(),
            "https://auth.example.com"
        );
        assert!(check_issuer("http://127.0.0.1:9443").is_ok());
        assert!(check_issuer("http://localhost:1").is_ok());
        for bad in [
            "http://auth.example.com",
            "https://auth.example.com/tenant",
            "https://auth.example.com?x=1",
            "https://u@auth.example.com",
            "auth.example.com",
            "ftp://auth.example.com",
        ] {
            assert!(check_issuer(bad).is_err(), "{bad}");
        }
    }
}
