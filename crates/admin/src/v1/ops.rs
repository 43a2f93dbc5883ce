//! Operations on the running gateway: reload the config file, show the resolved config, and
//! serve this API's own OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{ErrorSource, GatewayError};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{ApiState, ReadErrors, WriteErrors};
use crate::auth::{Reader, Writer};
use crate::error::ApiError;

/// The outcome of a reload.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReloadView {
    /// Always `reloaded`.
    pub(crate) status: String,
    /// The new config generation.
    pub(crate) generation: u64,
}

/// Re-reads the config file and applies it if it is entirely valid (422 `config.invalid`
/// otherwise, with every error; the running configuration is then unchanged).
#[utoipa::path(post, path = "/admin/v1/reload", tag = "operations",
    responses((status = 200, description = "Reloaded", body = ReloadView), WriteErrors))]
pub(crate) async fn reload(
    _: Writer,
    State(s): State<ApiState>,
) -> Result<Json<ReloadView>, ApiError> {
    match s.control.reload().await {
        Ok(generation) => Ok(Json(ReloadView {
            status: "reloaded".into(),
            generation,
        })),
        Err(errors) => {
            let list: Vec<_> = errors
                .0
                .iter()
                .map(|e| json!({"path": e.path, "line": e.line, "message": e.message}))
                .collect();
            Err(ApiError(
                GatewayError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "config.invalid",
                    "Configuration rejected; the running configuration is unchanged",
                    ErrorSource::Client,
                )
                .with_extra("errors", list.into()),
            ))
        }
    }
}

/// The running configuration: APIs, flows, resolved policy order, upstream health.
#[utoipa::path(get, path = "/admin/v1/status", tag = "operations",
    responses((status = 200, description = "Gateway status", body = Object), ReadErrors))]
pub(crate) async fn status(_: Reader, State(s): State<ApiState>) -> Json<serde_json::Value> {
    Json(s.control.status())
}

/// This document.
#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object), ReadErrors))]
pub(crate) async fn openapi_document(_: Reader, State(s): State<ApiState>) -> Response {
    let mut resp = s.openapi_json.to_string().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
