//! Credentials (consumer key + secret): issued under an app (`POST /apps/{id}/credentials`,
//! the key and secret are in that response only), read, rotated with an overlap, revoked, and
//! their per-product approvals added, removed and set (approved / pending / revoked).

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::DurationSpec;
use portcullis_store::{CredentialSpec, StoreError};

use super::requests::{
    AddCredentialProduct, CreateCredential, RotateCredential, SetApprovalStatus,
};
use super::views::{ApprovalStatus, CredentialPage, CredentialView, IssuedCredentialView};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::body::{Input, RawBody};
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity};

/// Overlap of a rotation when the request names none.
const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest overlap: an old credential should not outlive its rotation by months.
const MAX_OVERLAP: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Reports each unknown product at its field (`(path, name)` pairs): products named in a
/// body are body fields, so an unknown one is a 422 at its path, not a 404.
async fn check_products(
    s: &ApiState,
    input: &mut Input,
    fields: &[(String, &str)],
) -> Result<(), ApiError> {
    for (path, name) in fields {
        match s.store.get_product(name).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. } | StoreError::Invalid(_)) => {
                input.error(path, format!("no product named {name:?}"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Lists an app's credentials.
#[utoipa::path(get, path = "/admin/v1/apps/{id}/credentials", tag = "credentials",
    params(("id" = String, Path, description = "App id"), PageQuery),
    responses((status = 200, description = "A page of credentials", body = CredentialPage), ReadErrors))]
pub(crate) async fn list_credentials(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<CredentialPage>, ApiError> {
    q.request()?;
    let app = s.store.get_app(&id).await.map_err(lookup)?;
    let all = s
        .store
        .list_credentials(&app.app.id)
        .await
        .map_err(lookup)?;
    Ok(Json(q.slice(all)?.into()))
}

/// Issues a consumer key and secret for an app; both appear in this response only.
#[utoipa::path(post, path = "/admin/v1/apps/{id}/credentials", tag = "credentials",
    params(("id" = String, Path, description = "App id")),
    request_body = CreateCredential,
    responses((status = 201, description = "Issued; the key and secret are shown once",
        body = IssuedCredentialView,
        headers(("ETag" = String, description = "Credential version"))), WriteErrors))]
pub(crate) async fn create_credential(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateCredential>()?;
    let products = input.strings("products").unwrap_or_default();
    let expires_at = input.timestamp("expires_at");
    if expires_at.is_some_and(|t| t <= SystemTime::now()) {
        input.error("expires_at", "must be in the future");
    }
    s.store.get_app(&id).await.map_err(lookup)?;
    let fields: Vec<(String, &str)> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("products/{i}"), p.as_str()))
        .collect();
    check_products(&s, &mut input, &fields).await?;
    input.finish()?;
    let spec = CredentialSpec {
        products,
        expires_at,
    };
    let issued = s.store.create_credential(&caller.actor, &id, &spec).await?;
    let version = issued.credential.version;
    Ok(entity(
        StatusCode::CREATED,
        version,
        &IssuedCredentialView::from(issued),
    ))
}

/// Reads a credential by id or prefix.
#[utoipa::path(get, path = "/admin/v1/credentials/{id}", tag = "credentials",
    params(("id" = String, Path, description = "Credential id or key prefix")),
    responses((status = 200, description = "The credential", body = CredentialView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_credential(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let c = s.store.get_credential(&id).await.map_err(lookup)?;
    Ok(entity(StatusCode::OK, c.version, &CredentialView::from(c)))
}

/// Rotates a credential: a new key and secret with the same products and approvals; the old
/// credential keeps working until `old_expires_at` (or for `overlap`, default 24 h).
#[utoipa::path(post, path = "/admin/v1/credentials/{id}/rotate", tag = "credentials",
    params(("id" = String, Path, description = "Credential id or key prefix")),
    request_body = RotateCredential,
    responses((status = 201, description = "The new credential; key and secret shown once",
        body = IssuedCredentialView,
        headers(("ETag" = String, description = "New credential's version"))), WriteErrors))]
pub(crate) async fn rotate_credential(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<RotateCredential>()?;
    let both = input.has("old_expires_at") && input.has("overlap");
    let old_expires_at = input.timestamp("old_expires_at");
    let overlap = input
        .string("overlap")
        .and_then(|text| match text.parse::<DurationSpec>() {
            Ok(DurationSpec(d)) if d <= MAX_OVERLAP => Some(d),
            Ok(_) => {
                input.error("overlap", "must be at most 90 days");
                None
            }
            Err(e) => {
                input.error("overlap", e.to_string());
                None
            }
        });
    if both {
        input.error("overlap", "give either old_expires_at or overlap, not both");
    }
    let now = SystemTime::now();
    if old_expires_at.is_some_and(|t| t < now) {
        input.error("old_expires_at", "must not be in the past");
    }
    if old_expires_at.is_some_and(|t| t > now + MAX_OVERLAP) {
        input.error("old_expires_at", "must be at most 90 days ahead");
    }
    input.finish()?;
    let until = old_expires_at.unwrap_or_else(|| now + overlap.unwrap_or(DEFAULT_OVERLAP));
    let issued = s
        .store
        .rotate_credential(&caller.actor, &id, until)
        .await
        .map_err(lookup)?;
    let version = issued.credential.version;
    Ok(entity(
        StatusCode::CREATED,
        version,
        &IssuedCredentialView::from(issued),
    ))
}

/// Revokes a credential (every product stops working with it).
#[utoipa::path(post, path = "/admin/v1/credentials/{id}/revoke", tag = "credentials",
    params(("id" = String, Path, description = "Credential id or key prefix"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 200, description = "Revoked", body = CredentialView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn revoke_credential(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = IfMatch::from_headers(&headers).expected(None);
    let c = s
        .store
        .revoke_credential(&caller.actor, &id, expected.version)
        .await
        .map_err(|e| expected.map_err(crate::error::named_nothing(e)))?;
    Ok(entity(StatusCode::OK, c.version, &CredentialView::from(c)))
}

/// Associates a product (approved or pending by the product's approval type).
#[utoipa::path(post, path = "/admin/v1/credentials/{id}/products", tag = "credentials",
    params(("id" = String, Path, description = "Credential id or key prefix")),
    request_body = AddCredentialProduct,
    responses((status = 200, description = "Updated", body = CredentialView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn add_product(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<AddCredentialProduct>()?;
    let product = input.string("product");
    s.store.get_credential(&id).await.map_err(lookup)?;
    if let Some(p) = &product {
        check_products(&s, &mut input, &[("product".to_owned(), p.as_str())]).await?;
    }
    input.finish()?;
    let c = s
        .store
        .add_credential_product(&caller.actor, &id, &product.unwrap_or_default())
        .await?;
    Ok(entity(StatusCode::OK, c.version, &CredentialView::from(c)))
}

/// Removes a product association.
#[utoipa::path(delete, path = "/admin/v1/credentials/{id}/products/{product}", tag = "credentials",
    params(("id" = String, Path, description = "Credential id or key prefix"),
        ("product" = String, Path, description = "Product name")),
    responses((status = 200, description = "Updated", body = CredentialView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn remove_product(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath((id, product)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let c = s
        .store
        .remove_credential_product(&caller.actor, &id, &product)
        .await
        .map_err(|e| ApiError::from(crate::error::named_nothing(e)))?;
    Ok(entity(StatusCode::OK, c.version, &CredentialView::from(c)))
}

/// Approves, revokes or resets to pending one product of a credential.
#[utoipa::path(post, path = "/admin/v1/credentials/{id}/products/{product}/status", tag = "credentials",
    params(("id" = String, Path, description = "Credential id or key prefix"),
        ("product" = String, Path, description = "Product name"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = SetApprovalStatus,
    responses((status = 200, description = "Updated", body = CredentialView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn set_product_status(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath((id, product)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<SetApprovalStatus>()?;
    let status = input.one_of("status", ApprovalStatus::ALL, ApprovalStatus::parse);
    input.finish()?;
    let Some(status) = status else {
        return Err(ApiError::field("/status", "required"));
    };
    let expected = IfMatch::from_headers(&headers).expected(None);
    let c = s
        .store
        .set_credential_product_status(&caller.actor, &id, &product, status, expected.version)
        .await
        .map_err(|e| expected.map_err(crate::error::named_nothing(e)))?;
    Ok(entity(StatusCode::OK, c.version, &CredentialView::from(c)))
}
