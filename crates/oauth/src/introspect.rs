//! `POST /oauth2/introspect` (RFC 7662): any authenticated client may ask about a token it
//! holds (a 256-bit token cannot be guessed, so this reveals nothing new); an unknown, expired,
//! revoked or rotated token, or one whose client was revoked, is `{"active": false}` and
//! nothing else.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use portcullis_store::TokenKind;
use serde_json::{Value, json};

use crate::client_auth::authenticate;
use crate::error::{OAuthError, no_store};
use crate::mint::unix;
use crate::mtls::PeerCertificate;
use crate::params::Params;
use crate::server::AuthorizationServer;

pub(crate) async fn handle(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    peer: Option<Extension<PeerCertificate>>,
    body: Bytes,
) -> Response {
    let peer = peer.as_ref().map(|Extension(p)| p);
    match introspect(&server, &headers, peer, &body).await {
        Ok(v) => {
            let mut resp = Json(v).into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn introspect(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    peer: Option<&PeerCertificate>,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = Params::from_form(headers, body)?;
    authenticate(
        server.store.as_ref(),
        &server.clients,
        headers,
        &params,
        peer,
    )
    .await?;
    let token = params.require("token", "token is required")?;
    let hash = server.keyring.hash_credential(token);
    let record = server
        .store
        .find_token(&hash)
        .await
        .map_err(|e| OAuthError::from_store(&e))?;
    let Some(r) = record.filter(|r| r.is_active(SystemTime::now())) else {
        return Ok(json!({"active": false}));
    };
    let mut out = json!({
        "active": true,
        "scope": r.scopes.join(" "),
        "client_id": r.credential_id,
        "sub": r.subject.clone().unwrap_or_else(|| r.credential_id.clone()),
        "aud": r.products,
        "iss": server.settings.issuer,
        "jti": r.id,
        "iat": unix(r.issued_at),
        "nbf": unix(r.issued_at),
        "exp": unix(r.expires_at),
    });
    if let Some(obj) = out.as_object_mut() {
        if r.kind == TokenKind::Access {
            let token_type = if r.cnf_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            };
            obj.insert("token_type".into(), token_type.into());
        }
        let mut cnf = serde_json::Map::new();
        if let Some(x5t) = &r.cnf_x5t {
            cnf.insert("x5t#S256".into(), x5t.clone().into());
        }
        if let Some(jkt) = &r.cnf_jkt {
            cnf.insert("jkt".into(), jkt.clone().into());
        }
        if !cnf.is_empty() {
            obj.insert("cnf".into(), Value::Object(cnf));
        }
        // `_`-prefixed claims are private bookkeeping (the local user id), never published.
        for (k, v) in r.claims.iter().filter(|(k, _)| !k.starts_with('_')) {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(out)
}
