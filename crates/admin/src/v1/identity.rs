//! The caller's own identity: login (the one anonymous route), logout, `GET /me`, TOTP
//! enrolment and the caller's own API tokens. Open to every role: enrolling a second factor
//! or dropping one's own session must never need more rights than one has.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_store::{AdminRole as StoreRole, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use super::requests::{ConfirmTotp, CreateToken, Login};
use super::views::{AdminRole, AdminTokenPage, AdminTokenView, AdminUserView, IssuedTokenView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::Caller;
use crate::body::{Input, RawBody};
use crate::error::ApiError;
use crate::http_util::{ApiPath, ApiQuery, PageQuery, rfc3339_opt};

/// A new login session.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginView {
    /// Bearer token for `Authorization: Bearer …` (shown once).
    pub(crate) token: String,
    /// When the session ends.
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
    /// The logged-in user.
    pub(crate) user: AdminUserView,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeView {
    /// The user.
    pub(crate) user: AdminUserView,
    /// The token of this request (session or API token).
    pub(crate) token: AdminTokenView,
    /// Effective role: the lower of the token's and the user's.
    pub(crate) role: AdminRole,
}

/// A started TOTP enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TotpEnrolmentView {
    /// `otpauth://totp/…` URL with the new secret, for an authenticator app (shown once).
    pub(crate) otpauth_url: String,
}

/// Errors of the login route.
pub(crate) struct LoginErrors;

impl utoipa::IntoResponses for LoginErrors {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        [
            ("400", "Malformed JSON (`admin.bad_request`)"),
            (
                "401",
                "Wrong username, password or TOTP code (`admin.login_failed`)",
            ),
            ("413", "Body too large (`request.body_too_large`)"),
            (
                "415",
                "Body is not application/json (`admin.unsupported_media_type`)",
            ),
            ("422", "Invalid fields (`admin.invalid`)"),
            (
                "429",
                "Too many failed logins (`admin.login_throttled`), with Retry-After",
            ),
            (
                "503",
                "Store unavailable (`admin.store_unavailable`), with Retry-After",
            ),
        ]
        .into_iter()
        .map(|(code, text)| (code.to_owned(), super::problem(text)))
        .collect()
    }
}

/// Rank of a role, to keep a minted token within the caller's own rights.
pub(crate) fn rank(role: StoreRole) -> u8 {
    match role {
        StoreRole::ReadOnly => 0,
        StoreRole::Operator => 1,
        StoreRole::Admin => 2,
    }
}

/// Logs in with username, password and (once enrolled) a TOTP code; returns a session token.
#[utoipa::path(post, path = "/admin/v1/login", tag = "auth", security(()),
    request_body = Login,
    responses((status = 200, description = "Logged in", body = LoginView), LoginErrors))]
pub(crate) async fn login(State(s): State<ApiState>, body: RawBody) -> Result<Response, ApiError> {
    let mut input = body.input::<Login>()?;
    let username = input.string("username");
    let password = input.string("password");
    let totp = input.string("totp");
    input.finish()?;
    let (token, secret) = s
        .store
        .login(
            &username.unwrap_or_default(),
            &password.unwrap_or_default(),
            totp.as_deref(),
            s.session_ttl,
        )
        .await
        .map_err(|e| match e {
            // Same answer whichever factor was wrong (or malformed).
            StoreError::Unauthorized | StoreError::Invalid(_) | StoreError::NotFound { .. } => {
                ApiError(portcullis_core::GatewayError::admin_login_failed())
            }
            other => other.into(),
        })?;
    let user = s.store.get_admin_user(&token.user_id).await?;
    let body = LoginView {
        token: secret.expose().to_owned(),
        expires_at: rfc3339_opt(token.expires_at),
        user: user.into(),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// Ends the session (revokes the token of this request).
#[utoipa::path(post, path = "/admin/v1/logout", tag = "auth",
    responses((status = 204, description = "Token revoked"), ReadErrors))]
pub(crate) async fn logout(
    caller: Caller,
    State(s): State<ApiState>,
) -> Result<Response, ApiError> {
    s.store
        .revoke_admin_token(&caller.actor, &caller.principal.token.id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who is calling.
#[utoipa::path(get, path = "/admin/v1/me", tag = "auth",
    responses((status = 200, description = "The caller", body = MeView), ReadErrors))]
pub(crate) async fn me(caller: Caller) -> Json<MeView> {
    let p = caller.principal;
    Json(MeView {
        role: p.role.into(),
        user: p.user.into(),
        token: p.token.into(),
    })
}

/// Starts TOTP enrolment: returns a new secret as an `otpauth://` URL. Login keeps working
/// without a code until the enrolment is confirmed.
#[utoipa::path(post, path = "/admin/v1/me/totp", tag = "auth",
    responses((status = 200, description = "Enrolment started", body = TotpEnrolmentView), WriteErrors))]
pub(crate) async fn begin_totp(
    caller: Caller,
    State(s): State<ApiState>,
) -> Result<Response, ApiError> {
    let url = s
        .store
        .begin_totp(&caller.actor, &caller.principal.user.id)
        .await?;
    let mut resp = Json(TotpEnrolmentView { otpauth_url: url }).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// Confirms TOTP enrolment with a current code; from then on login needs a code.
#[utoipa::path(post, path = "/admin/v1/me/totp/confirm", tag = "auth",
    request_body = ConfirmTotp,
    responses((status = 200, description = "TOTP enabled", body = AdminUserView), WriteErrors))]
pub(crate) async fn confirm_totp(
    caller: Caller,
    State(s): State<ApiState>,
    body: RawBody,
) -> Result<Json<AdminUserView>, ApiError> {
    let mut input = body.input::<ConfirmTotp>()?;
    let code = input.string("code");
    input.finish()?;
    let user = s
        .store
        .confirm_totp(
            &caller.actor,
            &caller.principal.user.id,
            &code.unwrap_or_default(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Unauthorized => ApiError::field("/code", "the TOTP code is not valid"),
            other => other.into(),
        })?;
    Ok(Json(user.into()))
}

/// Lists the caller's own tokens and sessions.
#[utoipa::path(get, path = "/admin/v1/me/tokens", tag = "auth",
    params(PageQuery),
    responses((status = 200, description = "A page of tokens", body = AdminTokenPage), ReadErrors))]
pub(crate) async fn list_my_tokens(
    caller: Caller,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<AdminTokenPage>, ApiError> {
    q.request()?;
    let all = s
        .store
        .list_admin_tokens(Some(&caller.principal.user.id))
        .await?;
    Ok(Json(q.slice(all)?.into()))
}

/// Reads a token request (name, role, expiry) for `owner`, capped at `max_role`.
pub(crate) fn read_token_request(
    input: &mut Input,
    max_role: StoreRole,
) -> (String, StoreRole, Option<std::time::SystemTime>) {
    let name = input.string("name").unwrap_or_default();
    let role = input
        .one_of("role", AdminRole::ALL, AdminRole::parse)
        .unwrap_or(max_role);
    if rank(role) > rank(max_role) {
        input.error("role", format!("must not exceed {max_role}"));
    }
    let expires_at = input.timestamp("expires_at");
    if expires_at.is_some_and(|t| t <= std::time::SystemTime::now()) {
        input.error("expires_at", "must be in the future");
    }
    (name, role, expires_at)
}

/// Issues an API token for the caller (role at most the caller's); the secret is shown once.
#[utoipa::path(post, path = "/admin/v1/me/tokens", tag = "auth",
    request_body = CreateToken,
    responses((status = 201, description = "Issued; the secret is shown once", body = IssuedTokenView), WriteErrors))]
pub(crate) async fn create_my_token(
    caller: Caller,
    State(s): State<ApiState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateToken>()?;
    let (name, role, expires_at) = read_token_request(&mut input, caller.role());
    input.finish()?;
    let (token, secret) = s
        .store
        .create_admin_token(
            &caller.actor,
            &caller.principal.user.id,
            &name,
            role,
            expires_at,
        )
        .await?;
    Ok(issued(token, &secret))
}

/// 201 with a new token and its secret.
pub(crate) fn issued(
    token: portcullis_store::AdminToken,
    secret: &portcullis_store::SecretKey,
) -> Response {
    let mut resp = (
        StatusCode::CREATED,
        Json(IssuedTokenView {
            token: token.into(),
            secret: secret.expose().to_owned(),
        }),
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// Revokes one of the caller's own tokens or sessions.
#[utoipa::path(delete, path = "/admin/v1/me/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "Token id or prefix")),
    responses((status = 204, description = "Revoked"), WriteErrors))]
pub(crate) async fn revoke_my_token(
    caller: Caller,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let mine = s
        .store
        .list_admin_tokens(Some(&caller.principal.user.id))
        .await?
        .into_iter()
        .any(|t| t.id == id || t.prefix == id);
    if !mine {
        return Err(ApiError::not_found(format!("admin token not found: {id}")));
    }
    s.store.revoke_admin_token(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
