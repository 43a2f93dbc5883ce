//! What the API returns: JSON views of the store's records (snake_case, RFC 3339 times),
//! each documented in the OpenAPI document. Views never carry a hash, a TOTP seed or a KVM
//! value; the only plaintext secrets are in the `Issued*` views, returned once.

use std::collections::BTreeMap;

use portcullis_store as store;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http_util::{rfc3339, rfc3339_opt};

/// Declares an API enum mirroring a store enum: same spellings, with its JSON schema.
macro_rules! api_enum {
    ($(#[$m:meta])* $name:ident from $store:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        // kebab-case spells every variant as the store does (`ReadOnly` → `read-only`); a
        // per-variant `rename = $text` would be lost on utoipa through the macro.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub(crate) enum $name { $($variant),+ }

        #[allow(dead_code)] // not every enum is parsed from input
        impl $name {
            /// Every spelling, for validation messages.
            pub(crate) const ALL: &[&str] = &[$($text),+];
            /// Every variant, in the same order.
            pub(crate) const VARIANTS: &[Self] = &[$($name::$variant),+];

            /// Parses the API spelling into the store's enum.
            pub(crate) fn parse(s: &str) -> Option<$store> {
                match s { $($text => Some(<$store>::$variant),)+ _ => None }
            }
        }

        impl From<$store> for $name {
            fn from(v: $store) -> Self {
                match v { $(<$store>::$variant => $name::$variant),+ }
            }
        }
    };
}

api_enum!(
    /// Whether a developer's apps may call APIs.
    DeveloperStatus from store::DeveloperStatus { Active => "active", Inactive => "inactive" }
);
api_enum!(
    /// Whether an app's credentials are honoured.
    AppStatus from store::AppStatus { Approved => "approved", Revoked => "revoked" }
);
api_enum!(
    /// A credential's own status.
    CredentialStatus from store::KeyStatus { Active => "active", Revoked => "revoked" }
);
api_enum!(
    /// A credential × product approval.
    ApprovalStatus from store::ApprovalStatus { Approved => "approved", Pending => "pending", Revoked => "revoked" }
);
api_enum!(
    /// How new credential × product associations start.
    ApprovalType from store::ApprovalType { Auto => "auto", Manual => "manual" }
);
api_enum!(
    /// Quota interval unit.
    QuotaUnit from store::QuotaUnit { Minute => "minute", Hour => "hour", Day => "day", Month => "month" }
);
api_enum!(
    /// Admin role.
    AdminRole from store::AdminRole { Admin => "admin", Operator => "operator", ReadOnly => "read-only" }
);

/// Custom attributes.
pub(crate) type Attributes = BTreeMap<String, String>;

/// An environment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnvironmentView {
    /// Immutable name.
    pub(crate) name: String,
    /// Free text.
    pub(crate) description: String,
    /// Version (also the ETag).
    pub(crate) version: i64,
    /// Creation time.
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    pub(crate) updated_at: String,
}

impl From<store::Environment> for EnvironmentView {
    fn from(e: store::Environment) -> Self {
        EnvironmentView {
            name: e.name,
            description: e.description,
            version: e.version,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// A developer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeveloperView {
    /// `dev_…`
    pub(crate) id: String,
    /// Lower-cased e-mail.
    pub(crate) email: String,
    /// Display name.
    pub(crate) name: String,
    /// Status.
    pub(crate) status: DeveloperStatus,
    /// Custom attributes.
    pub(crate) attributes: Attributes,
    /// Version (also the ETag).
    pub(crate) version: i64,
    /// Creation time.
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    pub(crate) updated_at: String,
}

impl From<store::DeveloperDetail> for DeveloperView {
    fn from(d: store::DeveloperDetail) -> Self {
        DeveloperView {
            id: d.developer.id,
            email: d.developer.email,
            name: d.developer.name,
            status: d.developer.status.into(),
            attributes: d.attributes,
            version: d.version,
            created_at: rfc3339(d.developer.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

/// An app.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AppView {
    /// `app_…`
    pub(crate) id: String,
    /// Owning developer.
    pub(crate) developer_id: String,
    /// Unique per developer.
    pub(crate) name: String,
    /// Status.
    pub(crate) status: AppStatus,
    /// OAuth redirect URIs.
    pub(crate) callback_urls: Vec<String>,
    /// Custom attributes.
    pub(crate) attributes: Attributes,
    /// Version (also the ETag).
    pub(crate) version: i64,
    /// Creation time.
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    pub(crate) updated_at: String,
}

impl From<store::AppDetail> for AppView {
    fn from(a: store::AppDetail) -> Self {
        AppView {
            id: a.app.id,
            developer_id: a.app.developer_id,
            name: a.app.name,
            status: a.app.status.into(),
            callback_urls: a.callback_urls,
            attributes: a.attributes,
            version: a.version,
            created_at: rfc3339(a.app.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// One credential × product association.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductApprovalView {
    /// Product name.
    pub(crate) product: String,
    /// Approval status.
    pub(crate) status: ApprovalStatus,
}

/// A credential (consumer key + secret); never carries either.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CredentialView {
    /// `key_…`
    pub(crate) id: String,
    /// Public prefix of the consumer key (`pcl_` + 8 characters).
    pub(crate) prefix: String,
    /// Owning app.
    pub(crate) app_id: String,
    /// Owning app's name.
    pub(crate) app_name: String,
    /// Owning developer's e-mail.
    pub(crate) developer_email: String,
    /// The credential's own status.
    pub(crate) status: CredentialStatus,
    /// Per-product approvals.
    pub(crate) products: Vec<ProductApprovalView>,
    /// Issue time.
    #[schema(format = DateTime)]
    pub(crate) issued_at: String,
    /// Expiry (`null`: never).
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
    /// Revocation time, if revoked.
    #[schema(format = DateTime)]
    pub(crate) revoked_at: Option<String>,
    /// Version (also the ETag).
    pub(crate) version: i64,
}

impl From<store::CredentialDetail> for CredentialView {
    fn from(c: store::CredentialDetail) -> Self {
        CredentialView {
            id: c.key.id,
            prefix: c.key.prefix,
            app_id: c.key.app_id,
            app_name: c.key.app_name,
            developer_email: c.key.developer_email,
            status: c.key.status.into(),
            products: c
                .products
                .into_iter()
                .map(|p| ProductApprovalView {
                    product: p.product,
                    status: p.status.into(),
                })
                .collect(),
            issued_at: rfc3339(c.key.created_at),
            expires_at: rfc3339_opt(c.key.expires_at),
            revoked_at: rfc3339_opt(c.key.revoked_at),
            version: c.version,
        }
    }
}

/// A freshly issued credential: the only response that ever contains the key and secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedCredentialView {
    /// What is stored.
    pub(crate) credential: CredentialView,
    /// Consumer key (`pcl_…`): shown once.
    pub(crate) consumer_key: String,
    /// Consumer secret (`pcs_…`): shown once.
    pub(crate) consumer_secret: String,
}

impl From<store::IssuedCredential> for IssuedCredentialView {
    fn from(i: store::IssuedCredential) -> Self {
        IssuedCredentialView {
            consumer_key: i.consumer_key.expose().to_owned(),
            consumer_secret: i.consumer_secret.expose().to_owned(),
            credential: i.credential.into(),
        }
    }
}

/// A product's quota.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Quota {
    /// Requests allowed per interval.
    #[schema(minimum = 1)]
    pub(crate) limit: u64,
    /// Number of units per interval.
    #[schema(minimum = 1)]
    pub(crate) interval: u32,
    /// Interval unit.
    pub(crate) unit: QuotaUnit,
}

/// An API product.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductView {
    /// Immutable name.
    pub(crate) name: String,
    /// Human name.
    pub(crate) display_name: String,
    /// Free text.
    pub(crate) description: String,
    /// API names the product opens (empty: all).
    pub(crate) apis: Vec<String>,
    /// Resource path patterns (`/`, `/*`, `/**`; empty: all).
    pub(crate) paths: Vec<String>,
    /// Allowed methods (empty: all).
    pub(crate) methods: Vec<String>,
    /// Environments (empty: all).
    pub(crate) environments: Vec<String>,
    /// OAuth scopes.
    pub(crate) scopes: Vec<String>,
    /// Quota setting.
    pub(crate) quota: Option<Quota>,
    /// Whether new associations start approved (`auto`) or pending (`manual`).
    pub(crate) approval: ApprovalType,
    /// Custom attributes.
    pub(crate) attributes: Attributes,
    /// Version (also the ETag).
    pub(crate) version: i64,
    /// Creation time.
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    pub(crate) updated_at: String,
}

impl From<store::Product> for ProductView {
    fn from(p: store::Product) -> Self {
        let s = p.spec;
        ProductView {
            name: p.name,
            display_name: s.display_name,
            description: s.description,
            apis: s.apis,
            paths: s.paths,
            methods: s.methods,
            environments: s.environments,
            scopes: s.scopes,
            quota: s.quota.map(|q| Quota {
                limit: q.limit,
                interval: q.interval,
                unit: q.unit.into(),
            }),
            approval: s.approval.into(),
            attributes: s.attributes,
            version: p.version,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A KVM entry: metadata, plus the value only when an admin asked with `reveal=true`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KvmEntryView {
    /// Environment.
    pub(crate) environment: String,
    /// Map name.
    pub(crate) map: String,
    /// Entry key.
    pub(crate) key: String,
    /// Version (also the ETag).
    pub(crate) version: i64,
    /// Last change.
    #[schema(format = DateTime)]
    pub(crate) updated_at: String,
    /// The decrypted value (only with `reveal=true`, admin role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
}

impl KvmEntryView {
    pub(crate) fn new(e: store::KvmEntryInfo, value: Option<String>) -> Self {
        KvmEntryView {
            environment: e.environment,
            map: e.map,
            key: e.key,
            version: e.version,
            updated_at: rfc3339(e.updated_at),
            value,
        }
    }
}

/// One audit record (secrets redacted by the store).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    /// Sequence number (newest first in listings).
    pub(crate) seq: i64,
    /// When the change committed.
    #[schema(format = DateTime)]
    pub(crate) at: String,
    /// Who: `admin:<username>`, `token:<name>`, `cli`, `system`, ...
    pub(crate) actor: String,
    /// `create`, `update`, `delete`, `revoke`, `rotate`, ...
    pub(crate) action: String,
    /// Entity kind.
    pub(crate) entity: String,
    /// Entity id or name.
    pub(crate) entity_id: String,
    /// State before (absent on create).
    pub(crate) before: Option<serde_json::Value>,
    /// State after (absent on delete).
    pub(crate) after: Option<serde_json::Value>,
}

impl From<store::AuditEntry> for AuditEntryView {
    fn from(a: store::AuditEntry) -> Self {
        AuditEntryView {
            seq: a.seq,
            at: rfc3339(a.at),
            actor: a.actor,
            action: a.action,
            entity: a.entity,
            entity_id: a.entity_id,
            before: a.before,
            after: a.after,
        }
    }
}

/// An admin user (no password hash, no TOTP seed).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminUserView {
    /// `usr_…`
    pub(crate) id: String,
    /// Login name.
    pub(crate) username: String,
    /// Role.
    pub(crate) role: AdminRole,
    /// Whether login needs a TOTP code.
    pub(crate) totp_enabled: bool,
    /// Disabled users cannot log in; their tokens stop working.
    pub(crate) disabled: bool,
    /// Version (also the ETag).
    pub(crate) version: i64,
    /// Creation time.
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
}

impl From<store::AdminUser> for AdminUserView {
    fn from(u: store::AdminUser) -> Self {
        AdminUserView {
            id: u.id,
            username: u.username,
            role: u.role.into(),
            totp_enabled: u.totp_enabled,
            disabled: u.disabled,
            version: u.version,
            created_at: rfc3339(u.created_at),
        }
    }
}

/// An admin API token or login session (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminTokenView {
    /// `tok_…`
    pub(crate) id: String,
    /// Public prefix (`pat_` + 8 characters).
    pub(crate) prefix: String,
    /// Label.
    pub(crate) name: String,
    /// Owning user.
    pub(crate) user_id: String,
    /// Role granted (at most the user's).
    pub(crate) role: AdminRole,
    /// `true` for a login session.
    pub(crate) session: bool,
    /// Expiry (`null`: never).
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
    /// Revocation time, if revoked.
    #[schema(format = DateTime)]
    pub(crate) revoked_at: Option<String>,
    /// Issue time.
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
}

impl From<store::AdminToken> for AdminTokenView {
    fn from(t: store::AdminToken) -> Self {
        AdminTokenView {
            id: t.id,
            prefix: t.prefix,
            name: t.name,
            user_id: t.user_id,
            role: t.role.into(),
            session: t.session,
            expires_at: rfc3339_opt(t.expires_at),
            revoked_at: rfc3339_opt(t.revoked_at),
            created_at: rfc3339(t.created_at),
        }
    }
}

/// A freshly issued admin token: the only response containing its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedTokenView {
    /// What is stored.
    pub(crate) token: AdminTokenView,
    /// The bearer token (`pat_…`): shown once.
    pub(crate) secret: String,
}

/// Declares `{items, next}` page types (one per item type, so each has a plain schema name).
macro_rules! page_type {
    ($($name:ident of $item:ty;)+) => {$(
        #[doc = concat!("A page of ", stringify!($item), "s.")]
        #[derive(Debug, Serialize, ToSchema)]
        pub(crate) struct $name {
            /// The items.
            pub(crate) items: Vec<$item>,
            /// Cursor for the next page (`after=`); `null` on the last page.
            pub(crate) next: Option<String>,
        }

        impl<T: Into<$item>> From<store::Page<T>> for $name {
            fn from(p: store::Page<T>) -> Self {
                $name { items: p.items.into_iter().map(Into::into).collect(), next: p.next }
            }
        }
    )+};
}

page_type! {
    EnvironmentPage of EnvironmentView;
    DeveloperPage of DeveloperView;
    AppPage of AppView;
    CredentialPage of CredentialView;
    ProductPage of ProductView;
    KvmEntryPage of KvmEntryView;
    AuditPage of AuditEntryView;
    AdminUserPage of AdminUserView;
    AdminTokenPage of AdminTokenView;
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    /// JSON, schema and store spellings of an API enum agree.
    fn agrees<T: Serialize + PartialSchema>(variants: &[T], all: &[&str]) {
        let json: Vec<String> = variants
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(json, all);
        let RefOr::T(Schema::Object(o)) = T::schema() else {
            panic!("an enum schema is an object schema");
        };
        let schema: Vec<serde_json::Value> = all.iter().map(|s| (*s).into()).collect();
        assert_eq!(o.enum_values, Some(schema));
    }

    #[test]
    fn enums_are_spelled_as_the_store_spells_them() {
        agrees(DeveloperStatus::VARIANTS, DeveloperStatus::ALL);
        agrees(AppStatus::VARIANTS, AppStatus::ALL);
        agrees(CredentialStatus::VARIANTS, CredentialStatus::ALL);
        agrees(ApprovalStatus::VARIANTS, ApprovalStatus::ALL);
        agrees(ApprovalType::VARIANTS, ApprovalType::ALL);
        agrees(QuotaUnit::VARIANTS, QuotaUnit::ALL);
        agrees(AdminRole::VARIANTS, AdminRole::ALL);
        assert_eq!(AdminRole::ALL, ["admin", "operator", "read-only"]);
        for (v, text) in AdminRole::VARIANTS.iter().zip(AdminRole::ALL) {
            let back: AdminRole = AdminRole::parse(text).unwrap().into();
            assert_eq!(back, *v);
        }
    }
}
