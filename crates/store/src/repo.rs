//! The repository trait every key-storage backend implements (SQLite, PostgreSQL).
//!
//! The gateway, the admin API and the CLI depend on this trait only, never on a backend, so a
//! deployment can switch databases without touching them, and one contract test suite can run
//! against every implementation.

use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::StoreError;
use crate::feed::ChangeFeed;
use crate::model::{
    App, AppStatus, ChangeMarker, CredentialEntry, Developer, DeveloperStatus, KeyRecord,
};
use crate::secret::SecretKey;

/// Developers, apps and API keys. Object-safe: used as `Arc<dyn KeyRepository>`.
///
/// Every write also appends to the change log in the same transaction, so readers in other
/// processes can tell that their credential snapshot is stale, and to the audit log with the
/// actor `cli` (the `portcullis keys` command is this trait's writer). The management plane
/// ([`crate::CatalogRepository`]) is the full interface; these are its older, smaller cousins.
#[async_trait]
pub trait KeyRepository: Send + Sync {
    /// Returns the developer with this e-mail, creating it (active) if missing. An existing
    /// developer is returned unchanged (its name is not overwritten).
    async fn ensure_developer(&self, email: &str, name: &str) -> Result<Developer, StoreError>;

    /// Returns the app `app_name` of the developer `developer_email`, creating the developer
    /// (named after its e-mail) and/or the app (approved) if missing.
    async fn ensure_app(&self, developer_email: &str, app_name: &str) -> Result<App, StoreError>;

    /// Finds an app by its owner's e-mail and its name, without creating anything.
    async fn find_app(&self, developer_email: &str, app_name: &str) -> Result<App, StoreError>;

    /// Issues a new key for `app_id`. The returned [`SecretKey`] is the only copy of the
    /// plaintext that will ever exist; only its hash is stored.
    ///
    /// Fails with `NotFound` for an unknown app, `Conflict` if the app is revoked, and
    /// `Invalid` if `expires_at` is not in the future.
    async fn create_key(
        &self,
        app_id: &str,
        expires_at: Option<SystemTime>,
    ) -> Result<(KeyRecord, SecretKey), StoreError>;

    /// Lists keys, oldest first. `app_filter` matches an app id or an app name.
    async fn list_keys(&self, app_filter: Option<&str>) -> Result<Vec<KeyRecord>, StoreError>;

    /// Revokes the key with this prefix or id. Revoking a revoked key is a no-op that returns
    /// the record as it is. Unknown → `NotFound`.
    async fn revoke_key(&self, prefix_or_id: &str) -> Result<KeyRecord, StoreError>;

    /// Sets an app's status (by app id). Revoking an app makes all its keys fail lookup.
    async fn set_app_status(&self, app_id: &str, status: AppStatus) -> Result<App, StoreError>;

    /// Revokes an app (by app id).
    async fn revoke_app(&self, app_id: &str) -> Result<App, StoreError> {
        self.set_app_status(app_id, AppStatus::Revoked).await
    }

    /// Sets a developer's status; `developer` is an id or an e-mail. Deactivating a developer
    /// makes all of their keys fail lookup.
    async fn set_developer_status(
        &self,
        developer: &str,
        status: DeveloperStatus,
    ) -> Result<Developer, StoreError>;

    /// Every key, revoked and expired ones included (so the gateway can say *why* a key is
    /// refused), joined with its app and developer.
    async fn load_credentials(&self) -> Result<Vec<CredentialEntry>, StoreError>;

    /// The highest committed change-log sequence number (0 when nothing was ever written).
    async fn change_seq(&self) -> Result<i64, StoreError>;

    /// Cheap staleness probe for pollers: the change-log seq plus a backend counter that moves
    /// when any other connection commits.
    async fn change_marker(&self) -> Result<ChangeMarker, StoreError>;

    /// Latest seq committed *through this handle*; lets an in-process index react at once
    /// instead of waiting for the next poll.
    fn local_changes(&self) -> watch::Receiver<i64>;

    /// Starts listening for writes made through *other* handles or nodes, where the backend
    /// can push them (PostgreSQL LISTEN/NOTIFY). `None` means polling
    /// [`change_marker`](Self::change_marker) is the only way to notice them (SQLite).
    fn subscribe_changes(&self) -> Option<ChangeFeed> {
        None
    }
}
