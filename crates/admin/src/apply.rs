//! `POST /admin/v1/apply` and `GET /admin/v1/export`: the whole catalog (environments, API
//! products, developers and apps) as one declarative document, applied all-or-nothing
//! (`portcullis apply`/`diff`/`export`; docs/declarative.md).
//!
//! Apply needs the operator or admin role, dry runs included (a dry run takes the same write
//! lock and meets the same conflicts); export is a read. The audit log names the actor
//! `apply:<caller>` (e.g. `apply:token:ci`), so entries written by an apply can be told from
//! single-entity edits and still name who ran it.
//!
//! Unlike the single-entity bodies (read field by field by `body::Input`), a document is
//! nested, so it is deserialized whole; a shape error (wrong type, unknown field) is a 422 at
//! its JSON Pointer, and the store then reports every semantic problem at its document path,
//! turned into pointers by `error::field_errors`.

mod document;

use axum::Json;
use axum::extract::State;
use portcullis_store::{Actor, ApplyOptions};
use serde::Deserialize;
use serde_json::error::Category;
use utoipa::IntoParams;

pub use document::{
    ApplyOutcome, CatalogApp, CatalogAppStatus, CatalogApproval, CatalogChange, CatalogChangeOp,
    CatalogDeveloper, CatalogDeveloperStatus, CatalogDocument, CatalogEnvironment, CatalogProduct,
    CatalogQuota, CatalogQuotaUnit,
};

use crate::auth::{Reader, Writer};
use crate::body::RawBody;
use crate::error::{ApiError, push_segment};
use crate::http_util::ApiQuery;
use crate::v1::{ApiState, ReadErrors, WriteErrors};

/// `?dry_run=&prune=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApplyQuery {
    /// Work out the changes, then roll back (`portcullis diff`).
    #[serde(default)]
    dry_run: bool,
    /// Delete what the document's sections do not mention (absent sections are left alone).
    #[serde(default)]
    prune: bool,
}

/// Brings the catalog to the document's state in one transaction.
#[utoipa::path(post, path = "/admin/v1/apply", tag = "apply",
    params(ApplyQuery),
    request_body = CatalogDocument,
    responses((status = 200, description = "The changes made (or, for a dry run, that would be \
        made); nothing is written when any problem is found", body = ApplyOutcome),
        WriteErrors))]
pub(crate) async fn apply(
    Writer(caller): Writer,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<ApplyQuery>,
    body: RawBody,
) -> Result<Json<ApplyOutcome>, ApiError> {
    let document = parse(body.json()?)?;
    let options = ApplyOptions {
        dry_run: q.dry_run,
        prune: q.prune,
    };
    let actor = Actor(format!("apply:{}", caller.actor.0));
    let changes = s
        .store
        .apply_catalog(&actor, &document.into_store(), options)
        .await?;
    Ok(Json(ApplyOutcome {
        dry_run: q.dry_run,
        prune: q.prune,
        changes: changes.iter().map(CatalogChange::from).collect(),
    }))
}

/// The whole catalog as a document (credentials are not part of it).
#[utoipa::path(get, path = "/admin/v1/export", tag = "apply",
    responses((status = 200, description = "Every environment, product and developer with \
        their apps, sorted by identity", body = CatalogDocument), ReadErrors))]
pub(crate) async fn export(
    _: Reader,
    State(s): State<ApiState>,
) -> Result<Json<CatalogDocument>, ApiError> {
    let doc = s.store.export_catalog().await?;
    Ok(Json(CatalogDocument::from_store(doc)))
}

/// Deserializes a document; malformed JSON is a 400, a shape error a 422 at its pointer.
fn parse(json: &[u8]) -> Result<CatalogDocument, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let doc = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => ApiError::field(&pointer, without_position(&inner)),
            _ => ApiError::bad_request(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(doc)
}

/// serde's path as a JSON Pointer (`/products/2/paths`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => push_segment(&mut out, &index.to_string()),
            Segment::Map { key } => push_segment(&mut out, key),
            Segment::Enum { variant } => push_segment(&mut out, variant),
            Segment::Unknown => {}
        }
    }
    out
}

/// serde_json appends " at line 1 column 80": meaningless to a client that sent YAML.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(json: &str) -> (u16, String) {
        let err = parse(json.as_bytes()).expect_err(json);
        let body = portcullis_core::problem_body(&err.0, "t");
        (err.0.status().as_u16(), String::from_utf8(body).unwrap())
    }

    #[test]
    fn shape_errors_name_their_pointer() {
        let (status, body) =
            problem(r#"{"products": [{"name": "a"}, {"name": "b", "paths": "/x"}]}"#);
        assert_eq!(status, 422);
        assert!(body.contains(r#""path":"/products/1/paths""#), "{body}");
        assert!(!body.contains("column"), "{body}");
        let (status, body) =
            problem(r#"{"developers": [{"email": "a@b", "name": "A", "statu": "x"}]}"#);
        assert_eq!(status, 422);
        assert!(
            body.contains("/developers/0") && body.contains("statu"),
            "{body}"
        );
        let (status, body) =
            problem(r#"{"developers": [{"email": "a@b", "name": "A", "status": "gone"}]}"#);
        assert_eq!(status, 422);
        assert!(body.contains("/developers/0/status"), "{body}");
        assert_eq!(problem(r#"{"products": [}"#).0, 400);
        assert_eq!(problem(r#"{} {}"#).0, 400);
    }

    #[test]
    fn defaults_fill_in_and_export_leaves_them_out() {
        let doc = parse(
            br#"{"products": [{"name": "p", "description": null, "quota": {"limit": 5, "unit": "day"}}],
                 "developers": [{"email": "a@b.c", "name": "A", "apps": [{"name": "x"}]}]}"#,
        )
        .unwrap();
        let store_doc = doc.clone().into_store();
        assert!(store_doc.environments.is_none(), "absent = not managed");
        let p = &store_doc.products.as_ref().unwrap()[0];
        assert_eq!(p.spec.display_name, "p");
        assert_eq!(p.spec.approval, portcullis_store::ApprovalType::Auto);
        assert_eq!(p.spec.quota.unwrap().interval, 1);
        let d = &store_doc.developers.as_ref().unwrap()[0];
        assert_eq!((d.status, d.apps[0].status), (None, None));
        let back = CatalogDocument::from_store(store_doc);
        assert_eq!(back, doc);
        let json = serde_json::to_string(&back).unwrap();
        assert!(
            !json.contains("display_name") && !json.contains("approval"),
            "{json}"
        );
    }
}
