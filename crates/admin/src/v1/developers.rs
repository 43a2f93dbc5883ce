//! `/admin/v1/developers`: register, read (by id or e-mail), list (`?status=`), change,
//! set status (`POST …/status`: kept apart from PATCH so a status change, which cascades to
//! every credential, is one deliberate, separately audited action), delete (cascades).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_store::DeveloperSpec;
use serde::Deserialize;
use utoipa::IntoParams;

use super::requests::{CreateDeveloper, SetDeveloperStatus, UpdateDeveloper};
use super::views::{DeveloperPage, DeveloperStatus, DeveloperView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::body::{Input, RawBody};
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity, list_error};

/// Longest developer or app name.
pub(crate) const MAX_NAME: usize = 100;

/// Filters of the developer list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeveloperFilter {
    /// Only developers with this status.
    #[param(value_type = Option<DeveloperStatus>)]
    status: Option<String>,
}

/// Reads and checks an e-mail field.
fn email(input: &mut Input, field: &str) -> Option<String> {
    let e = input.string(field)?;
    let e = e.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if !ok {
        input.error(field, "must be an e-mail address");
        return None;
    }
    Some(e)
}

/// Lists developers.
#[utoipa::path(get, path = "/admin/v1/developers", tag = "developers",
    params(PageQuery, DeveloperFilter),
    responses((status = 200, description = "A page of developers", body = DeveloperPage), ReadErrors))]
pub(crate) async fn list_developers(
    _: Reader,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
    ApiQuery(f): ApiQuery<DeveloperFilter>,
) -> Result<Json<DeveloperPage>, ApiError> {
    let status = f
        .status
        .as_deref()
        .map(|v| {
            DeveloperStatus::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status must be one of {}",
                    DeveloperStatus::ALL.join(", ")
                ))
            })
        })
        .transpose()?;
    let page = s
        .store
        .list_developers(status, &q.request()?)
        .await
        .map_err(list_error)?;
    Ok(Json(page.into()))
}

/// Registers a developer (active).
#[utoipa::path(post, path = "/admin/v1/developers", tag = "developers",
    request_body = CreateDeveloper,
    responses((status = 201, description = "Created", body = DeveloperView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn create_developer(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateDeveloper>()?;
    let spec = DeveloperSpec {
        email: email(&mut input, "email").unwrap_or_default(),
        name: input.label("name", MAX_NAME).unwrap_or_default(),
        attributes: input.attributes("attributes").unwrap_or_default(),
    };
    input.finish()?;
    let dev = s.store.create_developer(&caller.actor, &spec).await?;
    Ok(entity(
        StatusCode::CREATED,
        dev.version,
        &DeveloperView::from(dev),
    ))
}

/// Reads a developer by id or e-mail.
#[utoipa::path(get, path = "/admin/v1/developers/{id}", tag = "developers",
    params(("id" = String, Path, description = "Developer id or e-mail")),
    responses((status = 200, description = "The developer", body = DeveloperView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_developer(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let dev = s.store.get_developer(&id).await.map_err(lookup)?;
    Ok(entity(
        StatusCode::OK,
        dev.version,
        &DeveloperView::from(dev),
    ))
}

/// Changes e-mail, name or attributes (absent fields keep their value).
#[utoipa::path(patch, path = "/admin/v1/developers/{id}", tag = "developers",
    params(("id" = String, Path, description = "Developer id or e-mail"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = UpdateDeveloper,
    responses((status = 200, description = "Updated", body = DeveloperView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn update_developer(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<UpdateDeveloper>()?;
    let new_email = email(&mut input, "email");
    let name = input.label("name", MAX_NAME);
    let attributes = input.attributes("attributes");
    input.finish()?;
    let current = s.store.get_developer(&id).await.map_err(lookup)?;
    let expected = IfMatch::from_headers(&headers).expected(Some(current.version));
    let spec = DeveloperSpec {
        email: new_email.unwrap_or(current.developer.email),
        name: name.unwrap_or(current.developer.name),
        attributes: attributes.unwrap_or(current.attributes),
    };
    let dev = s
        .store
        .update_developer(
            &caller.actor,
            &current.developer.id,
            &spec,
            expected.version,
        )
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(
        StatusCode::OK,
        dev.version,
        &DeveloperView::from(dev),
    ))
}

/// Sets a developer's status; `inactive` stops all their credentials at every node.
#[utoipa::path(post, path = "/admin/v1/developers/{id}/status", tag = "developers",
    params(("id" = String, Path, description = "Developer id or e-mail"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = SetDeveloperStatus,
    responses((status = 200, description = "Updated", body = DeveloperView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn set_developer_status(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<SetDeveloperStatus>()?;
    let status = input.one_of("status", DeveloperStatus::ALL, DeveloperStatus::parse);
    input.finish()?;
    let Some(status) = status else {
        return Err(ApiError::field("/status", "required"));
    };
    let expected = IfMatch::from_headers(&headers).expected(None);
    let dev = s
        .store
        .set_developer_status_by(&caller.actor, &id, status, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(
        StatusCode::OK,
        dev.version,
        &DeveloperView::from(dev),
    ))
}

/// Deletes a developer with all their apps and credentials.
#[utoipa::path(delete, path = "/admin/v1/developers/{id}", tag = "developers",
    params(("id" = String, Path, description = "Developer id or e-mail"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub(crate) async fn delete_developer(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = IfMatch::from_headers(&headers).expected(None);
    s.store
        .delete_developer(&caller.actor, &id, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
