//! `POST /oauth2/revoke` (RFC 7009): the client revokes a token it was issued. Revoking a
//! refresh token revokes its whole family (every access and refresh token descending from the
//! same grant, §2.1); revoking an access token revokes just that token. The answer is 200 for
//! unknown tokens and for tokens of other clients too, so the endpoint is no oracle.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use portcullis_store::TokenKind;

use crate::client_auth::authenticate;
use crate::error::{OAuthError, no_store};
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
    match revoke(&server, &headers, peer, &body).await {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    peer: Option<&PeerCertificate>,
    body: &[u8],
) -> Result<(), OAuthError> {
    let params = Params::from_form(headers, body)?;
    let (client, _, _) = authenticate(
        server.store.as_ref(),
        &server.clients,
        headers,
        &params,
        peer,
    )
    .await?;
    let token = params.require("token", "token is required")?;
    let hash = server.keyring.hash_credential(token);
    let store_err = |e: portcullis_store::StoreError| OAuthError::from_store(&e);
    let Some(record) = server.store.find_token(&hash).await.map_err(store_err)? else {
        return Ok(());
    };
    if record.credential_id != client.credential_id {
        return Ok(());
    }
    let family = record.kind == TokenKind::Refresh;
    server
        .store
        .revoke_token(&hash, &client.credential_id, family)
        .await
        .map_err(store_err)?;
    server.tokens.evict(&hash);
    if family {
        server.tokens.revoke_family(&record.family_id);
    }
    Ok(())
}
