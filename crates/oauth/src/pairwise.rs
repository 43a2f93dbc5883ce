//! Pairwise subject identifiers (OpenID Connect Core §8.1): each sector (the host of the
//! client's redirect URI, or the app attribute `sector_identifier`) sees a different, stable
//! `sub` for the same user, so two clients cannot correlate users by subject. Derived with the
//! master key's keyed hash, so it cannot be computed or reversed without the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_store::{Keyring, OAuthClient};

/// App attribute naming the client's sector explicitly (several redirect hosts, one sector).
pub const SECTOR_ATTRIBUTE: &str = "sector_identifier";

/// The sector of `client` when it redirects to `redirect_uri`.
pub(crate) fn sector(client: &OAuthClient, redirect_uri: &str) -> String {
    if let Some(s) = client.app_attributes.get(SECTOR_ATTRIBUTE) {
        return s.clone();
    }
    url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| client.app_id.clone())
}

/// The subject `user_id` has in `sector`.
pub(crate) fn subject(keyring: &Keyring, sector: &str, user_id: &str) -> String {
    let h = keyring.hash_credential(&format!("portcullis/pairwise\x00{sector}\x00{user_id}"));
    URL_SAFE_NO_PAD.encode(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_differ_per_sector_and_are_stable() {
        let k = Keyring::from_master(&[3; 32]);
        let a = subject(&k, "a.example", "usr_1");
        assert_eq!(a, subject(&k, "a.example", "usr_1"));
        assert_ne!(a, subject(&k, "b.example", "usr_1"));
        assert_ne!(a, subject(&k, "a.example", "usr_2"));
        assert!(!a.contains("usr_1"));
    }
}
