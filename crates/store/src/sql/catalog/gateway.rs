//! The gateway's credential snapshot: every credential with its app, developer and product
//! approvals, loaded in one statement so it is one consistent snapshot on both backends
//! (separate queries could interleave with a write and pair a new approval with an old
//! product, or the reverse).
//!
//! A product whose stored scope no longer parses (only possible through hand edits: writes
//! validate it) is left out of every credential with a warning: refusing the requests it
//! would have opened is safe, while failing the whole load would freeze the index and keep
//! revoked keys working.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use portcullis_core::{ProductScope, ResourcePattern};

use super::{parse_attributes, parse_list};
use crate::StoreError;
use crate::access::{ProductEntry, ProductGrant};
use crate::management::{ApprovalStatus, QuotaSpec, QuotaUnit};
use crate::model::CredentialEntry;
use crate::sql::backend::Backend;
use crate::sql::{SqlConn, SqlRow, rows};

const SNAPSHOT: &str = "SELECT k.key_hash, k.id AS key_id, k.prefix, k.status AS key_status, \
     k.expires_at, a.id AS app_id, a.name AS app_name, a.status AS app_status, \
     a.attributes AS app_attributes, d.id AS developer_id, d.email AS developer_email, \
     d.status AS developer_status, d.attributes AS developer_attributes, \
     cp.status AS approval, p.name AS product, p.apis, p.paths, p.methods, p.environments, \
     p.scopes, p.quota_limit, p.quota_interval, p.quota_unit, p.attributes AS product_attributes \
     FROM api_keys k JOIN apps a ON a.id = k.app_id JOIN developers d ON d.id = a.developer_id \
     LEFT JOIN credential_products cp ON cp.credential_id = k.id \
     LEFT JOIN products p ON p.name = cp.product \
     ORDER BY k.id, p.name";

pub(crate) async fn load_credentials<B: Backend>(
    b: &B,
) -> Result<Vec<CredentialEntry>, StoreError> {
    let mut conn = b.read_conn().await?;
    let rows = conn.fetch_all(SNAPSHOT, &[]).await?;
    let mut products: HashMap<String, Option<Arc<ProductEntry>>> = HashMap::new();
    let mut out: Vec<CredentialEntry> = Vec::new();
    for row in &rows {
        let key_id = row.text("key_id")?;
        let entry = match out.last_mut() {
            Some(last) if last.key_id == key_id => last,
            _ => {
                out.push(rows::credential(row)?);
                out.last_mut().expect("just pushed")
            }
        };
        let Some(name) = row.opt_text("product")? else {
            continue;
        };
        let status = ApprovalStatus::parse(&row.opt_text("approval")?.unwrap_or_default())
            .map_err(|_| StoreError::Corrupt("unknown approval status".into()))?;
        let product = match products.entry(name) {
            Entry::Occupied(known) => known.get().clone(),
            Entry::Vacant(slot) => {
                let compiled = match compile(slot.key(), row) {
                    Ok(p) => Some(Arc::new(p)),
                    Err(e) => {
                        tracing::warn!(product = %slot.key(), error = %e,
                            "API product cannot be compiled; credentials lose its grant");
                        None
                    }
                };
                slot.insert(compiled).clone()
            }
        };
        if let Some(product) = product {
            entry.products.push(ProductGrant { status, product });
        }
    }
    // Byte order, not the database's collation, so "the first matching product" is the same
    // product on every backend.
    for entry in &mut out {
        entry
            .products
            .sort_by(|a, b| a.product.name.cmp(&b.product.name));
    }
    Ok(out)
}

/// Builds the gateway's view of the product columns of a snapshot row.
fn compile(name: &str, row: &impl SqlRow) -> Result<ProductEntry, StoreError> {
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        parse_list(&row.opt_text(col)?.unwrap_or_default(), col)
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("product {what} does not parse"));
    let paths = list("paths")?
        .iter()
        .map(|p| ResourcePattern::parse(p).map_err(|_| corrupt("path")))
        .collect::<Result<_, _>>()?;
    let methods = list("methods")?
        .iter()
        .map(|m| http::Method::from_bytes(m.as_bytes()).map_err(|_| corrupt("method")))
        .collect::<Result<_, _>>()?;
    let quota = match (
        row.opt_int("quota_limit")?,
        row.opt_int("quota_interval")?,
        row.opt_text("quota_unit")?,
    ) {
        (Some(limit), Some(interval), Some(unit)) => Some(QuotaSpec {
            limit: u64::try_from(limit).map_err(|_| corrupt("quota"))?,
            interval: u32::try_from(interval).map_err(|_| corrupt("quota"))?,
            unit: QuotaUnit::parse(&unit).map_err(|_| corrupt("quota"))?,
        }),
        _ => None,
    };
    Ok(ProductEntry {
        name: name.into(),
        scope: ProductScope {
            apis: list("apis")?,
            paths,
            methods,
            environments: list("environments")?,
        },
        scopes: list("scopes")?,
        quota,
        attributes: parse_attributes(
            &row.opt_text("product_attributes")?.unwrap_or_default(),
            "product",
        )?,
    })
}
