//! The JSON shape of a catalog document (what `POST /admin/v1/apply` takes and
//! `GET /admin/v1/export` returns; `portcullis apply -f` sends its YAML file in this shape) and
//! of the change list, with the conversions to and from the store's types.
//!
//! Fields mirror the single-entity bodies of the API (`POST /products`, `POST /developers`,
//! ...), so a product entry is a `POST /products` body. Absent or `null` fields take their
//! defaults; export leaves defaults out (an empty list, `approval: auto`, a display name equal
//! to the name), so exported files stay short and diff well.

use std::collections::BTreeMap;
use std::fmt;

use portcullis_store as store;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// `null` → the default, for fields a YAML author may leave empty (`description:`).
fn or_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A catalog document. A section that is absent is not managed (not even by `prune`); an
/// empty list is managed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogDocument {
    /// Environments (identity: `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<CatalogEnvironment>>,
    /// API products (identity: `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<CatalogProduct>>,
    /// Developers with their apps (identity: `email`, then app `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developers: Option<Vec<CatalogDeveloper>>,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEnvironment {
    /// `[a-z0-9][a-z0-9-]{0,62}`.
    pub name: String,
    /// Free text.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub description: String,
}

/// An API product (the fields of `POST /admin/v1/products`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogProduct {
    /// `[A-Za-z0-9._-]{1,100}`.
    pub name: String,
    /// Human name (default: the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub description: String,
    /// API names (empty: all).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub apis: Vec<String>,
    /// Resource paths with Apigee wildcards (`/`, `/*`, `/**`; empty: all).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub paths: Vec<String>,
    /// Upper-case methods (empty: all).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub methods: Vec<String>,
    /// Environments (empty: all).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub environments: Vec<String>,
    /// OAuth scopes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub scopes: Vec<String>,
    /// Quota setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<CatalogQuota>,
    /// `auto` (default) or `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<CatalogApproval>,
    /// Custom attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub attributes: BTreeMap<String, String>,
}

/// A product's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuota {
    /// Requests per interval (≥ 1).
    pub limit: u64,
    /// Number of units per interval (≥ 1, default 1).
    #[serde(default = "one")]
    pub interval: u32,
    /// Interval unit.
    pub unit: CatalogQuotaUnit,
}

fn one() -> u32 {
    1
}

/// A developer and their apps (the fields of `POST /admin/v1/developers`, plus status and
/// apps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogDeveloper {
    /// E-mail (identity, case-insensitive).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `active` or `inactive`; absent: keep the stored status (new developers are active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CatalogDeveloperStatus>,
    /// Custom attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub attributes: BTreeMap<String, String>,
    /// The developer's apps; with `prune`, apps not listed are deleted with their credentials.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub apps: Vec<CatalogApp>,
}

/// An app (the fields of `POST /admin/v1/developers/{id}/apps`, plus status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogApp {
    /// Name (identity within the developer).
    pub name: String,
    /// `approved` or `revoked`; absent: keep the stored status (new apps are approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CatalogAppStatus>,
    /// OAuth redirect URIs (absolute, no fragment).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub callback_urls: Vec<String>,
    /// Custom attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub attributes: BTreeMap<String, String>,
}

/// Declares a document enum with the store's spelling and its conversions.
macro_rules! doc_enum {
    ($(#[$m:meta])* $name:ident <=> $store:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        // `lowercase` spells every variant as the store does; a per-variant `rename = $text`
        // would be lost on utoipa through the macro (the schema would say `Active`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every variant with the store's spelling (checked against serde's in a test).
            #[cfg(test)]
            pub(crate) const SPELLINGS: &[($name, &str)] = &[$(($name::$variant, $text)),+];
        }

        impl From<$name> for $store {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => <$store>::$variant),+ }
            }
        }

        impl From<$store> for $name {
            fn from(v: $store) -> Self {
                match v { $(<$store>::$variant => $name::$variant),+ }
            }
        }
    };
}

doc_enum!(
    /// A developer's status.
    CatalogDeveloperStatus <=> store::DeveloperStatus { Active => "active", Inactive => "inactive" }
);
doc_enum!(
    /// An app's status.
    CatalogAppStatus <=> store::AppStatus { Approved => "approved", Revoked => "revoked" }
);
doc_enum!(
    /// How new credential × product associations start.
    CatalogApproval <=> store::ApprovalType { Auto => "auto", Manual => "manual" }
);
doc_enum!(
    /// Quota interval unit.
    CatalogQuotaUnit <=> store::QuotaUnit { Minute => "minute", Hour => "hour", Day => "day", Month => "month" }
);
doc_enum!(
    /// What happens to an entity.
    CatalogChangeOp <=> store::ChangeOp { Create => "create", Update => "update", Delete => "delete" }
);

/// One change, in the order it was (or, for a dry run, would be) made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CatalogChange {
    /// `create`, `update` or `delete`.
    pub op: CatalogChangeOp,
    /// `environment`, `product`, `developer`, `app` or `credential` (deleted with its app).
    pub entity: String,
    /// Name, e-mail, `email/app`, or a credential's key prefix.
    pub name: String,
    /// The fields an update changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl fmt::Display for CatalogChange {
    /// `+ product payments`, `~ product orders: paths, methods`, `- app ann@example.com/shop`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = store::ChangeOp::from(self.op).sign();
        write!(f, "{sign} {} {}", self.entity, self.name)?;
        if !self.fields.is_empty() {
            write!(f, ": {}", self.fields.join(", "))?;
        }
        Ok(())
    }
}

impl From<&store::CatalogChange> for CatalogChange {
    fn from(c: &store::CatalogChange) -> Self {
        CatalogChange {
            op: c.op.into(),
            entity: c.entity.to_owned(),
            name: c.name.clone(),
            fields: c.fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }
}

/// What `POST /admin/v1/apply` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApplyOutcome {
    /// Whether this was a dry run (nothing was written).
    pub dry_run: bool,
    /// Whether unmentioned entities of managed sections were deleted.
    pub prune: bool,
    /// The changes; empty when the catalog already matched the document.
    pub changes: Vec<CatalogChange>,
}

impl CatalogDocument {
    /// The store's view of the document (defaults filled in).
    pub(crate) fn into_store(self) -> store::CatalogDocument {
        store::CatalogDocument {
            environments: self.environments.map(|list| {
                list.into_iter()
                    .map(|e| store::EnvironmentDoc {
                        name: e.name,
                        description: e.description,
                    })
                    .collect()
            }),
            products: self
                .products
                .map(|list| list.into_iter().map(CatalogProduct::into_store).collect()),
            developers: self.developers.map(|list| {
                list.into_iter()
                    .map(|d| store::DeveloperDoc {
                        spec: store::DeveloperSpec {
                            email: d.email,
                            name: d.name,
                            attributes: d.attributes,
                        },
                        status: d.status.map(Into::into),
                        apps: d
                            .apps
                            .into_iter()
                            .map(|a| store::AppDoc {
                                spec: store::AppSpec {
                                    name: a.name,
                                    callback_urls: a.callback_urls,
                                    attributes: a.attributes,
                                },
                                status: a.status.map(Into::into),
                            })
                            .collect(),
                    })
                    .collect()
            }),
        }
    }

    /// The document of an exported catalog, defaults left out.
    pub(crate) fn from_store(doc: store::CatalogDocument) -> Self {
        CatalogDocument {
            environments: doc.environments.map(|list| {
                list.into_iter()
                    .map(|e| CatalogEnvironment {
                        name: e.name,
                        description: e.description,
                    })
                    .collect()
            }),
            products: doc
                .products
                .map(|list| list.into_iter().map(CatalogProduct::from_store).collect()),
            developers: doc.developers.map(|list| {
                list.into_iter()
                    .map(|d| CatalogDeveloper {
                        email: d.spec.email,
                        name: d.spec.name,
                        status: d.status.map(Into::into),
                        attributes: d.spec.attributes,
                        apps: d
                            .apps
                            .into_iter()
                            .map(|a| CatalogApp {
                                name: a.spec.name,
                                status: a.status.map(Into::into),
                                callback_urls: a.spec.callback_urls,
                                attributes: a.spec.attributes,
                            })
                            .collect(),
                    })
                    .collect()
            }),
        }
    }
}

impl CatalogProduct {
    fn into_store(self) -> store::ProductDoc {
        store::ProductDoc {
            spec: store::ProductSpec {
                display_name: self.display_name.unwrap_or_else(|| self.name.clone()),
                description: self.description,
                apis: self.apis,
                paths: self.paths,
                methods: self.methods,
                environments: self.environments,
                scopes: self.scopes,
                quota: self.quota.map(|q| store::QuotaSpec {
                    limit: q.limit,
                    interval: q.interval,
                    unit: q.unit.into(),
                }),
                approval: self.approval.map_or(store::ApprovalType::Auto, Into::into),
                attributes: self.attributes,
            },
            name: self.name,
        }
    }

    fn from_store(p: store::ProductDoc) -> Self {
        let s = p.spec;
        CatalogProduct {
            display_name: (s.display_name != p.name).then_some(s.display_name),
            name: p.name,
            description: s.description,
            apis: s.apis,
            paths: s.paths,
            methods: s.methods,
            environments: s.environments,
            scopes: s.scopes,
            quota: s.quota.map(|q| CatalogQuota {
                limit: q.limit,
                interval: q.interval,
                unit: q.unit.into(),
            }),
            approval: (s.approval != store::ApprovalType::Auto).then(|| s.approval.into()),
            attributes: s.attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agrees<T: Serialize + Copy + Into<S>, S: std::fmt::Display>(spellings: &[(T, &str)]) {
        for (v, text) in spellings {
            assert_eq!(serde_json::to_value(v).unwrap(), *text);
            assert_eq!(Into::<S>::into(*v).to_string(), *text);
        }
    }

    #[test]
    fn enums_are_spelled_as_the_store_spells_them() {
        agrees::<_, store::DeveloperStatus>(CatalogDeveloperStatus::SPELLINGS);
        agrees::<_, store::AppStatus>(CatalogAppStatus::SPELLINGS);
        agrees::<_, store::ApprovalType>(CatalogApproval::SPELLINGS);
        agrees::<_, store::QuotaUnit>(CatalogQuotaUnit::SPELLINGS);
        for (op, text) in CatalogChangeOp::SPELLINGS {
            assert_eq!(serde_json::to_value(op).unwrap(), *text);
            assert_eq!(store::ChangeOp::from(*op).as_str(), *text);
        }
    }
}
