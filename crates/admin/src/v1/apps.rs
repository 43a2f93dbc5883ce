//! Apps: created and listed under their developer (`/developers/{id}/apps`), read, changed,
//! approved/revoked (`POST /apps/{id}/status`, cascading to credentials) and deleted by id.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_store::AppSpec;
use serde::Deserialize;
use utoipa::IntoParams;

use super::developers::MAX_NAME;
use super::requests::{CreateApp, SetAppStatus, UpdateApp};
use super::views::{AppPage, AppStatus, AppView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::body::RawBody;
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity, list_error};

/// Filters of the app lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AppFilter {
    /// Only apps with this status.
    #[param(value_type = Option<AppStatus>)]
    status: Option<String>,
}

/// Filters of the global app list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AppOwnerFilter {
    /// Only apps of this developer (id or e-mail).
    developer: Option<String>,
}

fn status_filter(f: &AppFilter) -> Result<Option<portcullis_store::AppStatus>, ApiError> {
    f.status
        .as_deref()
        .map(|v| {
            AppStatus::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status must be one of {}",
                    AppStatus::ALL.join(", ")
                ))
            })
        })
        .transpose()
}

/// Lists one developer's apps.
#[utoipa::path(get, path = "/admin/v1/developers/{id}/apps", tag = "apps",
    params(("id" = String, Path, description = "Developer id or e-mail"), PageQuery, AppFilter),
    responses((status = 200, description = "A page of apps", body = AppPage), ReadErrors))]
pub(crate) async fn list_developer_apps(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
    ApiQuery(f): ApiQuery<AppFilter>,
) -> Result<Json<AppPage>, ApiError> {
    let status = status_filter(&f)?;
    let page_req = q.request()?;
    let dev = s.store.get_developer(&id).await.map_err(lookup)?;
    let page = s
        .store
        .list_apps(Some(&dev.developer.id), status, &page_req)
        .await
        .map_err(list_error)?;
    Ok(Json(page.into()))
}

/// Lists apps of every developer.
#[utoipa::path(get, path = "/admin/v1/apps", tag = "apps",
    params(PageQuery, AppFilter, AppOwnerFilter),
    responses((status = 200, description = "A page of apps", body = AppPage), ReadErrors))]
pub(crate) async fn list_apps(
    _: Reader,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
    ApiQuery(f): ApiQuery<AppFilter>,
    ApiQuery(o): ApiQuery<AppOwnerFilter>,
) -> Result<Json<AppPage>, ApiError> {
    let status = status_filter(&f)?;
    let page_req = q.request()?;
    let developer = match &o.developer {
        Some(d) => Some(s.store.get_developer(d).await.map_err(lookup)?.developer.id),
        None => None,
    };
    let page = s
        .store
        .list_apps(developer.as_deref(), status, &page_req)
        .await
        .map_err(list_error)?;
    Ok(Json(page.into()))
}

/// Registers an app (approved) for a developer.
#[utoipa::path(post, path = "/admin/v1/developers/{id}/apps", tag = "apps",
    params(("id" = String, Path, description = "Developer id or e-mail")),
    request_body = CreateApp,
    responses((status = 201, description = "Created", body = AppView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn create_app(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateApp>()?;
    let spec = AppSpec {
        name: input.label("name", MAX_NAME).unwrap_or_default(),
        callback_urls: input.strings("callback_urls").unwrap_or_default(),
        attributes: input.attributes("attributes").unwrap_or_default(),
    };
    input.finish()?;
    let app = s
        .store
        .create_app(&caller.actor, &id, &spec)
        .await
        .map_err(not_found_developer)?;
    Ok(entity(
        StatusCode::CREATED,
        app.version,
        &AppView::from(app),
    ))
}

/// The developer in the URL may be malformed; that names nobody (404), not a body field.
fn not_found_developer(err: portcullis_store::StoreError) -> ApiError {
    match err {
        portcullis_store::StoreError::Invalid(msg) if !msg.contains(": ") => {
            ApiError::not_found(msg)
        }
        other => other.into(),
    }
}

/// Reads an app.
#[utoipa::path(get, path = "/admin/v1/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "App id")),
    responses((status = 200, description = "The app", body = AppView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_app(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let app = s.store.get_app(&id).await.map_err(lookup)?;
    Ok(entity(StatusCode::OK, app.version, &AppView::from(app)))
}

/// Changes name, callback URLs or attributes (absent fields keep their value).
#[utoipa::path(patch, path = "/admin/v1/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "App id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = UpdateApp,
    responses((status = 200, description = "Updated", body = AppView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn update_app(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<UpdateApp>()?;
    let name = input.label("name", MAX_NAME);
    let callback_urls = input.strings("callback_urls");
    let attributes = input.attributes("attributes");
    input.finish()?;
    let current = s.store.get_app(&id).await.map_err(lookup)?;
    let expected = IfMatch::from_headers(&headers).expected(Some(current.version));
    let spec = AppSpec {
        name: name.unwrap_or(current.app.name),
        callback_urls: callback_urls.unwrap_or(current.callback_urls),
        attributes: attributes.unwrap_or(current.attributes),
    };
    let app = s
        .store
        .update_app(&caller.actor, &id, &spec, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(StatusCode::OK, app.version, &AppView::from(app)))
}

/// Approves or revokes an app; revoking stops all its credentials at every node.
#[utoipa::path(post, path = "/admin/v1/apps/{id}/status", tag = "apps",
    params(("id" = String, Path, description = "App id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = SetAppStatus,
    responses((status = 200, description = "Updated", body = AppView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn set_app_status(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<SetAppStatus>()?;
    let status = input.one_of("status", AppStatus::ALL, AppStatus::parse);
    input.finish()?;
    let Some(status) = status else {
        return Err(ApiError::field("/status", "required"));
    };
    let expected = IfMatch::from_headers(&headers).expected(None);
    let app = s
        .store
        .set_app_status_by(&caller.actor, &id, status, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(StatusCode::OK, app.version, &AppView::from(app)))
}

/// Deletes an app and its credentials.
#[utoipa::path(delete, path = "/admin/v1/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "App id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub(crate) async fn delete_app(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = IfMatch::from_headers(&headers).expected(None);
    s.store
        .delete_app(&caller.actor, &id, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
