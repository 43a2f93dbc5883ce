//! Certificate-bound access tokens (RFC 8705 §3): a token whose confirmation claim carries
//! `x5t#S256` is accepted only from the holder of that certificate, i.e. over a TLS
//! connection whose client certificate (verified by the listener against its `client_ca`) has
//! that SHA-256 thumbprint. The listener computes the thumbprint once per connection and puts
//! it in the request extensions ([`ClientCertThumbprint`]); plain HTTP requests and TLS
//! requests without a client certificate have none. Tokens without the claim are unaffected.

use portcullis_core::ClientCertThumbprint;
use portcullis_oauth::TokenInfo;
use portcullis_policy::Exchange;

/// Whether `ex` may use the token `info` as far as certificate binding goes.
pub(super) fn holder_presented_certificate(info: &TokenInfo, ex: &Exchange) -> bool {
    let Some(want) = info.cnf_x5t.as_deref() else {
        return true;
    };
    // Thumbprints are public values (hashes of certificates sent in the clear in TLS 1.2), so
    // a plain comparison leaks nothing.
    ex.request
        .extensions
        .get::<ClientCertThumbprint>()
        .is_some_and(|got| *got.0 == *want)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::test_util::exchange;

    fn token(x5t: Option<&str>) -> TokenInfo {
        TokenInfo {
            id: "tok_1".into(),
            format: "opaque",
            client_id: "key_1".into(),
            subject: None,
            scopes: vec![],
            products: vec![],
            issued_at: SystemTime::now(),
            expires_at: SystemTime::now(),
            owner: None,
            cnf_x5t: x5t.map(str::to_owned),
            cnf_jkt: None,
            family_id: None,
            claims: Default::default(),
        }
    }

    #[test]
    fn bound_tokens_need_the_same_certificate_and_unbound_ones_nothing() {
        let plain = exchange("GET", "/", &[]);
        let mut with_cert = exchange("GET", "/", &[]);
        with_cert
            .request
            .extensions
            .insert(ClientCertThumbprint("abc".into()));
        assert!(holder_presented_certificate(&token(None), &plain));
        assert!(holder_presented_certificate(&token(None), &with_cert));
        assert!(holder_presented_certificate(
            &token(Some("abc")),
            &with_cert
        ));
        assert!(!holder_presented_certificate(
            &token(Some("abd")),
            &with_cert
        ));
        assert!(!holder_presented_certificate(&token(Some("abc")), &plain));
    }
}
