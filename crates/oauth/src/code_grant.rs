//! The authorization_code grant (with PKCE) and the refresh_token grant, and the OpenID
//! Connect ID token.
//!
//! - A code is spent on its first presentation, whatever happens next (a wrong verifier burns
//!   it); presenting it again revokes every token issued from it (RFC 9700 §4.5).
//! - Codes are bound to their client, their exact redirect URI and their PKCE challenge.
//! - Refresh tokens rotate on every use; replaying a used one revokes its whole family
//!   (RFC 9700 §4.14), and of concurrent uses exactly one succeeds (the store decides).
//! - Scopes are re-checked against the client's current approvals, so revoking a product's
//!   approval stops new tokens for its scopes.

use std::time::SystemTime;

use portcullis_jose::DpopProof;
use portcullis_store::{CodeUse, NewToken, OAuthClient, Rotation, StoreError, TokenKind};
use serde_json::{Map, Value, json};

use crate::authorize::OIDC_SCOPES;
use crate::dpop;
use crate::error::OAuthError;
use crate::grant::{self, Grant};
use crate::mint::{Issue, REFRESH_TOKEN_MARKER, random_id, random_secret, unix};
use crate::params::Params;
use crate::pkce;
use crate::server::AuthorizationServer;
use crate::settings::TokenFormat;
use crate::token::{access_token, token_response};

/// Claim in a token's stored (never published) claims naming the local user.
pub(crate) const USER_CLAIM: &str = "_uid";

/// The product scopes of `scopes` must still be granted to `client`.
fn still_granted(
    client: &OAuthClient,
    scopes: &[String],
    products: &[String],
) -> Result<Grant, OAuthError> {
    let allowed = client.allowed_scopes();
    let ok = scopes
        .iter()
        .all(|s| OIDC_SCOPES.contains(&s.as_str()) || allowed.contains(s.as_str()));
    if !ok {
        return Err(OAuthError::invalid_grant(
            "a scope of this grant is no longer approved for the client",
        ));
    }
    Ok(Grant {
        scopes: scopes.to_vec(),
        products: products
            .iter()
            .filter(|p| client.products.iter().any(|cp| &cp.name == *p))
            .cloned()
            .collect(),
    })
}

struct Minted {
    access: zeroize::Zeroizing<String>,
    refresh: zeroize::Zeroizing<String>,
    records: Vec<NewToken>,
}

fn mint_pair(
    server: &AuthorizationServer,
    client: &OAuthClient,
    grant: &Grant,
    issue: &Issue<'_>,
) -> Result<Minted, OAuthError> {
    let (access, a) = access_token(server, client, grant, issue)?;
    let refresh = random_secret(REFRESH_TOKEN_MARKER)?;
    let r = issue.record(
        &server.keyring,
        random_id("tok")?,
        &refresh,
        TokenKind::Refresh,
        TokenFormat::Opaque,
        server.settings.refresh_token_lifetime,
    );
    Ok(Minted {
        access,
        refresh,
        records: vec![a, r],
    })
}

/// The ID token (OpenID Connect Core §2) for `presented_client_id` (the `client_id` the client
/// itself uses, its audience).
fn id_token(
    server: &AuthorizationServer,
    presented_client_id: &str,
    subject: &str,
    nonce: Option<&str>,
    auth_time: SystemTime,
    user_claims: &Map<String, Value>,
    scopes: &[String],
) -> Result<String, OAuthError> {
    let now = SystemTime::now();
    let mut claims = json!({
        "iss": server.settings.issuer,
        "sub": subject,
        "aud": presented_client_id,
        "azp": presented_client_id,
        "iat": unix(now),
        "exp": unix(now + server.settings.id_token_lifetime),
        "auth_time": unix(auth_time),
    });
    if let Some(obj) = claims.as_object_mut() {
        if let Some(n) = nonce {
            obj.insert("nonce".into(), n.into());
        }
        for (k, v) in released_claims(user_claims, scopes) {
            obj.entry(k).or_insert(v);
        }
    }
    let keys = server.keys.current();
    let signer = keys
        .active
        .as_ref()
        .ok_or(OAuthError::temporarily_unavailable())?;
    signer.sign(&claims).map_err(|_| OAuthError::server_error())
}

/// The user claims the granted scopes release (OpenID Connect Core §5.4).
pub(crate) fn released_claims(user: &Map<String, Value>, scopes: &[String]) -> Map<String, Value> {
    const PROFILE: &[&str] = &[
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    ];
    const EMAIL: &[&str] = &["email", "email_verified"];
    let has = |s: &str| scopes.iter().any(|x| x == s);
    user.iter()
        .filter(|(k, _)| {
            (has("profile") && PROFILE.contains(&k.as_str()))
                || (has("email") && EMAIL.contains(&k.as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `grant_type=authorization_code`.
pub(crate) async fn authorization_code(
    server: &AuthorizationServer,
    client: &OAuthClient,
    presented_client_id: &str,
    params: &Params,
    x5t: Option<&str>,
    cnf_jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let code = params.require("code", "code is required")?;
    let redirect_uri = params.require("redirect_uri", "redirect_uri is required")?;
    let verifier = params.require("code_verifier", "code_verifier is required (PKCE)")?;
    let store_err = |e: StoreError| OAuthError::from_store(&e);
    let hash = server.keyring.hash_credential(code);
    let record = match server
        .store
        .consume_code(&hash, SystemTime::now())
        .await
        .map_err(store_err)?
    {
        CodeUse::First(r) => r,
        CodeUse::Replayed { revoked, family_id } => {
            tracing::warn!(
                revoked,
                "authorization code replayed; its tokens are revoked"
            );
            server.tokens.revoke_family(&family_id);
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        CodeUse::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
    };
    if record.credential_id != client.credential_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !pkce::verify(verifier, &record.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let grant = still_granted(client, &record.scopes, &record.products)?;
    let now = SystemTime::now();
    let mut claims = Map::new();
    claims.insert("auth_time".into(), unix(record.auth_time).into());
    let issue = Issue {
        credential_id: &client.credential_id,
        subject: Some(&record.subject),
        user_id: Some(&record.user_id),
        scopes: &grant.scopes,
        products: &grant.products,
        family_id: &record.family_id,
        parent_id: None,
        code_id: Some(&record.id),
        cnf_x5t: x5t,
        cnf_jkt,
        now,
        claims,
    };
    let minted = mint_pair(server, client, &grant, &issue)?;
    match server
        .store
        .store_code_tokens(&record.id, &minted.records)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        Err(e) => return Err(store_err(e)),
    }
    let mut body = token_response(server, &minted.access, Some(&minted.refresh), &grant.scopes);
    if grant.scopes.iter().any(|s| s == "openid") {
        let user = server
            .store
            .get_oauth_user(&record.user_id)
            .await
            .map_err(store_err)?;
        let idt = id_token(
            server,
            presented_client_id,
            &record.subject,
            record.nonce.as_deref(),
            record.auth_time,
            &user.claims,
            &grant.scopes,
        )?;
        if let Some(obj) = body.as_object_mut() {
            obj.insert("id_token".into(), idt.into());
        }
    }
    Ok(body)
}

/// `grant_type=refresh_token`: rotation with replay detection.
pub(crate) async fn refresh_token(
    server: &AuthorizationServer,
    client: &OAuthClient,
    params: &Params,
    x5t: Option<&str>,
    proof: Option<&DpopProof>,
) -> Result<Value, OAuthError> {
    let presented = params.require("refresh_token", "refresh_token is required")?;
    let store_err = |e: StoreError| OAuthError::from_store(&e);
    let hash = server.keyring.hash_credential(presented);
    let old = server
        .store
        .find_token(&hash)
        .await
        .map_err(store_err)?
        .filter(|r| r.kind == TokenKind::Refresh && r.credential_id == client.credential_id)
        .ok_or(OAuthError::invalid_grant("the refresh token is invalid"))?;
    if old.revoked_at.is_some() || old.expires_at <= SystemTime::now() {
        return Err(OAuthError::invalid_grant(
            "the refresh token is invalid or expired",
        ));
    }
    dpop::check_refresh_binding(old.cnf_jkt.as_deref(), proof)?;
    let scopes = match grant::parse_scope(params.get("scope"))? {
        None => old.scopes.clone(),
        Some(req) => {
            // RFC 6749 §6: a narrower scope only.
            if req.iter().any(|s| !old.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope());
            }
            req
        }
    };
    let grant = still_granted(client, &scopes, &old.products)?;
    let user_id = old
        .claims
        .get(USER_CLAIM)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut claims = old.claims.clone();
    claims.remove(USER_CLAIM);
    let issue = Issue {
        credential_id: &client.credential_id,
        subject: old.subject.as_deref(),
        user_id: user_id.as_deref(),
        scopes: &grant.scopes,
        products: &grant.products,
        family_id: &old.family_id,
        parent_id: Some(&old.id),
        code_id: old.code_id.as_deref(),
        // The new tokens are bound to the certificate of this request (RFC 8705 §3).
        cnf_x5t: x5t,
        // A proof binds the new tokens to its key (the same key, for a bound family).
        cnf_jkt: proof.map(|p| p.jkt.as_str()).or(old.cnf_jkt.as_deref()),
        now: SystemTime::now(),
        claims,
    };
    let minted = mint_pair(server, client, &grant, &issue)?;
    match server
        .store
        .rotate_refresh_token(&old.id, &minted.records)
        .await
        .map_err(store_err)?
    {
        Rotation::Rotated => Ok(token_response(
            server,
            &minted.access,
            Some(&minted.refresh),
            &grant.scopes,
        )),
        Rotation::Replayed { revoked } => {
            tracing::warn!(revoked, "refresh token replayed; its family is revoked");
            server.tokens.revoke_family(&old.family_id);
            Err(OAuthError::invalid_grant(
                "the refresh token was already used",
            ))
        }
    }
}
