//! `/admin/v1/environments`: create, read, list, change the description, delete.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::requests::{CreateEnvironment, UpdateEnvironment};
use super::views::{EnvironmentPage, EnvironmentView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::body::RawBody;
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity};

/// Checks the environment-name rule of the store's interface.
pub(crate) fn valid_environment_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Lists environments.
#[utoipa::path(get, path = "/admin/v1/environments", tag = "environments",
    params(PageQuery),
    responses((status = 200, description = "A page of environments", body = EnvironmentPage), ReadErrors))]
pub(crate) async fn list_environments(
    _: Reader,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<EnvironmentPage>, ApiError> {
    q.request()?;
    let all = s.store.list_environments().await?;
    Ok(Json(q.slice(all)?.into()))
}

/// Creates an environment.
#[utoipa::path(post, path = "/admin/v1/environments", tag = "environments",
    request_body = CreateEnvironment,
    responses((status = 201, description = "Created", body = EnvironmentView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn create_environment(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateEnvironment>()?;
    let name = input.string("name");
    if let Some(n) = &name
        && !valid_environment_name(n)
    {
        input.error(
            "name",
            "lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters",
        );
    }
    let description = input.string("description").unwrap_or_default();
    input.finish()?;
    let env = s
        .store
        .create_environment(&caller.actor, &name.unwrap_or_default(), &description)
        .await?;
    Ok(entity(
        StatusCode::CREATED,
        env.version,
        &EnvironmentView::from(env),
    ))
}

/// Reads an environment.
#[utoipa::path(get, path = "/admin/v1/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, description = "The environment", body = EnvironmentView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_environment(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let env = s.store.get_environment(&name).await.map_err(lookup)?;
    Ok(entity(
        StatusCode::OK,
        env.version,
        &EnvironmentView::from(env),
    ))
}

/// Changes an environment's description.
#[utoipa::path(patch, path = "/admin/v1/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = UpdateEnvironment,
    responses((status = 200, description = "Updated", body = EnvironmentView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn update_environment(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<UpdateEnvironment>()?;
    let description = input.string("description");
    input.finish()?;
    let current = s.store.get_environment(&name).await.map_err(lookup)?;
    let expected = IfMatch::from_headers(&headers).expected(Some(current.version));
    let description = description.unwrap_or(current.description);
    let env = s
        .store
        .update_environment(&caller.actor, &name, &description, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(
        StatusCode::OK,
        env.version,
        &EnvironmentView::from(env),
    ))
}

/// Deletes an environment (refused while KVM entries live in it).
#[utoipa::path(delete, path = "/admin/v1/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub(crate) async fn delete_environment(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = IfMatch::from_headers(&headers).expected(None);
    s.store
        .delete_environment(&caller.actor, &name, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
