//! Settings of the login page's sign-in methods, built by the composition root from
//! `authorization_server.login`.

use portcullis_jose::Algorithm;

/// Who may sign in at the login page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSettings {
    /// The username/password form of the built-in user store.
    pub local_users: bool,
    /// External OpenID providers ("Sign in with …").
    pub providers: Vec<ProviderSettings>,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            local_users: true,
            providers: Vec::new(),
        }
    }
}

/// One external OpenID provider; we are its confidential client.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Identifier (links are stored under it).
    pub name: String,
    /// Button text.
    pub display_name: String,
    /// Issuer; discovery is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Our client id there.
    pub client_id: String,
    /// Our client secret there (`client_secret_basic`).
    pub client_secret: String,
    /// Scopes asked for (contains `openid`).
    pub scopes: Vec<String>,
    /// Local claim ← provider ID token claim.
    pub claims: Vec<(String, String)>,
    /// Accepted ID token algorithms; empty: discovery's, intersected with the asymmetric ones.
    pub algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}
