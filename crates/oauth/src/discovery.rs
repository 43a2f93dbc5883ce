//! Discovery: RFC 8414 authorization server metadata (also served as the OpenID Connect
//! discovery document) and the JWKS with the published signing keys.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::server::AuthorizationServer;

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub(crate) async fn metadata(State(server): State<Arc<AuthorizationServer>>) -> Response {
    let s = &server.settings;
    let algs: Vec<&str> = vec![portcullis_jose::alg_name_of(s.signing.algorithm)];
    let mtls = s.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    let mut auth_methods = vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    if mtls {
        auth_methods.push("tls_client_auth");
    }
    let assertion_algs: Vec<&str> = crate::client_assertion::ALGORITHMS
        .iter()
        .map(|a| portcullis_jose::alg_name_of(*a))
        .collect();
    let body = serde_json::json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/oauth2/authorize"),
        "token_endpoint": s.endpoint("/oauth2/token"),
        "userinfo_endpoint": s.endpoint("/oauth2/userinfo"),
        "jwks_uri": s.endpoint("/oauth2/jwks"),
        "introspection_endpoint": s.endpoint("/oauth2/introspect"),
        "revocation_endpoint": s.endpoint("/oauth2/revoke"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "email", "email_verified"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "tls_client_certificate_bound_access_tokens": mtls,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "access_token_signing_alg_values_supported": algs,
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": portcullis_jose::dpop::DPOP_ALGORITHMS
            .iter()
            .map(|a| portcullis_jose::alg_name_of(*a))
            .collect::<Vec<_>>(),
    });
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `GET /oauth2/jwks`: next, active and retired public keys.
pub(crate) async fn jwks(State(server): State<Arc<AuthorizationServer>>) -> Response {
    let keys = server.keys.current();
    // Short enough that a verifier sees a next key long before it signs.
    let max_age = (server.settings.signing.publish_ahead.as_secs() / 4).clamp(1, 300);
    let mut resp = keys.jwks.clone().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}
