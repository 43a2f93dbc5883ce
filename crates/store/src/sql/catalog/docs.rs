//! The JSON documents of catalog entities recorded as an audit entry's `before`/`after`.
//!
//! Built from the management views (which never carry hashes or plaintext secrets), so a
//! secret cannot reach the audit log through these; `audit::redact` is the second line.
//! Times are RFC 3339 (UTC, milliseconds) so an operator can read them.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::management::{
    AppDetail, CredentialDetail, DeveloperDetail, Environment, Product, ProductApproval,
};

fn time(t: SystemTime) -> Value {
    Value::String(humantime::format_rfc3339_millis(t).to_string())
}

fn opt_time(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, time)
}

pub(crate) fn environment(e: &Environment) -> Value {
    json!({
        "name": e.name,
        "description": e.description,
        "version": e.version,
        "created_at": time(e.created_at),
        "updated_at": time(e.updated_at),
    })
}

pub(crate) fn developer(d: &DeveloperDetail) -> Value {
    json!({
        "id": d.developer.id,
        "email": d.developer.email,
        "name": d.developer.name,
        "status": d.developer.status.as_str(),
        "attributes": d.attributes,
        "version": d.version,
        "created_at": time(d.developer.created_at),
        "updated_at": time(d.updated_at),
    })
}

pub(crate) fn app(a: &AppDetail) -> Value {
    json!({
        "id": a.app.id,
        "developer_id": a.app.developer_id,
        "name": a.app.name,
        "status": a.app.status.as_str(),
        "callback_urls": a.callback_urls,
        "attributes": a.attributes,
        "version": a.version,
        "created_at": time(a.app.created_at),
        "updated_at": time(a.updated_at),
    })
}

fn approvals(products: &[ProductApproval]) -> Value {
    products
        .iter()
        .map(|p| json!({"product": p.product, "status": p.status.as_str()}))
        .collect()
}

/// A credential: its public prefix identifies it; key and secret never appear.
pub(crate) fn credential(c: &CredentialDetail) -> Value {
    json!({
        "id": c.key.id,
        "prefix": c.key.prefix,
        "app_id": c.key.app_id,
        "status": c.key.status.as_str(),
        "products": approvals(&c.products),
        "version": c.version,
        "issued_at": time(c.key.created_at),
        "expires_at": opt_time(c.key.expires_at),
        "revoked_at": opt_time(c.key.revoked_at),
    })
}

pub(crate) fn product(p: &Product) -> Value {
    let s = &p.spec;
    json!({
        "name": p.name,
        "display_name": s.display_name,
        "description": s.description,
        "apis": s.apis,
        "paths": s.paths,
        "methods": s.methods,
        "environments": s.environments,
        "scopes": s.scopes,
        "quota": s.quota.map(|q| json!({
            "limit": q.limit,
            "interval": q.interval,
            "unit": q.unit.as_str(),
        })),
        "approval_type": s.approval.as_str(),
        "attributes": s.attributes,
        "version": p.version,
        "created_at": time(p.created_at),
        "updated_at": time(p.updated_at),
    })
}
