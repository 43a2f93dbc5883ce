//! The one error type every repository returns.
//!
//! Callers (the CLI, the admin API, the gateway) show these messages to operators, so a
//! message never carries SQL text, driver types or secrets: backend errors are kept only as
//! an opaque `source` for logs, and identifiers that might be a full API key are shortened
//! before they are put in a message.

use std::error::Error as StdError;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named entity does not exist.
    #[error("{entity} not found: {id}")]
    NotFound {
        /// Kind of entity, e.g. `"api key"`, `"app"`, `"developer"`.
        entity: &'static str,
        /// What the caller asked for (shortened if it looked like a secret).
        id: String,
    },
    /// The write clashes with existing state (duplicate name, revoked parent, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or refused the operation.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync + 'static>),
    /// The caller's input was rejected before touching the database.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A stored row did not decode into the model (bad status text, wrong hash length).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Optimistic concurrency: the caller's expected version is not the current one.
    #[error("{entity} {id} was changed concurrently (current version {current})")]
    Stale {
        /// Kind of entity.
        entity: &'static str,
        /// Its id or name.
        id: String,
        /// The version now stored.
        current: i64,
    },
    /// Authentication failed (admin login or token). Deliberately says nothing about which
    /// factor was wrong.
    #[error("authentication failed")]
    Unauthorized,
    /// Too many failed attempts; retry after the given number of seconds.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
}

impl StoreError {
    pub(crate) fn not_found(entity: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            entity,
            id: redact_identifier(id),
        }
    }

    pub(crate) fn unavailable(err: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(err))
    }
}

/// An operator may paste a whole key where a prefix or id was expected; echoing it back in an
/// error message (which ends up in terminals, logs and CI output) would leak it.
fn redact_identifier(id: &str) -> String {
    const KEEP: usize = crate::secret::PREFIX_LEN;
    if id.starts_with(crate::secret::KEY_MARKER) && id.chars().count() > KEEP {
        let shown: String = id.chars().take(KEEP).collect();
        format!("{shown}…")
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_keys_are_shortened_in_not_found_messages() {
        let key = "pcl_AbCdEfGh0123456789abcdefghijklmnop";
        let msg = StoreError::not_found("api key", key).to_string();
        assert_eq!(msg, "api key not found: pcl_AbCdEfGh…");
        assert!(!msg.contains("0123456789"));
        let msg = StoreError::not_found("api key", "key_123").to_string();
        assert_eq!(msg, "api key not found: key_123");
    }

    #[test]
    fn unavailable_message_hides_the_source() {
        let err = StoreError::unavailable(std::io::Error::other("SELECT secret FROM t"));
        assert_eq!(err.to_string(), "storage unavailable");
        assert!(err.source().is_some());
    }
}
