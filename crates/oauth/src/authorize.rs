//! `/oauth2/authorize` (RFC 6749 §4.1 with RFC 9700 defaults): the authorization code flow's
//! front channel, with the built-in user store's login page and a consent page.
//!
//! Order of checks matters: until the client and its redirect URI are known to match exactly
//! (byte for byte against the app's `callback_urls`: no prefix, case, trailing-slash, port or
//! query variations), errors are shown to the user and **never** redirected (an open redirector
//! otherwise). After that, errors go back to the client with `state` and `iss` (RFC 9207).
//! PKCE S256 is required for every client; only `response_type=code` exists (no implicit).
//! The request is carried through login and consent in signed tickets (see [`crate::ticket`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use http::HeaderMap;
use portcullis_store::{NewCode, OAuthClient, StoreError};
use serde::{Deserialize, Serialize};

use crate::grant;
use crate::html;
use crate::mint::{CODE_MARKER, random_id, random_secret};
use crate::pairwise;
use crate::params::Params;
use crate::pkce;
use crate::server::AuthorizationServer;
use crate::ticket;

/// Scopes of OpenID Connect itself, granted by the user's consent rather than by products.
pub(crate) const OIDC_SCOPES: &[&str] = &["openid", "profile", "email"];
/// How long the login page may stay open.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// How long the consent page may stay open.
const CONSENT_TTL: Duration = Duration::from_secs(300);

/// A validated authorization request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) products: Vec<String>,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
}

#[derive(Serialize, Deserialize)]
struct Consent {
    request: AuthRequest,
    user_id: String,
    username: String,
    auth_time: u64,
}

/// The redirect back to the client with `params`, `state` and `iss` appended.
fn back(
    server: &AuthorizationServer,
    req_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = url::Url::parse(req_uri) else {
        return html::error_page("the redirect URI is not a valid URL");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &server.settings.issuer);
    }
    let mut resp = Redirect::to(url.as_str()).into_response();
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// An error redirect to a client whose redirect URI was validated (login federation's callback).
pub(crate) fn error_redirect(
    server: &AuthorizationServer,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    desc: &str,
) -> Response {
    back(
        server,
        redirect_uri,
        state,
        &[("error", error), ("error_description", desc)],
    )
}

fn redirect_error(server: &AuthorizationServer, r: &Partial, error: &str, desc: &str) -> Response {
    back(
        server,
        &r.redirect_uri,
        r.state.as_deref(),
        &[("error", error), ("error_description", desc)],
    )
}

struct Partial {
    redirect_uri: String,
    state: Option<String>,
}

/// `GET /oauth2/authorize`.
pub(crate) async fn get(
    State(server): State<Arc<AuthorizationServer>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return html::error_page("the request is malformed (a parameter is repeated)");
    };
    let Some(client_id) = params.get("client_id") else {
        return html::error_page("client_id is missing");
    };
    let client = match server.store.oauth_client(client_id).await {
        Ok(c) => c,
        Err(StoreError::Unauthorized | StoreError::NotFound { .. }) => {
            return html::error_page("unknown client");
        }
        Err(e) => {
            tracing::warn!(error = %e, "authorize: client lookup failed");
            return html::error_page("the authorization server is temporarily unavailable");
        }
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return html::error_page("redirect_uri is missing");
    };
    // RFC 9700 §4.1.3: exact string match, nothing else.
    if !client.callback_urls.iter().any(|u| u == redirect_uri) {
        return html::error_page("redirect_uri is not registered for this client");
    }
    let partial = Partial {
        redirect_uri: redirect_uri.to_owned(),
        state: params.get("state").map(str::to_owned),
    };
    match validate(&client, client_id, &params) {
        Ok(request) => {
            let t = ticket::seal(&server.keyring, "login", &request, LOGIN_TTL);
            html::login(
                http::StatusCode::OK,
                &client.app_name,
                &t,
                None,
                &server.federation,
            )
        }
        Err((error, desc)) => redirect_error(&server, &partial, error, desc),
    }
}

fn validate(
    client: &OAuthClient,
    client_id: &str,
    params: &Params,
) -> Result<AuthRequest, (&'static str, &'static str)> {
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(("invalid_request", "response_type is missing")),
    }
    let challenge = params.get("code_challenge").ok_or((
        "invalid_request",
        "PKCE is required: code_challenge is missing",
    ))?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(("invalid_request", "code_challenge_method must be S256"));
    }
    if !pkce::valid_challenge(challenge) {
        return Err((
            "invalid_request",
            "code_challenge is not a valid S256 challenge",
        ));
    }
    let requested = grant::parse_scope(params.get("scope"))
        .map_err(|_| ("invalid_scope", "a requested scope is invalid"))?
        .unwrap_or_default();
    let (oidc, product_scopes): (Vec<String>, Vec<String>) = requested
        .iter()
        .cloned()
        .partition(|s| OIDC_SCOPES.contains(&s.as_str()));
    let g = grant::decide(client, Some(&product_scopes)).map_err(|e| match e.code {
        "invalid_scope" => (
            "invalid_scope",
            "a requested scope is not granted to this client",
        ),
        _ => (
            "unauthorized_client",
            "the client is not approved for any API product",
        ),
    })?;
    let mut scopes: Vec<String> = oidc;
    scopes.extend(g.scopes);
    Ok(AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: params.get("redirect_uri").unwrap_or_default().to_owned(),
        scopes,
        products: g.products,
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: challenge.to_owned(),
    })
}

/// `POST /oauth2/authorize`: the login and consent forms.
pub(crate) async fn post(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = Params::from_form(&headers, &body) else {
        return html::error_page("the form is malformed");
    };
    match form.get("step") {
        Some("login") => login(&server, &form).await,
        Some("consent") => consent(&server, &form).await,
        Some("federate") => crate::federation::start(&server, &form).await,
        _ => html::error_page("the form is malformed"),
    }
}

async fn login(server: &AuthorizationServer, form: &Params) -> Response {
    if !server.federation.local_users() {
        return html::error_page("sign-in with a password is not offered here");
    }
    let Some(t) = form.get("ticket") else {
        return html::error_page("the form is malformed");
    };
    let Some(request) = ticket::open::<AuthRequest>(&server.keyring, "login", t) else {
        return html::error_page("the sign-in page expired; start again from the application");
    };
    // The client may have been revoked meanwhile.
    let Ok(client) = server.store.oauth_client(&request.client_id).await else {
        return html::error_page("unknown client");
    };
    let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
        return html::login(
            http::StatusCode::UNAUTHORIZED,
            &client.app_name,
            t,
            Some("Enter your username and password."),
            &server.federation,
        );
    };
    let user = match server
        .store
        .authenticate_oauth_user(username, password)
        .await
    {
        Ok(u) => u,
        Err(StoreError::Unauthorized) => {
            return html::login(
                http::StatusCode::UNAUTHORIZED,
                &client.app_name,
                t,
                Some("Wrong username or password."),
                &server.federation,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "authorize: user login failed");
            return html::error_page("the authorization server is temporarily unavailable");
        }
    };
    let shown = user.username.clone();
    consent_page(
        server,
        &client.app_name,
        request,
        user.id,
        shown,
        crate::mint::unix(SystemTime::now()),
    )
}

/// The consent page for `user_id` (shown as `shown`), who authenticated at `auth_time`
/// (password login or login federation).
pub(crate) fn consent_page(
    server: &AuthorizationServer,
    app_name: &str,
    request: AuthRequest,
    user_id: String,
    shown: String,
    auth_time: u64,
) -> Response {
    let scopes = request.scopes.clone();
    let consent = Consent {
        request,
        user_id,
        username: shown,
        auth_time,
    };
    let ct = ticket::seal(&server.keyring, "consent", &consent, CONSENT_TTL);
    html::consent(app_name, &consent.username, &scopes, &ct)
}

async fn consent(server: &AuthorizationServer, form: &Params) -> Response {
    let Some(c) = form
        .get("ticket")
        .and_then(|t| ticket::open::<Consent>(&server.keyring, "consent", t))
    else {
        return html::error_page("the consent page expired; start again from the application");
    };
    let r = &c.request;
    let partial = Partial {
        redirect_uri: r.redirect_uri.clone(),
        state: r.state.clone(),
    };
    if form.get("decision") != Some("approve") {
        return redirect_error(server, &partial, "access_denied", "the user denied access");
    }
    let Ok(client) = server.store.oauth_client(&r.client_id).await else {
        return html::error_page("unknown client");
    };
    let Ok(code) = random_secret(CODE_MARKER) else {
        return html::error_page("the authorization server failed");
    };
    let (Ok(id), Ok(family)) = (random_id("code"), random_id("fam")) else {
        return html::error_page("the authorization server failed");
    };
    let now = SystemTime::now();
    let sector = pairwise::sector(&client, &r.redirect_uri);
    let record = NewCode {
        id,
        hash: server.keyring.hash_credential(&code),
        credential_id: client.credential_id.clone(),
        subject: pairwise::subject(&server.keyring, &sector, &c.user_id),
        user_id: c.user_id.clone(),
        scopes: dedup(&r.scopes),
        products: r.products.clone(),
        redirect_uri: r.redirect_uri.clone(),
        code_challenge: r.code_challenge.clone(),
        nonce: r.nonce.clone(),
        auth_time: SystemTime::UNIX_EPOCH + Duration::from_secs(c.auth_time),
        issued_at: now,
        expires_at: now + server.settings.code_lifetime,
        family_id: family,
    };
    if let Err(e) = server.store.store_code(&record).await {
        tracing::warn!(error = %e, "authorize: storing the code failed");
        return redirect_error(
            server,
            &partial,
            "temporarily_unavailable",
            "try again later",
        );
    }
    back(
        server,
        &r.redirect_uri,
        r.state.as_deref(),
        &[("code", &code)],
    )
}

fn dedup(scopes: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    scopes
        .iter()
        .filter(|s| seen.insert(s.as_str()))
        .cloned()
        .collect()
}
