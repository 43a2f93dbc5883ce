//! `GET|POST /oauth2/userinfo` (OpenID Connect Core §5.3): the claims of the user an access
//! token with the `openid` scope was issued for, as the scopes release them, under the
//! client's pairwise subject. Errors per RFC 6750 §3.1 (`WWW-Authenticate: Bearer`).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value};

use crate::code_grant::{USER_CLAIM, released_claims};
use crate::server::AuthorizationServer;

fn challenge(status: StatusCode, error: &'static str) -> Response {
    let mut resp = status.into_response();
    let value = format!("Bearer error=\"{error}\"");
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

pub(crate) async fn handle(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let Some(token) = token else {
        return challenge(StatusCode::UNAUTHORIZED, "invalid_request");
    };
    let info = match server.tokens.resolve(&token, Duration::from_secs(0)).await {
        Ok(Ok(info)) => info,
        Ok(Err(_)) => return challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !info.scopes.iter().any(|s| s == "openid") {
        return challenge(StatusCode::FORBIDDEN, "insufficient_scope");
    }
    // The local user id is stored with the token (never published); JWTs need the lookup.
    let record = match server
        .store
        .find_token(&server.keyring.hash_credential(&token))
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let (Some(uid), Some(sub)) = (
        record.claims.get(USER_CLAIM).and_then(Value::as_str),
        record.subject.as_deref(),
    ) else {
        return challenge(StatusCode::FORBIDDEN, "insufficient_scope");
    };
    let user = match server.store.get_oauth_user(uid).await {
        Ok(u) if !u.disabled => u,
        _ => return challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
    };
    let mut out = Map::new();
    out.insert("sub".into(), sub.into());
    out.extend(released_claims(&user.claims, &record.scopes));
    let mut resp = Json(Value::Object(out)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
