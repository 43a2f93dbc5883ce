//! `authorization_server.login`: who may sign in at the built-in server's login page — the
//! built-in user store (`local_users`) and/or external OpenID providers (login federation).
//! Every provider value is checked with its field path; the client secret is read here, so a
//! missing environment variable or file stops the start, and the compiled spec never shows it
//! in `Debug`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Collector;

/// Sign-in methods of the login page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// Offer the username/password form of the built-in user store.
    #[serde(default = "yes")]
    pub local_users: bool,
    /// External OpenID Connect providers offered as "Sign in with …" (login federation). Their
    /// users become local users linked to `(provider name, sub)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderConfig>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            local_users: true,
            providers: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// One external OpenID provider. Portcullis is its client (authorization code flow with PKCE
/// S256, `client_secret_basic`); register `<issuer>/oauth2/federation/callback` of this server
/// as the redirect URI there.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Stable identifier (`a-z`, `0-9`, `-`, `_`; at most 32): links are stored under it, so
    /// renaming a provider detaches its users.
    pub name: String,
    /// Button text after "Sign in with" (default: `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The provider's issuer (`https://`, `http://` only for a loopback host). Its metadata is
    /// read from `<issuer>/.well-known/openid-configuration` and its `issuer` must match.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (relative to the config file; trailing newline ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; must contain `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Local claim ← provider ID token claim. The mapped claims replace the user's claims on
    /// every login and are what our ID tokens and userinfo release (by scope, as for local
    /// users).
    #[serde(default = "default_claims")]
    pub claims: BTreeMap<String, String>,
    /// ID token algorithms accepted (asymmetric only: RS256/384/512, PS256/384/512,
    /// ES256/384, EdDSA). Empty: the provider's `id_token_signing_alg_values_supported`
    /// intersected with those (RS256 when it publishes none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

fn default_claims() -> BTreeMap<String, String> {
    ["email", "email_verified", "name"]
        .iter()
        .map(|c| ((*c).to_owned(), (*c).to_owned()))
        .collect()
}

/// Asymmetric JOSE algorithms a provider may sign ID tokens with.
pub const PROVIDER_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Claims our server sets itself; a mapping may not overwrite them.
const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "azp",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "auth_time",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "typ",
];

/// A client secret: compared, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The compiled `login` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSpec {
    /// Password form of the built-in user store.
    pub local_users: bool,
    /// Providers, in config order.
    pub providers: Vec<ProviderSpec>,
}

impl Default for LoginSpec {
    fn default() -> Self {
        Self {
            local_users: true,
            providers: Vec::new(),
        }
    }
}

/// A compiled provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    /// Identifier.
    pub name: String,
    /// Button text.
    pub display_name: String,
    /// Issuer (no trailing slash).
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: ClientSecret,
    /// Scopes (contains `openid`).
    pub scopes: Vec<String>,
    /// Local claim → provider claim.
    pub claims: BTreeMap<String, String>,
    /// Pinned algorithms (empty: from discovery).
    pub algorithms: Vec<String>,
}

fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An external issuer: https (http only for loopback), a host, no userinfo, query or fragment;
/// a path is allowed (many providers have one per tenant or realm).
fn check_provider_issuer(raw: &str) -> Result<String, String> {
    let bad = || format!("issuer '{raw}' must be an https URL without query or fragment");
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    let host = url.host_str().ok_or_else(bad)?;
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback(host) => {}
        "http" => {
            return Err(format!(
                "issuer '{raw}' must use https (http is allowed only for a loopback host)"
            ));
        }
        _ => return Err(bad()),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b > 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
}

fn valid_claim(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic())
}

/// Validates and compiles `login` (at `at`, e.g. `/authorization_server/login`).
pub(crate) fn compile(
    l: &LoginConfig,
    at: &str,
    base: &Path,
    errs: &mut Collector<'_>,
) -> Option<LoginSpec> {
    let mut ok = true;
    let mut fail = |errs: &mut Collector<'_>, path: String, msg: String| {
        errs.at(&path, msg);
        ok = false;
    };
    if !l.local_users && l.providers.is_empty() {
        fail(
            errs,
            format!("{at}/providers"),
            "at least one provider is needed when local_users is false".into(),
        );
    }
    let mut names = BTreeSet::new();
    let mut providers = Vec::new();
    for (i, p) in l.providers.iter().enumerate() {
        let here = format!("{at}/providers/{i}");
        if !valid_name(&p.name) {
            fail(
                errs,
                format!("{here}/name"),
                format!("invalid name '{}': 1 to 32 of a-z, 0-9, '-', '_'", p.name),
            );
        } else if !names.insert(p.name.clone()) {
            fail(
                errs,
                format!("{here}/name"),
                format!("duplicate provider name '{}'", p.name),
            );
        }
        if p.display_name
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            fail(
                errs,
                format!("{here}/display_name"),
                "must not be empty".into(),
            );
        }
        let issuer = match check_provider_issuer(&p.issuer) {
            Ok(i) => Some(i),
            Err(m) => {
                fail(errs, format!("{here}/issuer"), m);
                None
            }
        };
        if p.client_id.is_empty() {
            fail(
                errs,
                format!("{here}/client_id"),
                "must not be empty".into(),
            );
        }
        let secret = match (&p.client_secret_env, &p.client_secret_file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(v),
                _ => {
                    fail(
                        errs,
                        format!("{here}/client_secret_env"),
                        format!("environment variable {var} is not set"),
                    );
                    None
                }
            },
            (None, Some(file)) => {
                let path = base.join(file);
                match std::fs::read_to_string(&path) {
                    Ok(s) if !s.trim_end_matches(['\r', '\n']).is_empty() => {
                        Some(s.trim_end_matches(['\r', '\n']).to_owned())
                    }
                    Ok(_) => {
                        fail(
                            errs,
                            format!("{here}/client_secret_file"),
                            format!("{} is empty", path.display()),
                        );
                        None
                    }
                    Err(e) => {
                        fail(
                            errs,
                            format!("{here}/client_secret_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
            _ => {
                fail(
                    errs,
                    here.clone(),
                    "set exactly one of client_secret_env and client_secret_file".into(),
                );
                None
            }
        };
        if !p.scopes.iter().any(|s| s == "openid") {
            fail(errs, format!("{here}/scopes"), "must contain openid".into());
        }
        for (j, s) in p.scopes.iter().enumerate() {
            if !valid_scope(s) {
                fail(
                    errs,
                    format!("{here}/scopes/{j}"),
                    format!("invalid scope '{s}'"),
                );
            }
        }
        for (local, remote) in &p.claims {
            let path = format!("{here}/claims/{local}");
            if !valid_claim(local) {
                fail(errs, path, format!("invalid claim name '{local}'"));
            } else if RESERVED_CLAIMS.contains(&local.as_str()) {
                fail(
                    errs,
                    path,
                    format!("'{local}' is set by the authorization server itself"),
                );
            } else if !valid_claim(remote) {
                fail(
                    errs,
                    path,
                    format!("invalid provider claim name '{remote}'"),
                );
            }
        }
        for (j, a) in p.algorithms.iter().enumerate() {
            if !PROVIDER_ALGORITHMS.contains(&a.as_str()) {
                fail(
                    errs,
                    format!("{here}/algorithms/{j}"),
                    format!(
                        "algorithm '{a}' is not allowed: one of {}",
                        PROVIDER_ALGORITHMS.join(", ")
                    ),
                );
            }
        }
        if let (Some(issuer), Some(secret)) = (issuer, secret) {
            providers.push(ProviderSpec {
                name: p.name.clone(),
                display_name: p.display_name.clone().unwrap_or_else(|| p.name.clone()),
                issuer,
                client_id: p.client_id.clone(),
                client_secret: ClientSecret(secret),
                scopes: p.scopes.clone(),
                claims: p.claims.clone(),
                algorithms: p.algorithms.clone(),
            });
        }
    }
    ok.then_some(LoginSpec {
        local_users: l.local_users,
        providers,
    })
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
