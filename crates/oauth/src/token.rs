//! `POST /oauth2/token` (RFC 6749 §3.2): authenticates the client, then dispatches on
//! `grant_type`. Only the grants RFC 9700 keeps are implemented: no implicit, no password.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use portcullis_store::{NewToken, OAuthClient, TokenKind};
use serde_json::{Map, Value, json};

use crate::client_auth::authenticate;
use crate::code_grant;
use crate::dpop;
use crate::error::{OAuthError, no_store};
use crate::grant::{self, Grant};
use crate::mint::{ACCESS_TOKEN_MARKER, Issue, random_id, random_secret, store_failed};
use crate::mtls::PeerCertificate;
use crate::params::Params;
use crate::server::AuthorizationServer;
use crate::settings::TokenFormat;

pub(crate) async fn handle(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    peer: Option<Extension<PeerCertificate>>,
    body: Bytes,
) -> Response {
    let peer = peer.as_ref().map(|Extension(p)| p);
    match dispatch(&server, &headers, peer, &body).await {
        Ok(json) => {
            let mut resp = Json(json).into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    peer: Option<&PeerCertificate>,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = Params::from_form(headers, body)?;
    let grant_type = params.require("grant_type", "grant_type is required")?;
    let (client, _method, presented_id) = authenticate(
        server.store.as_ref(),
        &server.clients,
        headers,
        &params,
        peer,
    )
    .await?;
    // RFC 8705 §3: a verified client certificate binds the access tokens, whatever the
    // authentication method.
    let x5t = peer.map(PeerCertificate::x5t);
    // After client authentication: only authenticated clients reach the replay cache.
    let proof = dpop::token_request_proof(&server.dpop, &server.settings, headers)?;
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let mut body = match grant_type {
        "client_credentials" => client_credentials(server, &client, &params, x5t, jkt).await,
        "authorization_code" => {
            code_grant::authorization_code(server, &client, &presented_id, &params, x5t, jkt).await
        }
        "refresh_token" => {
            code_grant::refresh_token(server, &client, &params, x5t, proof.as_ref()).await
        }
        _ => Err(OAuthError::unsupported_grant_type()),
    }?;
    // With a proof every token of the response is bound to its key (RFC 9449 §5).
    if proof.is_some()
        && let Some(obj) = body.as_object_mut()
    {
        obj.insert("token_type".into(), "DPoP".into());
    }
    Ok(body)
}

/// RFC 6749 §4.4: a token for the client itself, no refresh token.
async fn client_credentials(
    server: &AuthorizationServer,
    client: &OAuthClient,
    params: &Params,
    x5t: Option<&str>,
    cnf_jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let requested = grant::parse_scope(params.get("scope"))?;
    let grant = grant::decide(client, requested.as_deref())?;
    let family = random_id("fam")?;
    let issue = Issue {
        credential_id: &client.credential_id,
        subject: None,
        user_id: None,
        scopes: &grant.scopes,
        products: &grant.products,
        family_id: &family,
        parent_id: None,
        code_id: None,
        cnf_x5t: x5t,
        cnf_jkt,
        now: SystemTime::now(),
        claims: Map::new(),
    };
    let (access, record) = access_token(server, client, &grant, &issue)?;
    server
        .writer
        .store(vec![record])
        .await
        .map_err(|e| store_failed(&e))?;
    Ok(token_response(server, &access, None, &grant.scopes))
}

/// Mints the access token of an issuance in the format its products ask for.
pub(crate) fn access_token(
    server: &AuthorizationServer,
    client: &OAuthClient,
    grant: &Grant,
    issue: &Issue<'_>,
) -> Result<(zeroize::Zeroizing<String>, NewToken), OAuthError> {
    let lifetime = server.settings.access_token_lifetime;
    let id = random_id("tok")?;
    let format = grant::token_format(client, grant, server.settings.access_token_format);
    let token = match format {
        TokenFormat::Opaque => random_secret(ACCESS_TOKEN_MARKER)?,
        TokenFormat::Jwt => {
            let keys = server.keys.current();
            let signer = keys
                .active
                .as_ref()
                .ok_or(OAuthError::temporarily_unavailable())?;
            let claims = issue.jwt_claims(&server.settings.issuer, &id, lifetime);
            zeroize::Zeroizing::new(
                signer
                    .sign_with_type("at+jwt", &claims)
                    .map_err(|_| OAuthError::server_error())?,
            )
        }
    };
    let record = issue.record(
        &server.keyring,
        id,
        &token,
        TokenKind::Access,
        format,
        lifetime,
    );
    Ok((token, record))
}

/// The RFC 6749 §5.1 success body.
pub(crate) fn token_response(
    server: &AuthorizationServer,
    access: &str,
    refresh: Option<&str>,
    scopes: &[String],
) -> Value {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": server.settings.access_token_lifetime.as_secs(),
        "scope": scopes.join(" "),
    });
    if let (Some(r), Some(obj)) = (refresh, body.as_object_mut()) {
        obj.insert("refresh_token".into(), r.into());
    }
    body
}
