//! `/admin/v1/products`: API products (APIs, resource paths with Apigee wildcards, methods,
//! environments, scopes, quota, approval type). Replaced whole with PUT.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::ResourcePattern;
use portcullis_store::{ApprovalType as StoreApproval, ProductSpec, QuotaSpec};

use super::environments::valid_environment_name;
use super::requests::{CreateProduct, ReplaceProduct};
use super::views::{ApprovalType, ProductPage, ProductView, Quota, QuotaUnit};
use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::body::{Input, RawBody};
use crate::error::{ApiError, lookup};
use crate::http_util::{ApiPath, ApiQuery, IfMatch, PageQuery, entity, list_error};

/// Longest display name.
const MAX_DISPLAY_NAME: usize = 255;

fn valid_product_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Reads the product fields shared by create and replace; checks what can be checked without
/// the store (syntax of every list item, quota, approval), every problem at its path.
async fn read_spec(s: &ApiState, input: &mut Input, name: &str) -> Result<ProductSpec, ApiError> {
    let display_name = input
        .label("display_name", MAX_DISPLAY_NAME)
        .unwrap_or_else(|| name.to_owned());
    let description = input.string("description").unwrap_or_default();
    let apis = input.strings("apis").unwrap_or_default();
    let paths = input.strings("paths").unwrap_or_default();
    for (i, p) in paths.iter().enumerate() {
        if let Err(e) = ResourcePattern::parse(p) {
            input.error(&format!("paths/{i}"), e.to_string());
        }
    }
    let methods = input.strings("methods").unwrap_or_default();
    for (i, m) in methods.iter().enumerate() {
        let ok = !m.is_empty()
            && m.len() <= 32
            && m.bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
        if !ok {
            input.error(
                &format!("methods/{i}"),
                format!("{m:?} is not an upper-case HTTP method such as GET"),
            );
        }
    }
    let environments = input.strings("environments").unwrap_or_default();
    if !environments.is_empty() {
        let known: Vec<String> = s
            .store
            .list_environments()
            .await?
            .into_iter()
            .map(|e| e.name)
            .collect();
        for (i, env) in environments.iter().enumerate() {
            if !valid_environment_name(env) {
                input.error(&format!("environments/{i}"), "not an environment name");
            } else if !known.contains(env) {
                input.error(
                    &format!("environments/{i}"),
                    format!("no environment named {env:?}"),
                );
            }
        }
    }
    let scopes = input.strings("scopes").unwrap_or_default();
    let quota = input.object::<Quota>("quota").and_then(|mut q| {
        let limit = q.integer("limit", 1, i64::MAX as u64);
        let interval = q.integer("interval", 1, u64::from(u32::MAX));
        let unit = q.one_of("unit", QuotaUnit::ALL, QuotaUnit::parse);
        let spec = match (limit, interval, unit) {
            (Some(limit), Some(interval), Some(unit)) => Some(QuotaSpec {
                limit,
                interval: u32::try_from(interval).unwrap_or(u32::MAX),
                unit,
            }),
            _ => None,
        };
        input.absorb(q);
        spec
    });
    let approval = input
        .one_of("approval", ApprovalType::ALL, ApprovalType::parse)
        .unwrap_or(StoreApproval::Auto);
    let attributes = input.attributes("attributes").unwrap_or_default();
    Ok(ProductSpec {
        display_name,
        description,
        apis,
        paths,
        methods,
        environments,
        scopes,
        quota,
        approval,
        attributes,
    })
}

/// Lists products.
#[utoipa::path(get, path = "/admin/v1/products", tag = "products",
    params(PageQuery),
    responses((status = 200, description = "A page of products", body = ProductPage), ReadErrors))]
pub(crate) async fn list_products(
    _: Reader,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let page = s
        .store
        .list_products(&q.request()?)
        .await
        .map_err(list_error)?;
    Ok(Json(page.into()))
}

/// Creates a product.
#[utoipa::path(post, path = "/admin/v1/products", tag = "products",
    request_body = CreateProduct,
    responses((status = 201, description = "Created", body = ProductView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn create_product(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<CreateProduct>()?;
    let name = input.string("name").unwrap_or_default();
    if !name.is_empty() && !valid_product_name(&name) {
        input.error(
            "name",
            "letters, digits, '.', '_' and '-', 1 to 100 characters",
        );
    }
    let spec = read_spec(&s, &mut input, &name).await?;
    input.finish()?;
    let p = s.store.create_product(&caller.actor, &name, &spec).await?;
    Ok(entity(
        StatusCode::CREATED,
        p.version,
        &ProductView::from(p),
    ))
}

/// Reads a product.
#[utoipa::path(get, path = "/admin/v1/products/{name}", tag = "products",
    params(("name" = String, Path, description = "Product name")),
    responses((status = 200, description = "The product", body = ProductView,
        headers(("ETag" = String, description = "Entity version"))), ReadErrors))]
pub(crate) async fn get_product(
    _: Reader,
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = s.store.get_product(&name).await.map_err(lookup)?;
    Ok(entity(StatusCode::OK, p.version, &ProductView::from(p)))
}

/// Replaces a product's fields.
#[utoipa::path(put, path = "/admin/v1/products/{name}", tag = "products",
    params(("name" = String, Path, description = "Product name"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = ReplaceProduct,
    responses((status = 200, description = "Replaced", body = ProductView,
        headers(("ETag" = String, description = "Entity version"))), WriteErrors))]
pub(crate) async fn replace_product(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut input = body.input::<ReplaceProduct>()?;
    let current = s.store.get_product(&name).await.map_err(lookup)?;
    let spec = read_spec(&s, &mut input, &name).await?;
    input.finish()?;
    let expected = IfMatch::from_headers(&headers).expected(Some(current.version));
    let p = s
        .store
        .update_product(&caller.actor, &name, &spec, expected.version)
        .await
        .map_err(|e| expected.map_err(e))?;
    Ok(entity(StatusCode::OK, p.version, &ProductView::from(p)))
}

/// Deletes a product (refused while credentials are associated with it).
#[utoipa::path(delete, path = "/admin/v1/products/{name}", tag = "products",
    params(("name" = String, Path, description = "Product name"),
        ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub(crate) async fn delete_product(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = IfMatch::from_headers(&headers).expected(None);
    s.store
        .delete_product(&caller.actor, &name, expected.version)
        .await
        .map_err(|e| expected.map_err(crate::error::named_nothing(e)))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
