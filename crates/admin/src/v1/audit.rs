//! `GET /admin/v1/audit`: the audit log, newest first, filterable by entity, entity id and
//! actor. Read-only: nothing in the API can write or delete an entry (the store appends one in
//! the same transaction as every change).

use axum::Json;
use axum::extract::State;
use portcullis_store::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::AuditPage;
use super::{ApiState, ReadErrors};
use crate::auth::Reader;
use crate::error::ApiError;
use crate::http_util::{ApiQuery, PageQuery, list_error};

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only this entity kind (`developer`, `app`, `credential`, `product`, `kvm`, ...).
    entity: Option<String>,
    /// Only this entity id or name.
    entity_id: Option<String>,
    /// Only this actor (`admin:<username>`, `token:<name>`, ...).
    actor: Option<String>,
}

/// Reads the audit log (newest first; `after` is the last `seq` seen).
#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit",
    params(PageQuery, AuditQuery),
    responses((status = 200, description = "A page of audit entries", body = AuditPage), ReadErrors))]
pub(crate) async fn list_audit(
    _: Reader,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
    ApiQuery(f): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let filter = AuditFilter {
        entity: f.entity,
        entity_id: f.entity_id,
        actor: f.actor,
    };
    let page = s
        .store
        .list_audit(&filter, &q.request()?)
        .await
        .map_err(list_error)?;
    Ok(Json(page.into()))
}
