//! Declarative management: bring the catalog to the state a document describes, in one
//! transaction, and read the catalog back as such a document (`portcullis apply`/`diff`/
//! `export`, `POST /admin/v1/apply`, `GET /admin/v1/export`).
//!
//! What a document manages, and what it leaves alone:
//! - **Sections**: `environments`, `products` and `developers` (with their apps). A section
//!   that is absent (`None`) is not managed at all, not even by `prune`; an empty list is
//!   managed and, with `prune`, empties the catalog of that kind.
//! - **Identity**: environments and products by name, developers by e-mail (case-insensitive),
//!   apps by name within their developer. Renaming is a delete plus a create.
//! - **Status** of developers and apps is only changed when the document states it, so an app
//!   revoked during an incident is not silently re-approved by the next `apply` of a file that
//!   does not mention status. New ones start active / approved.
//! - **Credentials are never in a document**: their keys and secrets are shown once and stored
//!   only as hashes, so a file in git could neither hold nor recreate them. They are issued,
//!   approved and revoked through the admin API (`portcullis credentials ...`). Pruning an app
//!   or developer deletes its credentials (listed in the change list); pruning a product that
//!   credentials are associated with is refused.
//!
//! Guarantees: everything is validated before anything is written, every problem named by
//! its place in the document (`products[2].paths[0]: ...`); the changes, their audit entries
//! (one per entity, with the caller's actor) and one change-log row commit together or not at
//! all; a dry run does the same work and rolls back, so it reports exactly what `apply` would
//! do, conflicts included; applying the same document twice changes nothing the second time.

use std::fmt;

use async_trait::async_trait;

use crate::StoreError;
use crate::management::{Actor, AppSpec, DeveloperSpec, ProductSpec};
use crate::model::{AppStatus, DeveloperStatus};

/// The desired state of (parts of) the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogDocument {
    /// Environments; `None` = not managed.
    pub environments: Option<Vec<EnvironmentDoc>>,
    /// API products; `None` = not managed.
    pub products: Option<Vec<ProductDoc>>,
    /// Developers with their apps; `None` = not managed.
    pub developers: Option<Vec<DeveloperDoc>>,
}

/// One environment of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentDoc {
    /// Name (identity).
    pub name: String,
    /// Free text.
    pub description: String,
}

/// One API product of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDoc {
    /// Name (identity).
    pub name: String,
    /// Every field of the product.
    pub spec: ProductSpec,
}

/// One developer of a document, with the apps they own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeveloperDoc {
    /// E-mail (identity), name and attributes.
    pub spec: DeveloperSpec,
    /// `None` = keep the stored status (new developers start active).
    pub status: Option<DeveloperStatus>,
    /// The developer's apps; with `prune`, apps not listed are deleted.
    pub apps: Vec<AppDoc>,
}

/// One app of a developer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppDoc {
    /// Name (identity within the developer), callback URLs and attributes.
    pub spec: AppSpec,
    /// `None` = keep the stored status (new apps start approved).
    pub status: Option<AppStatus>,
}

/// How to apply a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Work out and return the changes, then roll back.
    pub dry_run: bool,
    /// Delete what a managed section does not mention.
    pub prune: bool,
}

/// What happens to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    /// It is created.
    Create,
    /// Some of its fields change.
    Update,
    /// It is deleted (pruned, or cascaded from a pruned owner).
    Delete,
}

impl ChangeOp {
    /// `create`, `update`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        }
    }

    /// The sign printed in change lists: `+`, `~`, `-`.
    pub fn sign(self) -> char {
        match self {
            ChangeOp::Create => '+',
            ChangeOp::Update => '~',
            ChangeOp::Delete => '-',
        }
    }
}

/// One entry of the change list `apply` returns, in the order the changes were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChange {
    /// Create, update or delete.
    pub op: ChangeOp,
    /// `environment`, `product`, `developer`, `app` or `credential`.
    pub entity: &'static str,
    /// Environment or product name, developer e-mail, `email/app` for apps, the key prefix
    /// for credentials.
    pub name: String,
    /// The fields an update changes (document spelling, e.g. `paths`, `status`); empty
    /// otherwise.
    pub fields: Vec<&'static str>,
}

impl fmt::Display for CatalogChange {
    /// `+ product payments`, `~ product orders: paths, methods`, `- app ann@example.com/shop`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.op.sign(), self.entity, self.name)?;
        if !self.fields.is_empty() {
            write!(f, ": {}", self.fields.join(", "))?;
        }
        Ok(())
    }
}

/// Declarative apply and export of the catalog.
#[async_trait]
pub trait CatalogApply: Send + Sync {
    /// Brings the managed sections to the document's state in one transaction and returns
    /// what changed (empty when nothing did). `Invalid` names every problem by its document
    /// path; any error leaves the catalog untouched.
    async fn apply_catalog(
        &self,
        actor: &Actor,
        document: &CatalogDocument,
        options: ApplyOptions,
    ) -> Result<Vec<CatalogChange>, StoreError>;

    /// The whole catalog (every section, sorted by identity) as a document that `apply`
    /// would reproduce on an empty store. Credentials are not part of it.
    async fn export_catalog(&self) -> Result<CatalogDocument, StoreError>;
}
