//! Storage for Portcullis API keys: developers → apps → keys, as in Apigee.
//!
//! What this crate protects:
//! - **Keys at rest** (invariant 6): only keyed hashes (HMAC-SHA256 under a subkey of the master key, [`Keyring`]) are stored; the plaintext exists once,
//!   in the [`SecretKey`] returned by [`KeyRepository::create_key`], and is redacted in `Debug`.
//! - **The hot path** (invariant 1): the gateway checks keys against a [`KeyIndex`] in memory,
//!   kept current by [`IndexSync`], and never queries the database per request.
//! - **Upper layers from SQL**: callers see the [`KeyRepository`] trait, domain types and
//!   [`StoreError`], never driver types. Two backends sit behind it, [`SqliteStore`] (one
//!   file, the default) and [`PgStore`] (shared by a cluster), sharing one implementation of
//!   the queries; one contract suite (`tests/contract.rs`) runs against both.
//! - **Propagation between nodes**: with PostgreSQL, writes NOTIFY every node
//!   ([`KeyRepository::subscribe_changes`]), so a revocation reaches other gateways in
//!   milliseconds; polling the [`ChangeMarker`] stays on as the fallback.
//!
//! Typical gateway wiring:
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_store::StoreError> {
//! use std::sync::Arc;
//! use portcullis_store::{IndexSync, KeyIndex, KeyRepository, Keyring, SqliteStore, DEFAULT_POLL};
//! let keyring = Arc::new(Keyring::load_or_create_file(std::path::Path::new("data/master.key"))?);
//! let store: Arc<dyn KeyRepository> = Arc::new(
//!     SqliteStore::open(std::path::Path::new("data/portcullis.db"), Arc::clone(&keyring)).await?,
//! );
//! let index = Arc::new(KeyIndex::new(keyring));
//! IndexSync::refresh(store.as_ref(), &index).await?; // fail fast if unreadable at boot
//! // or: Arc::new(portcullis_store::PgStore::connect("postgres://gw@db/portcullis", keyring).await?)
//! let _task = IndexSync::spawn(store, Arc::clone(&index), DEFAULT_POLL);
//! let verdict = index.lookup("pcl_…", std::time::SystemTime::now());
//! # let _ = verdict; Ok(()) }
//! ```

mod access;
mod error;
mod feed;
mod index;
mod keyring;
mod management;
mod model;
mod postgres;
mod repo;
mod secret;
mod sql;
mod sqlite;
mod sync;

pub use access::{ProductDenial, ProductEntry, ProductGrant};
pub use error::StoreError;
pub use feed::{ChangeFeed, FeedState};
pub use index::{KeyIndex, KeyLookup};
pub use keyring::{Keyring, MASTER_KEY_ENV, MASTER_KEY_LEN, Purpose};
pub use management::{
    Actor, AdminPrincipal, AdminRepository, AdminRole, AdminToken, AdminUser, AppDetail, AppSpec,
    ApprovalStatus, ApprovalType, Attributes, AuditEntry, AuditFilter, AuditRepository,
    CatalogRepository, CredentialDetail, CredentialSpec, DeveloperDetail, DeveloperSpec,
    Environment, IssuedCredential, KvmEntryInfo, KvmRepository, Page, PageRequest, Product,
    ProductApproval, ProductSpec, QuotaSpec, QuotaUnit, Store,
};
pub use model::{
    App, AppStatus, ChangeMarker, CredentialEntry, Developer, DeveloperStatus, KeyRecord, KeyStatus,
};
pub use postgres::PgStore;
pub use repo::KeyRepository;
pub use secret::{CONSUMER_SECRET_MARKER, KEY_MARKER, KEY_RANDOM_CHARS, KeyHash, PREFIX_LEN, SecretKey};
pub use sqlite::SqliteStore;
pub use sync::{DEFAULT_POLL, IndexSync};
