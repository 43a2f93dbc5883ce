//! The management-plane contract: environments, developers, apps, credentials with per-product
//! approvals, API products, encrypted key-value maps, the audit log and admin identities.
//!
//! This file is the interface the admin API, the CLI (`apply`/`diff`/`export`) and the gateway's
//! credential index are written against; the SQL backends implement it once in `sql/`.
//!
//! Conventions shared by every method:
//! - **Every write takes an [`Actor`]** and appends one [`AuditEntry`] (who, when, what,
//!   before/after with secrets redacted) *in the same transaction* as the change, plus a
//!   `change_log` row, so the audit log can never miss or invent a change.
//! - **Optimistic concurrency**: every mutable entity carries a `version` that starts at 1 and
//!   grows by one per change; updates and deletes take `expected_version: Option<i64>` and fail
//!   with [`StoreError::Stale`] when it does not match (the admin API maps ETag/If-Match onto it).
//! - **Lists are paginated** by an opaque cursor ([`Page`]/[`PageRequest`]), ordered by
//!   creation time then id (stable under inserts).
//! - **Nothing is half-applied**: a failing write changes nothing (one transaction).
//! - Secrets (consumer keys and secrets, admin tokens, passwords, TOTP seeds, KVM values) never
//!   appear in a returned record unless a method says so (`Issued*`, [`KvmRepository::kvm_get`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::StoreError;
use crate::model::{App, AppStatus, Developer, DeveloperStatus, KeyRecord};
use crate::secret::SecretKey;

/// Free-form name → value attributes (Apigee custom attributes), ordered for stable output.
pub type Attributes = BTreeMap<String, String>;

/// Who made a change, as recorded in the audit log: `admin:<username>`, `token:<name>`,
/// `cli`, `apply`, `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// A change made by the gateway itself (boot-time provisioning, migrations).
    pub fn system() -> Self {
        Actor("system".into())
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass back as [`PageRequest::after`] to continue; `None` on the last page.
    pub next: Option<String>,
}

/// Which page to read. `limit` is clamped to 1..=500 (default 100).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Opaque cursor from a previous [`Page::next`].
    pub after: Option<String>,
    /// Maximum items to return.
    pub limit: Option<u32>,
}

/// An environment (`test`, `prod`, ...): listeners serve one, products and KVMs are scoped by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `[a-z0-9][a-z0-9-]{0,62}`, immutable.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// The mutable fields of a developer, for create and update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeveloperSpec {
    /// Unique, case-insensitive.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Custom attributes.
    pub attributes: Attributes,
}

/// The mutable fields of an app, for create and update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSpec {
    /// Unique per developer.
    pub name: String,
    /// OAuth redirect URIs (absolute, no fragment); exact-match semantics (RFC 9700).
    pub callback_urls: Vec<String>,
    /// Custom attributes.
    pub attributes: Attributes,
}

/// Management view of a developer (the gateway's [`Developer`] plus attributes and version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperDetail {
    /// Core fields.
    pub developer: Developer,
    /// Custom attributes.
    pub attributes: Attributes,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// Management view of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDetail {
    /// Core fields.
    pub app: App,
    /// OAuth redirect URIs.
    pub callback_urls: Vec<String>,
    /// Custom attributes.
    pub attributes: Attributes,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it last changed.
    pub updated_at: SystemTime,
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// The stored and API spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored and API spelling.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Invalid(
                        format!(concat!("unknown ", stringify!($name), " {:?}"), other),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// A credential's association with one API product (Apigee's three-level approval).
    ApprovalStatus { Approved => "approved", Pending => "pending", Revoked => "revoked" }
);
text_enum!(
    /// How new credential × product associations start: `auto` → approved, `manual` → pending.
    ApprovalType { Auto => "auto", Manual => "manual" }
);
text_enum!(
    /// Quota interval unit (data only here; the quota policy enforces it).
    QuotaUnit { Minute => "minute", Hour => "hour", Day => "day", Month => "month" }
);
text_enum!(
    /// Admin role: `admin` may do everything, `operator` everything but admin identities,
    /// `read-only` only reads (never KVM plaintext, never the audit log's secrets).
    AdminRole { Admin => "admin", Operator => "operator", ReadOnly => "read-only" }
);

/// A product's quota setting (read by the quota policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    /// Requests allowed per interval.
    pub limit: u64,
    /// Number of units per interval.
    pub interval: u32,
    /// Interval unit.
    pub unit: QuotaUnit,
}

/// The mutable fields of an API product. Resource paths use Apigee's wildcards (`/`, `/*`,
/// `/**`), matched by `portcullis_core::product_scope`; empty `apis`/`methods`/`environments`
/// mean "all".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    /// Human name.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// API names (as in the gateway config) the product opens.
    pub apis: Vec<String>,
    /// Resource path patterns matched against the path after the API's base path.
    pub paths: Vec<String>,
    /// Allowed methods (upper case); empty = all.
    pub methods: Vec<String>,
    /// Environment names; empty = all.
    pub environments: Vec<String>,
    /// OAuth scopes the product grants.
    pub scopes: Vec<String>,
    /// Quota setting, if any.
    pub quota: Option<QuotaSpec>,
    /// Whether new associations start approved or pending.
    pub approval: ApprovalType,
    /// Custom attributes.
    pub attributes: Attributes,
}

/// An API product as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Immutable identifier (`[A-Za-z0-9._-]{1,100}`).
    pub name: String,
    /// The product's fields.
    pub spec: ProductSpec,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// One credential × product association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductApproval {
    /// Product name.
    pub product: String,
    /// Approval status of this association.
    pub status: ApprovalStatus,
}

/// Management view of a credential (consumer key + secret): never carries a hash or plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDetail {
    /// Key id, prefix, owner, status, issued/expiry/revocation times.
    pub key: KeyRecord,
    /// Per-product approvals.
    pub products: Vec<ProductApproval>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A freshly issued credential: the only time the plaintext key and secret exist.
#[derive(Debug)]
pub struct IssuedCredential {
    /// What is stored.
    pub credential: CredentialDetail,
    /// Consumer key (`pcl_…`), shown once.
    pub consumer_key: SecretKey,
    /// Consumer secret (OAuth client secret), shown once.
    pub consumer_secret: SecretKey,
}

/// What to issue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialSpec {
    /// Products to associate; each starts approved or pending by the product's approval type.
    pub products: Vec<String>,
    /// Expiry; `None` = never.
    pub expires_at: Option<SystemTime>,
}

/// A KVM entry's metadata (the value is only returned by [`KvmRepository::kvm_get`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmEntryInfo {
    /// Environment the map belongs to.
    pub environment: String,
    /// Map name.
    pub map: String,
    /// Entry key.
    pub key: String,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// One audit record. `before`/`after` are JSON documents of the entity with secrets redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Monotonic sequence number.
    pub seq: i64,
    /// When the change committed.
    pub at: SystemTime,
    /// Who made it.
    pub actor: String,
    /// `create`, `update`, `delete`, `revoke`, `rotate`, `set-status`, `add-product`,
    /// `set-product-status`, `remove-product`, ...
    pub action: String,
    /// `environment`, `developer`, `app`, `credential`, `product`, `kvm`, `admin-user`, ...
    pub entity: String,
    /// The entity's id or name.
    pub entity_id: String,
    /// State before (absent on create).
    pub before: Option<serde_json::Value>,
    /// State after (absent on delete).
    pub after: Option<serde_json::Value>,
}

/// Filters for reading the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this entity kind.
    pub entity: Option<String>,
    /// Only this entity id.
    pub entity_id: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
}

/// An admin user as shown to admins (no hash, no TOTP seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    /// `usr_…`
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// Role.
    pub role: AdminRole,
    /// Whether TOTP two-factor login is enabled.
    pub totp_enabled: bool,
    /// Disabled users cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it was created.
    pub created_at: SystemTime,
}

/// An admin API token as shown to admins (no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// `tok_…`
    pub id: String,
    /// Public prefix identifying the token (`pat_` + 8 characters).
    pub prefix: String,
    /// Label.
    pub name: String,
    /// Owning user; the token's effective role is at most the user's.
    pub user_id: String,
    /// Role granted to the token (≤ the user's role).
    pub role: AdminRole,
    /// `true` for a login session token, `false` for a long-lived API token.
    pub session: bool,
    /// Expiry.
    pub expires_at: Option<SystemTime>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<SystemTime>,
    /// When it was issued.
    pub created_at: SystemTime,
}

/// The outcome of checking a presented admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    /// The user.
    pub user: AdminUser,
    /// The token used.
    pub token: AdminToken,
    /// Effective role: the lower of the token's and the user's.
    pub role: AdminRole,
}

/// Environments, developers, apps, credentials and products.
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    // --- environments ---
    /// Creates an environment. `Conflict` if the name exists.
    async fn create_environment(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<Environment, StoreError>;
    /// Creates the environment if missing, otherwise returns it unchanged (boot provisioning).
    async fn ensure_environment(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Environment, StoreError>;
    /// Reads one environment.
    async fn get_environment(&self, name: &str) -> Result<Environment, StoreError>;
    /// Lists environments.
    async fn list_environments(&self) -> Result<Vec<Environment>, StoreError>;
    /// Updates the description.
    async fn update_environment(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
        expected_version: Option<i64>,
    ) -> Result<Environment, StoreError>;
    /// Deletes an environment; `Conflict` while KVM entries still live in it or an API product
    /// lists it.
    async fn delete_environment(
        &self,
        actor: &Actor,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;

    // --- developers ---
    /// Registers a developer (active). `Conflict` if the e-mail is taken.
    async fn create_developer(
        &self,
        actor: &Actor,
        spec: &DeveloperSpec,
    ) -> Result<DeveloperDetail, StoreError>;
    /// Reads a developer by id or e-mail.
    async fn get_developer(&self, id_or_email: &str) -> Result<DeveloperDetail, StoreError>;
    /// Lists developers, optionally only those with `status`.
    async fn list_developers(
        &self,
        status: Option<DeveloperStatus>,
        page: &PageRequest,
    ) -> Result<Page<DeveloperDetail>, StoreError>;
    /// Replaces e-mail, name and attributes.
    async fn update_developer(
        &self,
        actor: &Actor,
        id_or_email: &str,
        spec: &DeveloperSpec,
        expected_version: Option<i64>,
    ) -> Result<DeveloperDetail, StoreError>;
    /// Sets status; inactive developers' credentials stop working at every node (cascade).
    async fn set_developer_status_by(
        &self,
        actor: &Actor,
        id_or_email: &str,
        status: DeveloperStatus,
        expected_version: Option<i64>,
    ) -> Result<DeveloperDetail, StoreError>;
    /// Deletes a developer with all their apps and credentials (cascade, one transaction).
    async fn delete_developer(
        &self,
        actor: &Actor,
        id_or_email: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;

    // --- apps ---
    /// Registers an app (approved) for a developer (id or e-mail).
    async fn create_app(
        &self,
        actor: &Actor,
        developer: &str,
        spec: &AppSpec,
    ) -> Result<AppDetail, StoreError>;
    /// Reads an app by id.
    async fn get_app(&self, app_id: &str) -> Result<AppDetail, StoreError>;
    /// Lists apps, optionally of one developer (id or e-mail) and/or with one status.
    async fn list_apps(
        &self,
        developer: Option<&str>,
        status: Option<AppStatus>,
        page: &PageRequest,
    ) -> Result<Page<AppDetail>, StoreError>;
    /// Replaces name, callback URLs and attributes.
    async fn update_app(
        &self,
        actor: &Actor,
        app_id: &str,
        spec: &AppSpec,
        expected_version: Option<i64>,
    ) -> Result<AppDetail, StoreError>;
    /// Approves or revokes an app; revoking cascades to every credential at every node.
    async fn set_app_status_by(
        &self,
        actor: &Actor,
        app_id: &str,
        status: AppStatus,
        expected_version: Option<i64>,
    ) -> Result<AppDetail, StoreError>;
    /// Deletes an app and its credentials.
    async fn delete_app(
        &self,
        actor: &Actor,
        app_id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;

    // --- credentials ---
    /// Issues a consumer key (`pcl_…`) + secret (`pcs_…`) for an app (≈ 190 bits each, stored
    /// as keyed hashes). Unknown product → `NotFound`; revoked app → `Conflict`.
    async fn create_credential(
        &self,
        actor: &Actor,
        app_id: &str,
        spec: &CredentialSpec,
    ) -> Result<IssuedCredential, StoreError>;
    /// Reads a credential by id or prefix.
    async fn get_credential(&self, id_or_prefix: &str) -> Result<CredentialDetail, StoreError>;
    /// Lists an app's credentials.
    async fn list_credentials(&self, app_id: &str) -> Result<Vec<CredentialDetail>, StoreError>;
    /// Rotation: issues a new credential with the same products and approvals, and sets the
    /// old one to expire at `old_expires_at` (both work until then). The old expiry is never
    /// extended and never put in the past (an earlier time means "now"); the new credential
    /// gets the old one's lifetime (expiry − issue time) if it had one. Revoked credential or
    /// app → `Conflict`.
    async fn rotate_credential(
        &self,
        actor: &Actor,
        id_or_prefix: &str,
        old_expires_at: SystemTime,
    ) -> Result<IssuedCredential, StoreError>;
    /// Revokes a credential (all its products stop working).
    async fn revoke_credential(
        &self,
        actor: &Actor,
        id_or_prefix: &str,
        expected_version: Option<i64>,
    ) -> Result<CredentialDetail, StoreError>;
    /// Adds a product association (status from the product's approval type).
    async fn add_credential_product(
        &self,
        actor: &Actor,
        id_or_prefix: &str,
        product: &str,
    ) -> Result<CredentialDetail, StoreError>;
    /// Sets one association's status (approve / revoke / back to pending).
    async fn set_credential_product_status(
        &self,
        actor: &Actor,
        id_or_prefix: &str,
        product: &str,
        status: ApprovalStatus,
        expected_version: Option<i64>,
    ) -> Result<CredentialDetail, StoreError>;
    /// Removes one association.
    async fn remove_credential_product(
        &self,
        actor: &Actor,
        id_or_prefix: &str,
        product: &str,
    ) -> Result<CredentialDetail, StoreError>;

    // --- products ---
    /// Creates a product; invalid paths/methods/scopes → `Invalid` naming the field.
    async fn create_product(
        &self,
        actor: &Actor,
        name: &str,
        spec: &ProductSpec,
    ) -> Result<Product, StoreError>;
    /// Reads a product.
    async fn get_product(&self, name: &str) -> Result<Product, StoreError>;
    /// Lists products.
    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>, StoreError>;
    /// Replaces a product's fields.
    async fn update_product(
        &self,
        actor: &Actor,
        name: &str,
        spec: &ProductSpec,
        expected_version: Option<i64>,
    ) -> Result<Product, StoreError>;
    /// Deletes a product; `Conflict` while credentials are associated with it.
    async fn delete_product(
        &self,
        actor: &Actor,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;
}

/// Encrypted key-value maps, per environment. Values are encrypted with a key derived from the
/// master key (AES-256-GCM via aws-lc-rs, random 96-bit nonce per write, bound to
/// environment/map/key as associated data) and never stored, logged or listed in plaintext.
#[async_trait]
pub trait KvmRepository: Send + Sync {
    /// Creates or replaces an entry.
    async fn kvm_put(
        &self,
        actor: &Actor,
        environment: &str,
        map: &str,
        key: &str,
        value: &str,
        expected_version: Option<i64>,
    ) -> Result<KvmEntryInfo, StoreError>;
    /// Decrypts one value (admin "reveal" and the gateway's KVM policy).
    async fn kvm_get(
        &self,
        environment: &str,
        map: &str,
        key: &str,
    ) -> Result<(KvmEntryInfo, String), StoreError>;
    /// Decrypts one value for a person (the admin API's `reveal`) and records who read it in
    /// the audit log (action `reveal`, metadata only), in one transaction: a reveal that could
    /// not be audited returns nothing.
    async fn kvm_reveal(
        &self,
        actor: &Actor,
        environment: &str,
        map: &str,
        key: &str,
    ) -> Result<(KvmEntryInfo, String), StoreError>;
    /// Lists entries (metadata only) of one map, or of every map when `map` is `None`.
    async fn kvm_list(
        &self,
        environment: &str,
        map: Option<&str>,
    ) -> Result<Vec<KvmEntryInfo>, StoreError>;
    /// Deletes an entry.
    async fn kvm_delete(
        &self,
        actor: &Actor,
        environment: &str,
        map: &str,
        key: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Every entry of one environment, decrypted, for the gateway's in-memory KVM snapshot.
    async fn kvm_load_environment(
        &self,
        environment: &str,
    ) -> Result<Vec<(KvmEntryInfo, String)>, StoreError>;
}

/// The audit log: append-only (only the repositories append, inside their transactions).
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Reads entries newest first, optionally filtered; `after` = the last seen `seq`.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError>;
}

/// Admin users, passwords (argon2id), TOTP seeds (encrypted) and tokens (keyed hashes).
#[async_trait]
pub trait AdminRepository: Send + Sync {
    /// Creates a user; the password is hashed with argon2id (≥ 12 characters required).
    async fn create_admin_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: AdminRole,
    ) -> Result<AdminUser, StoreError>;
    /// Lists users.
    async fn list_admin_users(&self) -> Result<Vec<AdminUser>, StoreError>;
    /// Reads a user by id or username.
    async fn get_admin_user(&self, id_or_username: &str) -> Result<AdminUser, StoreError>;
    /// Changes role and/or disabled flag.
    async fn update_admin_user(
        &self,
        actor: &Actor,
        id_or_username: &str,
        role: AdminRole,
        disabled: bool,
        expected_version: Option<i64>,
    ) -> Result<AdminUser, StoreError>;
    /// Sets a new password.
    async fn set_admin_password(
        &self,
        actor: &Actor,
        id_or_username: &str,
        password: &str,
    ) -> Result<(), StoreError>;
    /// Starts TOTP enrolment: stores a new encrypted seed and returns the `otpauth://` URL.
    /// Login requires a code once [`confirm_totp`](Self::confirm_totp) succeeded.
    async fn begin_totp(&self, actor: &Actor, id_or_username: &str) -> Result<String, StoreError>;
    /// Confirms enrolment with a current code.
    async fn confirm_totp(
        &self,
        actor: &Actor,
        id_or_username: &str,
        code: &str,
    ) -> Result<AdminUser, StoreError>;
    /// Checks username + password (+ TOTP code when enrolled) and issues a session token.
    /// Failures are throttled per username (exponential lock-out) and audited; every failure
    /// returns the same `Unauthorized` error whichever factor was wrong.
    async fn login(
        &self,
        username: &str,
        password: &str,
        totp_code: Option<&str>,
        session_ttl: std::time::Duration,
    ) -> Result<(AdminToken, SecretKey), StoreError>;
    /// Issues a long-lived API token for a user with a role ≤ the user's.
    async fn create_admin_token(
        &self,
        actor: &Actor,
        user: &str,
        name: &str,
        role: AdminRole,
        expires_at: Option<SystemTime>,
    ) -> Result<(AdminToken, SecretKey), StoreError>;
    /// Lists a user's tokens (or everyone's).
    async fn list_admin_tokens(&self, user: Option<&str>) -> Result<Vec<AdminToken>, StoreError>;
    /// Revokes a token by id or prefix.
    async fn revoke_admin_token(&self, actor: &Actor, id_or_prefix: &str)
    -> Result<(), StoreError>;
    /// Resolves a presented token; `Unauthorized` if unknown, expired, revoked or the user is
    /// disabled.
    async fn authenticate_admin_token(&self, token: &str) -> Result<AdminPrincipal, StoreError>;
    /// True when no admin user exists yet (first-run bootstrap).
    async fn admin_users_empty(&self) -> Result<bool, StoreError>;
}

/// Everything a deployment's store offers; what the admin API and the CLI hold.
pub trait Store:
    crate::KeyRepository
    + CatalogRepository
    + KvmRepository
    + AuditRepository
    + AdminRepository
    + crate::OAuthRepository
    + crate::CatalogApply
{
}

impl<T> Store for T where
    T: crate::KeyRepository
        + CatalogRepository
        + KvmRepository
        + AuditRepository
        + AdminRepository
        + crate::OAuthRepository
        + crate::CatalogApply
{
}
