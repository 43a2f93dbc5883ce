//! Login federation: the login page can send the user to an external OpenID provider instead
//! of (or beside) the built-in user store. We are that provider's confidential client:
//!
//! 1. [`start`] (the login page's "Sign in with …" button, `step=federate`): the login ticket
//!    is opened (so the client's authorize request was already validated), the provider's
//!    discovery document read (cached), and the browser sent to its `authorization_endpoint`
//!    with `response_type=code`, our callback, the scopes, a `nonce`, PKCE S256, and as `state`
//!    a MAC'd ticket ([`crate::ticket`], 10 minutes) carrying the original authorize request.
//!    The PKCE verifier is not in the ticket (the ticket is readable, only tamper-proof): it is
//!    derived from the ticket's random id with the master key.
//! 2. [`callback`] (`GET /oauth2/federation/callback`): `state` must open (else an error page,
//!    since nothing says where to redirect), `iss` must equal the provider's (RFC 9207; required
//!    when its metadata announces it), the code is exchanged at the token endpoint
//!    (`client_secret_basic`, bounded in time and size), and the ID token verified with the
//!    provider's JWKS through crates/jose: issuer pinned, `aud` contains our client id, `azp`
//!    equal to it when present (required with several audiences), `exp`/`iat` with leeway,
//!    `nonce` equal to ours, algorithm pinned. The local user linked to `(provider, sub)` is
//!    found or created with the mapped claims, and the consent page follows as for a password
//!    login. The rest (code, tokens, pairwise `sub`, userinfo) is unchanged.
//!
//! Once `state` is valid the client's redirect URI is known to be registered, so failures go
//! back to it: `access_denied` when the user refused at the provider, `server_error` for
//! anything else. No state survives a failure: nothing is stored before the ID token passed.

mod http;
mod provider;
pub(crate) mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::http::{HeaderValue, StatusCode};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_store::Actor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use self::http::JsonClient;
use self::provider::Provider;
use self::settings::LoginSettings;
use crate::authorize::{self, AuthRequest};
use crate::html;
use crate::mint::{random_id, unix};
use crate::params::Params;
use crate::server::AuthorizationServer;
use crate::ticket;

/// Path of our redirect URI at the providers (below the issuer).
pub const CALLBACK_PATH: &str = "/oauth2/federation/callback";
/// How long the user may take at the provider.
const STATE_TTL: Duration = Duration::from_secs(600);
/// Ticket purpose of `state`.
const PURPOSE: &str = "federation";

/// The providers of this server.
pub(crate) struct Federation {
    login: LoginSettings,
    providers: HashMap<String, Provider>,
    client: Result<JsonClient, String>,
}

impl Federation {
    pub(crate) fn new(login: &LoginSettings) -> Self {
        Self {
            login: login.clone(),
            providers: login
                .providers
                .iter()
                .map(|p| (p.name.clone(), Provider::new(p.clone())))
                .collect(),
            client: JsonClient::new(),
        }
    }

    /// Whether the password form is offered.
    pub(crate) fn local_users(&self) -> bool {
        self.login.local_users
    }

    /// `(name, display name)` of each provider, in config order.
    pub(crate) fn choices(&self) -> Vec<(&str, &str)> {
        self.login
            .providers
            .iter()
            .map(|p| (p.name.as_str(), p.display_name.as_str()))
            .collect()
    }
}

/// What `state` carries through the provider.
#[derive(Serialize, Deserialize)]
struct FederationState {
    /// Random; the PKCE verifier is derived from it.
    id: String,
    provider: String,
    nonce: String,
    request: AuthRequest,
}

/// The PKCE verifier of a flow: a keyed hash of its id, so `state` need not carry it.
fn verifier(server: &AuthorizationServer, id: &str) -> String {
    let h = server
        .keyring
        .hash_credential(&format!("portcullis/federation/pkce\x00{id}"));
    URL_SAFE_NO_PAD.encode(h.as_bytes())
}

fn callback_uri(server: &AuthorizationServer) -> String {
    server.settings.endpoint(CALLBACK_PATH)
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        ::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

/// `POST /oauth2/authorize` with `step=federate`: off to the provider.
pub(crate) async fn start(server: &AuthorizationServer, form: &Params) -> Response {
    let Some(t) = form.get("ticket") else {
        return html::error_page("the form is malformed");
    };
    let Some(request) = ticket::open::<AuthRequest>(&server.keyring, "login", t) else {
        return html::error_page("the sign-in page expired; start again from the application");
    };
    let Ok(client) = server.store.oauth_client(&request.client_id).await else {
        return html::error_page("unknown client");
    };
    let fed = &server.federation;
    let Some(provider) = form.get("provider").and_then(|p| fed.providers.get(p)) else {
        return html::error_page("unknown sign-in provider");
    };
    let unavailable = |what: &str| {
        tracing::warn!(provider = %provider.settings.name, what, "federated sign-in unavailable");
        html::login(
            StatusCode::SERVICE_UNAVAILABLE,
            &client.app_name,
            t,
            Some(&format!(
                "{} cannot be reached right now. Try again later.",
                provider.settings.display_name
            )),
            fed,
        )
    };
    let Ok(http) = &fed.client else {
        return unavailable("no HTTP client");
    };
    let Ok(meta) = provider.metadata(http).await else {
        return unavailable("discovery");
    };
    let (Ok(id), Ok(nonce)) = (random_id("fed"), random_id("n")) else {
        return html::error_page("the authorization server failed");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier(server, &id).as_bytes()));
    let state = ticket::seal(
        &server.keyring,
        PURPOSE,
        FederationState {
            id,
            provider: provider.settings.name.clone(),
            nonce: nonce.clone(),
            request,
        },
        STATE_TTL,
    );
    let Ok(mut url) = url::Url::parse(&meta.authorization_endpoint) else {
        return unavailable("authorization_endpoint");
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.settings.client_id)
        .append_pair("redirect_uri", &callback_uri(server))
        .append_pair("scope", &provider.settings.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    no_store(Redirect::to(url.as_str()).into_response())
}

/// Why a callback failed after `state` was valid (logged; the client sees `server_error`).
enum Failure {
    /// The user refused (or is disabled).
    Denied,
    /// The provider failed or could not be reached.
    Provider(String),
    /// A check of the response failed.
    Check(&'static str),
    /// The ID token was refused by the verifier.
    Token(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied => f.write_str("access denied"),
            Self::Provider(m) => write!(f, "provider: {m}"),
            Self::Check(m) => write!(f, "check: {m}"),
            Self::Token(m) => write!(f, "id_token: {m}"),
        }
    }
}

/// `GET /oauth2/federation/callback`.
pub(crate) async fn callback(
    State(server): State<Arc<AuthorizationServer>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return html::error_page("the request is malformed (a parameter is repeated)");
    };
    let Some(st) = params
        .get("state")
        .and_then(|s| ticket::open::<FederationState>(&server.keyring, PURPOSE, s))
    else {
        return html::error_page(
            "the sign-in expired or its state is invalid; start again from the application",
        );
    };
    let Some(provider) = server.federation.providers.get(&st.provider) else {
        return html::error_page("unknown sign-in provider");
    };
    match finish(&server, provider, &st, &params).await {
        Ok(resp) => resp,
        Err(failure) => {
            tracing::warn!(provider = %provider.settings.name, reason = %failure,
                "federated sign-in failed");
            let (error, desc) = match failure {
                Failure::Denied => ("access_denied", "the user denied access"),
                _ => (
                    "server_error",
                    "signing in with the identity provider failed",
                ),
            };
            authorize::error_redirect(
                &server,
                &st.request.redirect_uri,
                st.request.state.as_deref(),
                error,
                desc,
            )
        }
    }
}

async fn finish(
    server: &AuthorizationServer,
    provider: &Provider,
    st: &FederationState,
    params: &Params,
) -> Result<Response, Failure> {
    let s = &provider.settings;
    let http = server
        .federation
        .client
        .as_ref()
        .map_err(|e| Failure::Provider(e.clone()))?;
    let meta = provider.metadata(http).await.map_err(Failure::Provider)?;
    // RFC 9207: a response from another provider (mix-up) is refused.
    match params.get("iss") {
        Some(iss) if iss.trim_end_matches('/') != s.issuer => {
            return Err(Failure::Check("iss differs from the provider's issuer"));
        }
        None if meta.iss_in_response => return Err(Failure::Check("iss is missing")),
        _ => {}
    }
    if let Some(error) = params.get("error") {
        return Err(if error == "access_denied" {
            Failure::Denied
        } else {
            Failure::Provider(format!("error={error}"))
        });
    }
    let code = params
        .get("code")
        .ok_or(Failure::Check("code is missing"))?;

    let form = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
        form(code),
        form(&callback_uri(server)),
        verifier(server, &st.id)
    );
    // RFC 6749 §2.3.1: id and secret form-encoded before Basic.
    let basic = STANDARD.encode(format!("{}:{}", form(&s.client_id), form(&s.client_secret)));
    let mut auth = HeaderValue::from_str(&format!("Basic {basic}"))
        .map_err(|_| Failure::Provider("client credentials".into()))?;
    auth.set_sensitive(true);
    let (answer, status) = http
        .post_form(&meta.token_endpoint, auth, body)
        .await
        .map_err(|e| Failure::Provider(format!("token endpoint: {e}")))?;
    if status != 200 {
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("?");
        return Err(Failure::Provider(format!(
            "token endpoint: status {status}, error={error}"
        )));
    }
    let id_token = answer
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or(Failure::Check("no id_token in the token response"))?;
    let verified = meta
        .verifier
        .verify(id_token)
        .await
        .map_err(|e| Failure::Token(e.to_string()))?;
    let claims = &verified.claims;
    let nonce_ok = claims
        .get("nonce")
        .and_then(Value::as_str)
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(st.nonce.as_bytes())));
    if !nonce_ok {
        return Err(Failure::Check("nonce differs"));
    }
    // OpenID Connect Core §3.1.3.7: azp is our client id when present, and must be present
    // when the token has several audiences.
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        Some(Value::String(azp)) if *azp == s.client_id => {}
        None if !several => {}
        _ => return Err(Failure::Check("azp is not our client id")),
    }
    let sub = verified
        .subject()
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or(Failure::Check("sub is empty or too long"))?;
    let mut mapped = Map::new();
    for (local, remote) in &s.claims {
        if let Some(v) = claims.get(remote).filter(|v| !v.is_null()) {
            mapped.insert(local.clone(), v.clone());
        }
    }
    let now = unix(SystemTime::now());
    let auth_time = claims
        .get("auth_time")
        .and_then(Value::as_u64)
        .filter(|t| *t <= now)
        .unwrap_or(now);

    let Ok(client) = server.store.oauth_client(&st.request.client_id).await else {
        return Ok(html::error_page("unknown client"));
    };
    let actor = Actor(format!("federation:{}", s.name));
    let user = server
        .store
        .link_federated_user(&actor, &s.name, sub, &mapped)
        .await
        .map_err(|e| Failure::Provider(format!("store: {e}")))?;
    if user.disabled {
        return Err(Failure::Denied);
    }
    let shown = ["email", "name", "preferred_username"]
        .iter()
        .find_map(|c| mapped.get(*c).and_then(Value::as_str))
        .map_or_else(|| format!("{} ({})", sub, s.display_name), str::to_owned);
    Ok(authorize::consent_page(
        server,
        &client.app_name,
        st.request.clone(),
        user.id,
        shown,
        auth_time,
    ))
}
