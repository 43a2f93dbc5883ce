//! Encrypted key-value maps: `/admin/v1/environments/{name}/kvms/{map}/entries/{key}`.
//!
//! Values go in (PUT) but never come out, except `GET …?reveal=true` by the `admin` role,
//! which is recorded (actor, entry, time; never the value) in the audit trail.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_store::{AdminRole, KvmEntryInfo, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::requests::PutKvmEntry;
use super::views::{KvmEntryPage, KvmEntryView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::body::RawBody;
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity};

impl From<KvmEntryInfo> for KvmEntryView {
    fn from(e: KvmEntryInfo) -> Self {
        KvmEntryView::new(e, None)
    }
}

/// `?reveal=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevealQuery {
    /// Include the decrypted value (admin role only; audited).
    reveal: Option<bool>,
}

/// Lists the entries of every map of an environment (metadata only).
#[utoipa::path(get, path = "/admin/v1/environments/{name}/kvms", tag = "kvm",
    params(("name" = String, Path, description = "Environment name"), PageQuery),
    responses((status = 200, description = "A page of entries", body = KvmEntryPage), ReadErrors))]
pub(crate) async fn list_entries(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(env): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<KvmEntryPage>, ApiError> {
    q.request()?;
    s.store.get_environment(&env).await.map_err(lookup)?;
    let all = s.store.kvm_list(&env, None).await.map_err(lookup)?;
    Ok(Json(q.slice(all)?.into()))
}

/// Lists one map's entries (metadata only).
#[utoipa::path(get, path = "/admin/v1/environments/{name}/kvms/{map}/entries", tag = "kvm",
    params(("name" = String, Path, description = "Environment name"),
        ("map" = String, Path, description = "Map name"), PageQuery),
    responses((status = 200, description = "A page of entries", body = KvmEntryPage), ReadErrors))]
pub(crate) async fn list_map_entries(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath((env, map)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<KvmEntryPage>, ApiError> {
    q.request()?;
    s.store.get_environment(&env).await.map_err(lookup)?;
    let all = s.store.kvm_list(&env, Some(&map)).await.map_err(lookup)?;
    Ok(Json(q.slice(all)?.into()))
}

/// Reads an entry's metadata; with `reveal=true` (admin only, audited) also its value.
#[utoipa::path(get, path = "/admin/v1/environments/{name}/kvms/{map}/entries/{key}", tag = "kvm",
    params(("name" = String, Path, description = "Environment name"),
        ("map" = String, Path, description = "Map name"),
        ("key" = String, Path, description = "Entry key"), RevealQuery),
    responses((status = 200, description = "The entry", body = KvmEntryView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_entry(
    Reader(caller): Reader,
    State(s): State<ApiState>,
    ApiPath((env, map, key)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<RevealQuery>,
) -> Result<Response, ApiError> {
    if q.reveal == Some(true) {
        if caller.role() != AdminRole::Admin {
            return Err(ApiError::forbidden(
                "revealing KVM values needs the admin role",
            ));
        }
        let (info, value) = s
            .store
            .kvm_reveal(&caller.actor, &env, &map, &key)
            .await
            .map_err(lookup)?;
        return Ok(entity(
            StatusCode::OK,
            info.version,
            &KvmEntryView::new(info, Some(value)),
        ));
    }
    let info = s
        .store
        .kvm_list(&env, Some(&map))
        .await
        .map_err(lookup)?
        .into_iter()
        .find(|e| e.key == key)
        .ok_or_else(|| ApiError::not_found(format!("kvm entry not found: {env}/{map}/{key}")))?;
    Ok(entity(
        StatusCode::OK,
        info.version,
        &KvmEntryView::from(info),
    ))
}

/// Creates or replaces an entry (201 when created).
#[utoipa::path(put, path = "/admin/v1/environments/{name}/kvms/{map}/entries/{key}", tag = "kvm",
    params(("name" = String, Path, description = "Environment name"),
        ("map" = String, Path, description = "Map name"),
        ("key" = String, Path, description = "Entry key"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = PutKvmEntry,
    responses(
        (status = 200, description = "Replaced", body = KvmEntryView,
            headers(("ETag" = String, description = "Entity version"))),
        (status = 201, description = "Created", body = KvmEntryView,
            headers(("ETag" = String, description = "Entity version"))),
        WriteErrors))]
pub(crate) async fn put_entry(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath((env, map, key)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<PutKvmEntry>()?;
    let value = input.string("value");
    input.finish()?;
    s.store.get_environment(&env).await.map_err(lookup)?;
    let expected = IfMatch::from_headers(&headers).expected(None);
    let info = s
        .store
        .kvm_put(
            &caller.actor,
            &env,
            &map,
            &key,
            &value.unwrap_or_default(),
            expected.version,
        )
        .await
        .map_err(|e| expected.map_err(url_fields(e)))?;
    let status = if info.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(entity(status, info.version, &KvmEntryView::from(info)))
}

/// Store messages about `map`/`key` name URL segments, not body fields: report them on the
/// body as a whole, keeping only `value` problems at `/value`.
fn url_fields(e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid(msg) if !msg.starts_with("value") => {
            StoreError::Invalid(format!("invalid map or key name in the URL ({msg})"))
        }
        other => other,
    }
}

/// Deletes an entry.
#[utoipa::path(delete, path = "/admin/v1/environments/{name}/kvms/{map}/entries/{key}", tag = "kvm",
    params(("name" = String, Path, description = "Environment name"),
        ("map" = String, Path, description = "Map name"),
        ("key" = String, Path, description = "Entry key"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub(crate) async fn delete_entry(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath((env, map, key)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = IfMatch::from_headers(&headers).expected(None);
    s.store
        .kvm_delete(&caller.actor, &env, &map, &key, expected.version)
        .await
        .map_err(|e| expected.map_err(crate::error::named_nothing(e)))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
