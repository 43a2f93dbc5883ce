//! Signed, short-lived tickets that carry a validated authorization request through the login
//! and consent pages without server-side sessions: `base64url(json) "." base64url(mac)`, the MAC
//! being the master key's keyed hash over a purpose label and the payload. A ticket cannot be
//! altered (scopes, redirect URI), moved between purposes, or used after it expires.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_store::Keyring;
use serde::Serialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::mint::unix;

fn mac(keyring: &Keyring, purpose: &str, payload: &str) -> String {
    let h = keyring.hash_credential(&format!("portcullis/ticket\x00{purpose}\x00{payload}"));
    URL_SAFE_NO_PAD.encode(h.as_bytes())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<T> {
    exp: u64,
    body: T,
}

/// Seals `body` for `purpose`, valid for `ttl`.
pub(crate) fn seal<T: Serialize>(
    keyring: &Keyring,
    purpose: &str,
    body: T,
    ttl: Duration,
) -> String {
    let env = Envelope {
        exp: unix(SystemTime::now() + ttl),
        body,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&env).unwrap_or_default());
    let m = mac(keyring, purpose, &payload);
    format!("{payload}.{m}")
}

/// Opens a ticket of `purpose`; `None` if forged, altered, of another purpose or expired.
pub(crate) fn open<T: DeserializeOwned>(
    keyring: &Keyring,
    purpose: &str,
    ticket: &str,
) -> Option<T> {
    let (payload, m) = ticket.split_once('.')?;
    let expected = mac(keyring, purpose, payload);
    if !bool::from(expected.as_bytes().ct_eq(m.as_bytes())) {
        return None;
    }
    let env: Envelope<T> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (env.exp > unix(SystemTime::now())).then_some(env.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_resist_tampering_purpose_swaps_and_expiry() {
        let k = Keyring::from_master(&[5; 32]);
        let t = seal(&k, "login", "scope=a", Duration::from_secs(60));
        assert_eq!(open::<String>(&k, "login", &t).as_deref(), Some("scope=a"));
        assert!(open::<String>(&k, "consent", &t).is_none());
        let forged = seal(
            &Keyring::from_master(&[6; 32]),
            "login",
            "scope=admin",
            Duration::from_secs(60),
        );
        assert!(open::<String>(&k, "login", &forged).is_none());
        let (p, m) = t.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(b"{\"exp\":99999999999,\"body\":\"scope=admin\"}");
        assert!(open::<String>(&k, "login", &format!("{other}.{m}")).is_none());
        assert!(open::<String>(&k, "login", &format!("{p}.x")).is_none());
        let expired = seal(&k, "login", "x", Duration::ZERO);
        assert!(open::<String>(&k, "login", &expired).is_none());
    }
}
