//! The storage model, kept close to Apigee: developers own apps, apps own credentials.
//!
//! These are validated domain types with no SQL or serde in them, so the gateway and the CLI
//! never depend on how a backend spells a row (architecture: store must not leak SQL types).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::StoreError;
use crate::access::ProductGrant;
use crate::management::Attributes;
use crate::secret::KeyHash;

macro_rules! status_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored spelling.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt(
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

status_enum!(
    /// Whether a developer's apps may call APIs.
    DeveloperStatus { Active => "active", Inactive => "inactive" }
);
status_enum!(
    /// Whether an app's credentials are honoured.
    AppStatus { Approved => "approved", Revoked => "revoked" }
);
status_enum!(
    /// Whether a single key is honoured.
    KeyStatus { Active => "active", Revoked => "revoked" }
);

/// A developer (the owner of apps), identified by e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Developer {
    /// `dev_…`
    pub id: String,
    /// Lower-cased, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Inactive developers' keys are refused.
    pub status: DeveloperStatus,
    /// When the developer was registered.
    pub created_at: SystemTime,
}

/// An app registered by a developer; keys belong to apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// `app_…`
    pub id: String,
    /// Owning developer.
    pub developer_id: String,
    /// Unique per developer.
    pub name: String,
    /// Revoked apps' keys are refused.
    pub status: AppStatus,
    /// When the app was registered.
    pub created_at: SystemTime,
}

/// What operators see about a key. Deliberately has no hash and no plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `key_…`
    pub id: String,
    /// Public identification prefix (`pcl_` + 8 characters).
    pub prefix: String,
    /// Owning app.
    pub app_id: String,
    /// Owning app's name.
    pub app_name: String,
    /// Owning developer's e-mail.
    pub developer_email: String,
    /// The key's own status (not the app's or developer's).
    pub status: KeyStatus,
    /// When the key was issued.
    pub created_at: SystemTime,
    /// After this instant the key is refused; `None` = never expires.
    pub expires_at: Option<SystemTime>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
}

/// Everything the gateway needs to decide on a presented key, flattened so a lookup is one
/// hash-map probe. Also what the `verify-api-key` policy exposes as flow variables. The
/// names that go into the request's `Identity` are shared (`Arc<str>`), so attaching the caller
/// to a request copies no string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEntry {
    /// SHA-256 of the key (`Debug` is redacted).
    pub key_hash: KeyHash,
    /// `key_…`
    pub key_id: String,
    /// Public identification prefix.
    pub prefix: Arc<str>,
    /// The key's own status.
    pub key_status: KeyStatus,
    /// Expiry instant, if any.
    pub expires_at: Option<SystemTime>,
    /// Owning app.
    pub app_id: Arc<str>,
    /// Owning app's name.
    pub app_name: Arc<str>,
    /// Owning app's status.
    pub app_status: AppStatus,
    /// Owning developer.
    pub developer_id: Arc<str>,
    /// Owning developer's e-mail.
    pub developer_email: Arc<str>,
    /// Owning developer's status.
    pub developer_status: DeveloperStatus,
    /// Every product association (approved, pending and revoked), ordered by product name;
    /// [`CredentialEntry::authorize`] decides a request against them.
    pub products: Vec<ProductGrant>,
    /// Owning app's custom attributes.
    pub app_attributes: Attributes,
    /// Owning developer's custom attributes.
    pub developer_attributes: Attributes,
}

/// What a poller compares to decide whether its snapshot is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMarker {
    /// Highest `change_log.seq` committed.
    pub seq: i64,
    /// A backend counter that moves when *another* connection commits, even one that bypassed
    /// the change log (SQLite `PRAGMA data_version`); 0 for backends without one.
    pub backend_version: i64,
}

/// Unix milliseconds, the portable timestamp encoding used in every table.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The creation time for a new row: the wall clock in whole milliseconds, but strictly
/// increasing within this process, so rows created in one burst list in creation order
/// (listings sort by `created_at`, then by the random id).
pub(crate) fn creation_time() -> SystemTime {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let wall = to_millis(SystemTime::now());
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = wall.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return from_millis(next),
            Err(seen) => last = seen,
        }
    }
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// Normalises and checks a developer e-mail. Lower-cased because Apigee (and users) treat
/// addresses case-insensitively, and the UNIQUE constraint must agree with that.
pub(crate) fn normalize_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(StoreError::Invalid(format!(
            "{email:?} is not an e-mail address"
        )))
    }
}

/// Checks a developer or app display name.
pub(crate) fn validate_name(what: &str, name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "{what} name must be 1 to 100 printable characters"
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_including_before_epoch() {
        for ms in [0, 1, 1_700_000_000_123, -5_000] {
            assert_eq!(to_millis(from_millis(ms)), ms);
        }
    }

    #[test]
    fn statuses_round_trip_and_reject_unknown_text() {
        assert_eq!(KeyStatus::parse("revoked").unwrap(), KeyStatus::Revoked);
        assert_eq!(AppStatus::Approved.as_str(), "approved");
        assert!(matches!(
            DeveloperStatus::parse("ACTIVE"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "ann@", "a b@x", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_name("app", "  shop ").unwrap(), "shop");
        assert!(validate_name("app", " ").is_err());
        assert!(validate_name("app", &"x".repeat(101)).is_err());
        assert!(validate_name("app", "a\nb").is_err());
    }
}
