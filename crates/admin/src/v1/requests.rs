//! Request body schemas. They are never deserialized: `body::Input` reads the JSON field by
//! field (collecting every error) and takes the set of known and required fields from these
//! schemas, so the OpenAPI document is the single statement of what a body may hold.
#![allow(dead_code)] // fields exist for the schema only

use utoipa::ToSchema;

use super::views::{
    AdminRole, AppStatus, ApprovalStatus, ApprovalType, Attributes, DeveloperStatus, Quota,
};

/// Creates an environment.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEnvironment {
    /// `[a-z0-9][a-z0-9-]{0,62}`, immutable.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub(crate) name: String,
    /// Free text.
    pub(crate) description: Option<String>,
}

/// Changes an environment.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateEnvironment {
    /// Free text.
    pub(crate) description: Option<String>,
}

/// Registers a developer.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDeveloper {
    /// E-mail (unique, case-insensitive).
    pub(crate) email: String,
    /// Display name (1–100 characters).
    pub(crate) name: String,
    /// Custom attributes.
    pub(crate) attributes: Option<Attributes>,
}

/// Changes a developer; absent fields keep their value.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateDeveloper {
    /// E-mail.
    pub(crate) email: Option<String>,
    /// Display name.
    pub(crate) name: Option<String>,
    /// Custom attributes (replaces the whole map).
    pub(crate) attributes: Option<Attributes>,
}

/// Sets a developer's status (inactive stops every credential of theirs).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetDeveloperStatus {
    /// New status.
    pub(crate) status: DeveloperStatus,
}

/// Registers an app.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApp {
    /// Unique per developer (1–100 characters).
    pub(crate) name: String,
    /// OAuth redirect URIs (absolute, no fragment).
    pub(crate) callback_urls: Option<Vec<String>>,
    /// Custom attributes.
    pub(crate) attributes: Option<Attributes>,
}

/// Changes an app; absent fields keep their value.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateApp {
    /// Name.
    pub(crate) name: Option<String>,
    /// OAuth redirect URIs (replaces the list).
    pub(crate) callback_urls: Option<Vec<String>>,
    /// Custom attributes (replaces the map).
    pub(crate) attributes: Option<Attributes>,
}

/// Approves or revokes an app (revoked stops every credential of the app).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetAppStatus {
    /// New status.
    pub(crate) status: AppStatus,
}

/// Issues a credential.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCredential {
    /// Products to associate (approved or pending by each product's approval type).
    pub(crate) products: Option<Vec<String>>,
    /// Expiry (must be in the future); absent: never.
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
}

/// Rotates a credential: a new key and secret; the old ones keep working until
/// `old_expires_at`, or for `overlap` (default `24h`). Give at most one of the two.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateCredential {
    /// When the old credential stops working.
    #[schema(format = DateTime)]
    pub(crate) old_expires_at: Option<String>,
    /// How long the old credential keeps working, e.g. `30m`, `24h`, `7d` (at most 90 days).
    pub(crate) overlap: Option<String>,
}

/// Associates a product with a credential.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddCredentialProduct {
    /// Product name.
    pub(crate) product: String,
}

/// Sets one credential × product approval.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetApprovalStatus {
    /// New status.
    pub(crate) status: ApprovalStatus,
}

/// Creates an API product.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProduct {
    /// `[A-Za-z0-9._-]{1,100}`, immutable.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    pub(crate) name: String,
    /// Human name (default: the name).
    pub(crate) display_name: Option<String>,
    /// Free text.
    pub(crate) description: Option<String>,
    /// API names (empty: all).
    pub(crate) apis: Option<Vec<String>>,
    /// Resource paths with Apigee wildcards (`/`, `/*`, `/**`; empty: all).
    pub(crate) paths: Option<Vec<String>>,
    /// Upper-case methods (empty: all).
    pub(crate) methods: Option<Vec<String>>,
    /// Environments (empty: all).
    pub(crate) environments: Option<Vec<String>>,
    /// OAuth scopes.
    pub(crate) scopes: Option<Vec<String>>,
    /// Quota setting.
    pub(crate) quota: Option<Quota>,
    /// `auto` (default) or `manual`.
    pub(crate) approval: Option<ApprovalType>,
    /// Custom attributes.
    pub(crate) attributes: Option<Attributes>,
}

/// Replaces an API product's fields (absent fields take their defaults).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplaceProduct {
    /// Human name (default: the name).
    pub(crate) display_name: Option<String>,
    /// Free text.
    pub(crate) description: Option<String>,
    /// API names (empty: all).
    pub(crate) apis: Option<Vec<String>>,
    /// Resource paths (empty: all).
    pub(crate) paths: Option<Vec<String>>,
    /// Upper-case methods (empty: all).
    pub(crate) methods: Option<Vec<String>>,
    /// Environments (empty: all).
    pub(crate) environments: Option<Vec<String>>,
    /// OAuth scopes.
    pub(crate) scopes: Option<Vec<String>>,
    /// Quota setting.
    pub(crate) quota: Option<Quota>,
    /// `auto` (default) or `manual`.
    pub(crate) approval: Option<ApprovalType>,
    /// Custom attributes.
    pub(crate) attributes: Option<Attributes>,
}

/// Sets a KVM entry.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutKvmEntry {
    /// The value (stored encrypted; never returned unless an admin asks with `reveal=true`).
    pub(crate) value: String,
}

/// Creates an admin user.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateAdminUser {
    /// Login name.
    pub(crate) username: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub(crate) password: String,
    /// Role.
    pub(crate) role: AdminRole,
}

/// Changes an admin user; absent fields keep their value.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateAdminUser {
    /// Role.
    pub(crate) role: Option<AdminRole>,
    /// Disabled users cannot log in and their tokens stop working.
    pub(crate) disabled: Option<bool>,
}

/// Sets a password.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetPassword {
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub(crate) password: String,
}

/// Issues an API token.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// Label (unique per user).
    pub(crate) name: String,
    /// Role granted (at most the user's; default: the user's).
    pub(crate) role: Option<AdminRole>,
    /// Expiry; absent: never.
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
}

/// Logs in.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    /// Login name.
    pub(crate) username: String,
    /// Password.
    pub(crate) password: String,
    /// Current TOTP code (required once TOTP is enrolled).
    pub(crate) totp: Option<String>,
}

/// Confirms TOTP enrolment.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmTotp {
    /// A current code from the authenticator app.
    pub(crate) code: String,
}
