//! Admin users and everyone's tokens (`admin` role only): create users, change role or
//! disable, set passwords, issue, list and revoke tokens.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::identity::{issued, read_token_request};
use super::requests::{CreateAdminUser, CreateToken, SetPassword, UpdateAdminUser};
use super::views::{AdminRole, AdminTokenPage, AdminUserPage, AdminUserView, IssuedTokenView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::AdminOnly;
use crate::body::RawBody;
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity};

/// Lists admin users.
#[utoipa::path(get, path = "/admin/v1/users", tag = "admin-users",
    params(PageQuery),
    responses((status = 200, description = "A page of users", body = AdminUserPage), ReadErrors))]
pub(crate) async fn list_users(
    _: AdminOnly,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<AdminUserPage>, ApiError> {
    q.request()?;
    let all = s.store.list_admin_users().await?;
    Ok(Json(q.slice(all)?.into()))
}

/// Creates an admin user.
#[utoipa::path(post, path = "/admin/v1/users", tag = "admin-users",
    request_body = CreateAdminUser,
    responses((status = 201, description = "Created", body = AdminUserView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn create_user(
    AdminOnly(caller): AdminOnly,
    State(s): State<ApiState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateAdminUser>()?;
    let username = input.string("username");
    let password = input.string("password");
    let role = input.one_of("role", AdminRole::ALL, AdminRole::parse);
    input.finish()?;
    let (Some(username), Some(password), Some(role)) = (username, password, role) else {
        return Err(ApiError::field(
            "",
            "username, password and role are required",
        ));
    };
    let user = s
        .store
        .create_admin_user(&caller.actor, &username, &password, role)
        .await?;
    Ok(entity(
        StatusCode::CREATED,
        user.version,
        &AdminUserView::from(user),
    ))
}

/// Reads an admin user by id or username.
#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "admin-users",
    params(("id" = String, Path, description = "User id or username")),
    responses((status = 200, description = "The user", body = AdminUserView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_user(
    _: AdminOnly,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let user = s.store.get_admin_user(&id).await.map_err(lookup)?;
    Ok(entity(
        StatusCode::OK,
        user.version,
        &AdminUserView::from(user),
    ))
}

/// Changes a user's role or disables them (absent fields keep their value).
#[utoipa::path(patch, path = "/admin/v1/users/{id}", tag = "admin-users",
    params(("id" = String, Path, description = "User id or username"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = UpdateAdminUser,
    responses((status = 200, description = "Updated", body = AdminUserView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn update_user(
    AdminOnly(caller): AdminOnly,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<UpdateAdminUser>()?;
    let role = input.one_of("role", AdminRole::ALL, AdminRole::parse);
    let disabled = input.boolean("disabled");
    input.finish()?;
    let current = s.store.get_admin_user(&id).await.map_err(lookup)?;
    let expected = IfMatch::from_headers(&headers).expected(Some(current.version));
    let user = s
        .store
        .update_admin_user(
            &caller.actor,
            &current.id,
            role.unwrap_or(current.role),
            disabled.unwrap_or(current.disabled),
            expected.version,
        )
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(
        StatusCode::OK,
        user.version,
        &AdminUserView::from(user),
    ))
}

/// Sets a user's password.
#[utoipa::path(put, path = "/admin/v1/users/{id}/password", tag = "admin-users",
    params(("id" = String, Path, description = "User id or username")),
    request_body = SetPassword,
    responses((status = 204, description = "Password set"), WriteErrors))]
pub(crate) async fn set_password(
    AdminOnly(caller): AdminOnly,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<SetPassword>()?;
    let password = input.string("password");
    input.finish()?;
    let user = s.store.get_admin_user(&id).await.map_err(lookup)?;
    s.store
        .set_admin_password(&caller.actor, &user.id, &password.unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Lists one user's tokens and sessions.
#[utoipa::path(get, path = "/admin/v1/users/{id}/tokens", tag = "admin-users",
    params(("id" = String, Path, description = "User id or username"), PageQuery),
    responses((status = 200, description = "A page of tokens", body = AdminTokenPage), ReadErrors))]
pub(crate) async fn list_user_tokens(
    _: AdminOnly,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<AdminTokenPage>, ApiError> {
    q.request()?;
    let user = s.store.get_admin_user(&id).await.map_err(lookup)?;
    let all = s.store.list_admin_tokens(Some(&user.id)).await?;
    Ok(Json(q.slice(all)?.into()))
}

/// Issues an API token for a user (role at most the user's); the secret is shown once.
#[utoipa::path(post, path = "/admin/v1/users/{id}/tokens", tag = "admin-users",
    params(("id" = String, Path, description = "User id or username")),
    request_body = CreateToken,
    responses((status = 201, description = "Issued; the secret is shown once", body = IssuedTokenView), WriteErrors))]
pub(crate) async fn create_user_token(
    AdminOnly(caller): AdminOnly,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateToken>()?;
    let user = s.store.get_admin_user(&id).await.map_err(lookup)?;
    let (name, role, expires_at) = read_token_request(&mut input, user.role);
    input.finish()?;
    let (token, secret) = s
        .store
        .create_admin_token(&caller.actor, &user.id, &name, role, expires_at)
        .await?;
    Ok(issued(token, &secret))
}

/// Filter of the token list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenFilter {
    /// Only tokens of this user (id or username).
    user: Option<String>,
}

/// Lists every admin token and session.
#[utoipa::path(get, path = "/admin/v1/tokens", tag = "admin-users",
    params(PageQuery, TokenFilter),
    responses((status = 200, description = "A page of tokens", body = AdminTokenPage), ReadErrors))]
pub(crate) async fn list_tokens(
    _: AdminOnly,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
    ApiQuery(f): ApiQuery<TokenFilter>,
) -> Result<Json<AdminTokenPage>, ApiError> {
    q.request()?;
    let user = match &f.user {
        Some(u) => Some(s.store.get_admin_user(u).await.map_err(lookup)?.id),
        None => None,
    };
    let all = s.store.list_admin_tokens(user.as_deref()).await?;
    Ok(Json(q.slice(all)?.into()))
}

/// Revokes any token or session.
#[utoipa::path(delete, path = "/admin/v1/tokens/{id}", tag = "admin-users",
    params(("id" = String, Path, description = "Token id or prefix")),
    responses((status = 204, description = "Revoked"), WriteErrors))]
pub(crate) async fn revoke_token(
    AdminOnly(caller): AdminOnly,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    s.store
        .revoke_admin_token(&caller.actor, &id)
        .await
        .map_err(lookup)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
