//! The OAuth 2.0 / OpenID Connect authorization server of Portcullis, and the token
//! resolution the gateway's OAuth policies use.
//!
//! - Apps are the clients: a credential's consumer key is the `client_id`, its consumer secret
//!   the `client_secret`; scopes come from the API products the credential is **approved**
//!   for, and asking for any other scope is `invalid_scope` ([`grant`]).
//! - Grants: client_credentials, authorization_code with PKCE S256 (login and consent pages
//!   of the built-in user store, exact redirect URIs, single-use codes, `iss` in the response),
//!   refresh_token with rotation and replay detection; OpenID Connect ID tokens with `nonce`,
//!   `/oauth2/userinfo`, pairwise subjects per sector.
//! - Endpoints ([`AuthorizationServer::router`]): `/oauth2/authorize`, `/oauth2/token`,
//!   `/oauth2/userinfo`, `/oauth2/introspect`
//!   (RFC 7662), `/oauth2/revoke` (RFC 7009), `/oauth2/jwks`,
//!   `/.well-known/oauth-authorization-server` (RFC 8414) and
//!   `/.well-known/openid-configuration`, on a listener of their own.
//! - Access tokens are opaque (256 random bits, stored only as a keyed hash) or RFC 9068 JWTs
//!   signed with a rotating key ([`keys`]), chosen per API product (`token_format` attribute).
//! - DPoP (RFC 9449): a `DPoP` proof at the token endpoint binds the tokens to its key
//!   (`token_type: DPoP`, `cnf.jkt`); refreshing a bound family needs a proof by that key.
//! - [`LocalTokens`] resolves presented tokens for the gateway with a bounded cache, so the
//!   request path does not touch the database once a token is known.
//!
//! See docs/oauth.md.

mod auth_method;
mod authorize;
mod client_assertion;
mod client_auth;
mod code_grant;
mod discovery;
mod dpop;
mod error;
mod federation;
pub mod grant;
mod html;
mod introspect;
pub mod keys;
mod mint;
pub mod mtls;
mod outbound;
pub mod pairwise;
mod params;
mod pkce;
mod remote;
mod resolver;
mod revoke;
mod server;
mod settings;
mod ticket;
mod token;
mod userinfo;
mod writer;

pub use auth_method::AUTH_METHOD_ATTRIBUTE;
pub use client_auth::{AuthMethod, CLIENT_CACHE_TTL};
pub use error::OAuthError;
pub use federation::CALLBACK_PATH as FEDERATION_CALLBACK_PATH;
pub use federation::settings::{LoginSettings, ProviderSettings};
pub use keys::{KeySnapshot, SigningKeys};
pub use mint::{ACCESS_TOKEN_MARKER, CODE_MARKER, REFRESH_TOKEN_MARKER};
pub use portcullis_jose::Algorithm;
pub use remote::RemoteIntrospection;
pub use resolver::{
    DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_TTL, Inactive, LocalTokens, ResolveError, TokenInfo,
};
pub use server::{AuthorizationServer, serve, tls_acceptor};
pub use settings::{Settings, SigningSettings, TlsSettings, TokenFormat};
