//! Storage for Portcullis: the management catalog (environments, developers → apps →
//! credentials with per-product approvals, API products), encrypted key-value maps, the audit
//! log and admin identities, as in Apigee; plus the in-memory credential index the gateway
//! checks on every request.
//!
//! What this crate protects:
//! - **Credentials at rest** (invariant 6): consumer keys, consumer secrets and admin tokens
//!   are stored only as keyed hashes (HMAC-SHA256 under a subkey of the master key,
//!   [`Keyring`]); the plaintext exists once, in the [`SecretKey`]s of an
//!   [`IssuedCredential`] (or [`KeyRepository::create_key`]), redacted in `Debug`. A stolen
//!   database alone cannot even confirm a guessed key. KVM values and TOTP seeds are sealed
//!   (AES-256-GCM).
//! - **The hot path** (invariant 1): the gateway checks keys against a [`KeyIndex`] in memory,
//!   kept current by [`IndexSync`], and never queries the database per request. An entry
//!   carries its app, developer and product grants with compiled scopes, so
//!   [`CredentialEntry::authorize`] decides environment/API/path/method in memory too.
//! - **Every change is accounted for**: catalog writes ([`CatalogRepository`]) validate all
//!   input first (errors name the field: `paths[2]: ...`), check the caller's `version`
//!   ([`StoreError::Stale`]), and change rows, append the audit entry ([`AuditRepository`])
//!   and the change-log row in one transaction; a failing write leaves no trace, cascades
//!   (developer → apps → credentials → approvals) included.
//! - **Upper layers from SQL**: callers see the traits of [`Store`], domain types and
//!   [`StoreError`], never driver types. Two backends sit behind them, [`SqliteStore`] (one
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
//! let index = Arc::new(KeyIndex::with_keyring(keyring));
//! IndexSync::refresh(store.as_ref(), &index).await?; // fail fast if unreadable at boot
//! // or: Arc::new(portcullis_store::PgStore::connect("postgres://gw@db/portcullis", keyring).await?)
//! let _task = IndexSync::spawn(store, Arc::clone(&index), DEFAULT_POLL);
//! let verdict = index.lookup("pcl_…", std::time::SystemTime::now());
//! # let _ = verdict; Ok(()) }
//! ```

mod access;
mod apply;
pub mod client_metadata;
mod error;
mod feed;
mod index;
mod keyring;
mod kvm_snapshot;
mod management;
mod model;
mod oauth;
mod postgres;
mod repo;
mod secret;
mod sql;
mod sqlite;
mod sync;

pub use access::{ProductDenial, ProductEntry, ProductGrant};
pub use apply::{
    AppDoc, ApplyOptions, CatalogApply, CatalogChange, CatalogDocument, ChangeOp, DeveloperDoc,
    EnvironmentDoc, ProductDoc,
};
pub use error::StoreError;
pub use feed::{ChangeFeed, FeedState};
pub use index::{KeyIndex, KeyLookup};
pub use keyring::{Keyring, MASTER_KEY_ENV, MASTER_KEY_LEN, Purpose};
pub use kvm_snapshot::{KvmSnapshot, KvmValue};
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
pub use oauth::{
    ClientProduct, CodeRecord, CodeUse, NewCode, NewSigningKey, NewToken, OAuthClient,
    OAuthRepository, OAuthUser, Rotation, SigningKeyRecord, SigningKeyState, TokenKind, TokenOwner,
    TokenRecord,
};
pub use postgres::PgStore;
pub use repo::KeyRepository;
pub use secret::{
    CONSUMER_SECRET_MARKER, KEY_MARKER, KEY_RANDOM_CHARS, KeyHash, PREFIX_LEN, SecretKey,
};
pub use sqlite::{Durability, SqliteStore};
pub use sync::{DEFAULT_POLL, Follower, IndexSync, KvmSync, StoreSync};
