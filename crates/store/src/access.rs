//! What a credential's product approvals open, decided in memory on the gateway's hot path.
//!
//! The credential index holds, for each credential, every product association with its status
//! and the product's compiled [`ProductScope`]. [`CredentialEntry::authorize`] answers "does
//! any approved product of this credential open `method path` on this API in this
//! environment", and when not, *why*, so the gateway can answer with distinct error codes:
//! no approved association at all (`key.not_approved`) versus approved products that do not
//! cover the request (`product.path_not_allowed`, ...). Products are shared (`Arc`) between
//! the credentials that use them, so a large index compiles each product once.

use std::sync::Arc;

use portcullis_core::{ProductScope, ScopeMiss};

use crate::management::{ApprovalStatus, Attributes, QuotaSpec};
use crate::model::CredentialEntry;

/// One API product as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEntry {
    /// Product name (shared, so attaching it to a request is a reference-count bump).
    pub name: Arc<str>,
    /// Environments, APIs, resource paths and methods it opens.
    pub scope: ProductScope,
    /// OAuth scopes it grants.
    pub scopes: Vec<String>,
    /// Quota setting (read by the quota policy).
    pub quota: Option<QuotaSpec>,
    /// Custom attributes (exposed to policies as flow variables).
    pub attributes: Attributes,
}

/// A credential's association with one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductGrant {
    /// Only `Approved` opens anything.
    pub status: ApprovalStatus,
    /// The product.
    pub product: Arc<ProductEntry>,
}

/// Why no product of a credential opens a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductDenial {
    /// The credential has no approved product association: none at all, or only pending or
    /// revoked ones (`key.not_approved`).
    NotApproved,
    /// Approved products exist but none covers the request; the most specific miss among
    /// them (environment < API < path < method), e.g. `Path` → `product.path_not_allowed`.
    OutOfScope(ScopeMiss),
}

impl CredentialEntry {
    /// Whether at least one product association is approved.
    pub fn has_approved_product(&self) -> bool {
        self.products
            .iter()
            .any(|g| g.status == ApprovalStatus::Approved)
    }

    /// The first approved product (by name) that opens `method path_suffix` on `api` in
    /// `env`. This judges only the product level: the caller checks the key, app and
    /// developer first (see [`crate::KeyLookup`]).
    pub fn authorize(
        &self,
        env: &str,
        api: &str,
        path_suffix: &str,
        method: &http::Method,
    ) -> Result<&Arc<ProductEntry>, ProductDenial> {
        let mut closest: Option<ScopeMiss> = None;
        for grant in self
            .products
            .iter()
            .filter(|g| g.status == ApprovalStatus::Approved)
        {
            match grant.product.scope.check(env, api, path_suffix, method) {
                Ok(()) => return Ok(&grant.product),
                Err(miss) => closest = closest.max(Some(miss)),
            }
        }
        Err(closest.map_or(ProductDenial::NotApproved, ProductDenial::OutOfScope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppStatus, DeveloperStatus, KeyStatus};
    use crate::secret::KeyHash;
    use http::Method;
    use portcullis_core::ResourcePattern;

    fn product(name: &str, envs: &[&str], paths: &[&str], methods: &[Method]) -> Arc<ProductEntry> {
        Arc::new(ProductEntry {
            name: name.into(),
            scope: ProductScope {
                apis: vec!["orders".into()],
                paths: paths
                    .iter()
                    .map(|p| ResourcePattern::parse(p).unwrap())
                    .collect(),
                methods: methods.to_vec(),
                environments: envs.iter().map(|e| (*e).to_owned()).collect(),
            },
            scopes: vec![],
            quota: None,
            attributes: Attributes::new(),
        })
    }

    fn entry(grants: Vec<(ApprovalStatus, Arc<ProductEntry>)>) -> CredentialEntry {
        CredentialEntry {
            key_hash: KeyHash([0; 32]),
            key_id: "key_1".into(),
            prefix: "pcl_12345678".into(),
            key_status: KeyStatus::Active,
            expires_at: None,
            app_id: "app_1".into(),
            app_name: "shop".into(),
            app_status: AppStatus::Approved,
            developer_id: "dev_1".into(),
            developer_email: "a@example.com".into(),
            developer_status: DeveloperStatus::Active,
            products: grants
                .into_iter()
                .map(|(status, product)| ProductGrant { status, product })
                .collect(),
            app_attributes: Attributes::new(),
            developer_attributes: Attributes::new(),
        }
    }

    #[test]
    fn only_approved_associations_open_anything() {
        let all = product("all", &[], &[], &[]);
        for grants in [
            vec![],
            vec![(ApprovalStatus::Pending, Arc::clone(&all))],
            vec![(ApprovalStatus::Revoked, Arc::clone(&all))],
        ] {
            let e = entry(grants);
            assert!(!e.has_approved_product());
            assert_eq!(
                e.authorize("prod", "orders", "/x", &Method::GET)
                    .unwrap_err(),
                ProductDenial::NotApproved
            );
        }
        let e = entry(vec![(ApprovalStatus::Approved, all)]);
        assert_eq!(
            &*e.authorize("prod", "orders", "/x", &Method::GET)
                .unwrap()
                .name,
            "all"
        );
    }

    #[test]
    fn the_first_matching_product_wins_and_misses_report_the_closest() {
        let reads = product("reads", &["prod"], &["/items/**"], &[Method::GET]);
        let test_only = product("test-only", &["test"], &["/"], &[]);
        let e = entry(vec![
            (ApprovalStatus::Approved, Arc::clone(&reads)),
            (ApprovalStatus::Approved, test_only),
            (
                ApprovalStatus::Pending,
                product("pending-all", &[], &[], &[]),
            ),
        ]);
        let at = |env, path, m: Method| {
            e.authorize(env, "orders", path, &m)
                .map(|p| p.name.to_string())
        };
        assert_eq!(at("prod", "/items/7", Method::GET).unwrap(), "reads");
        assert_eq!(
            at("test", "/anything", Method::DELETE).unwrap(),
            "test-only"
        );
        // `reads` got furthest (past environment and API) before refusing.
        assert_eq!(
            at("prod", "/users", Method::GET).unwrap_err(),
            ProductDenial::OutOfScope(ScopeMiss::Path)
        );
        assert_eq!(
            at("prod", "/items/7", Method::POST).unwrap_err(),
            ProductDenial::OutOfScope(ScopeMiss::Method)
        );
        assert_eq!(
            at("stage", "/items/7", Method::GET).unwrap_err(),
            ProductDenial::OutOfScope(ScopeMiss::Environment)
        );
        assert_eq!(
            e.authorize("prod", "billing", "/items/7", &Method::GET)
                .unwrap_err(),
            ProductDenial::OutOfScope(ScopeMiss::Api)
        );
    }
}
