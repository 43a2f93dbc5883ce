//! Minting tokens: random opaque tokens (access, refresh) and codes, and RFC 9068 JWT access
//! tokens. Only keyed hashes reach the store; plaintexts go to the client once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_store::{Keyring, NewToken, StoreError, TokenKind};
use rand::TryRng;
use rand::rngs::SysRng;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::error::OAuthError;
use crate::settings::TokenFormat;

/// Marker of opaque access tokens (recognisable by secret scanners).
pub const ACCESS_TOKEN_MARKER: &str = "pco_";
/// Marker of refresh tokens.
pub const REFRESH_TOKEN_MARKER: &str = "pcr_";
/// Marker of authorization codes.
pub const CODE_MARKER: &str = "pcc_";

/// A new random secret: `marker` + 256 random bits, base64url.
pub(crate) fn random_secret(marker: &str) -> Result<Zeroizing<String>, OAuthError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    SysRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|_| OAuthError::server_error())?;
    let mut out = Zeroizing::new(String::with_capacity(marker.len() + 43));
    out.push_str(marker);
    URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut out);
    Ok(out)
}

/// A new random id (`tok_…`, `fam_…`), 128 bits.
pub(crate) fn random_id(kind: &str) -> Result<String, OAuthError> {
    let mut bytes = [0u8; 16];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| OAuthError::server_error())?;
    Ok(format!("{kind}_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Unix seconds.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What every token of one issuance shares.
pub(crate) struct Issue<'a> {
    pub(crate) credential_id: &'a str,
    pub(crate) subject: Option<&'a str>,
    /// The local end user (stored with the token for userinfo, never published).
    pub(crate) user_id: Option<&'a str>,
    pub(crate) scopes: &'a [String],
    pub(crate) products: &'a [String],
    pub(crate) family_id: &'a str,
    pub(crate) parent_id: Option<&'a str>,
    pub(crate) code_id: Option<&'a str>,
    pub(crate) cnf_x5t: Option<&'a str>,
    pub(crate) cnf_jkt: Option<&'a str>,
    pub(crate) now: SystemTime,
    pub(crate) claims: Map<String, Value>,
}

impl Issue<'_> {
    pub(crate) fn record(
        &self,
        keyring: &Keyring,
        id: String,
        plaintext: &str,
        kind: TokenKind,
        format: TokenFormat,
        lifetime: Duration,
    ) -> NewToken {
        NewToken {
            id,
            hash: keyring.hash_credential(plaintext),
            kind,
            format: format.as_str().to_owned(),
            credential_id: self.credential_id.to_owned(),
            subject: self.subject.map(str::to_owned),
            scopes: self.scopes.to_vec(),
            products: self.products.to_vec(),
            issued_at: self.now,
            expires_at: self.now + lifetime,
            family_id: self.family_id.to_owned(),
            parent_id: self.parent_id.map(str::to_owned),
            code_id: self.code_id.map(str::to_owned),
            cnf_x5t: self.cnf_x5t.map(str::to_owned),
            cnf_jkt: self.cnf_jkt.map(str::to_owned),
            claims: {
                let mut c = self.claims.clone();
                if let Some(uid) = self.user_id {
                    c.insert(crate::code_grant::USER_CLAIM.into(), uid.into());
                }
                c
            },
        }
    }

    /// RFC 9068 claims of a JWT access token.
    pub(crate) fn jwt_claims(&self, issuer: &str, jti: &str, lifetime: Duration) -> Value {
        let mut claims = json!({
            "iss": issuer,
            "sub": self.subject.unwrap_or(self.credential_id),
            "aud": self.products,
            "client_id": self.credential_id,
            "iat": unix(self.now),
            "nbf": unix(self.now),
            "exp": unix(self.now + lifetime),
            "jti": jti,
            "scope": self.scopes.join(" "),
        });
        let mut cnf = Map::new();
        if let Some(x5t) = self.cnf_x5t {
            cnf.insert("x5t#S256".into(), x5t.into());
        }
        if let Some(jkt) = self.cnf_jkt {
            cnf.insert("jkt".into(), jkt.into());
        }
        if let Some(obj) = claims.as_object_mut() {
            if !cnf.is_empty() {
                obj.insert("cnf".into(), Value::Object(cnf));
            }
            for (k, v) in &self.claims {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        claims
    }
}

/// Store errors while issuing.
pub(crate) fn store_failed(e: &StoreError) -> OAuthError {
    OAuthError::from_store(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_marked_and_carry_256_bits() {
        let a = random_secret(ACCESS_TOKEN_MARKER).unwrap();
        let b = random_secret(ACCESS_TOKEN_MARKER).unwrap();
        assert!(a.starts_with("pco_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(*a, *b);
    }
}
