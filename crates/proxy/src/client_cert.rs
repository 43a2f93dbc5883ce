//! Mutual TLS on listeners: the client-certificate verifier built from a listener's
//! `client_ca` (rustls `WebPkiClientVerifier`; optional or required), and the SHA-256
//! thumbprint of the verified certificate that requests carry for policies (RFC 8705
//! `x5t#S256`). The thumbprint is computed once per connection, right after the handshake.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_config::client_certs::ClientCertSpec;
use portcullis_core::ClientCertThumbprint;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

use crate::server::TlsError;

/// A verifier accepting certificates that chain to the CAs in `ca` (PEM bundle); without
/// `required`, clients without a certificate are let through (policies decide).
pub fn client_verifier(
    ca: &Path,
    required: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let pem_err = |reason: String| TlsError::Pem {
        path: ca.display().to_string(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| pem_err(e.to_string()))? {
        roots
            .add(cert.map_err(|e| pem_err(e.to_string()))?)
            .map_err(|e| pem_err(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(pem_err("no CA certificate found".into()));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| pem_err(format!("client certificate verifier: {e}")))
}

/// The verifier of `spec`, or none (no client certificates asked for).
pub(crate) fn verifier_for(
    spec: Option<&ClientCertSpec>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    spec.map(|s| client_verifier(&s.ca, s.required, provider.clone()))
        .transpose()
}

/// `base64url(SHA-256(der))`: the RFC 8705 §3.1 certificate thumbprint.
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// The thumbprint of the end-entity certificate the peer presented (already verified by the
/// handshake), if any.
pub fn peer_thumbprint(session: &rustls::ServerConnection) -> Option<ClientCertThumbprint> {
    let leaf = session.peer_certificates()?.first()?;
    Some(ClientCertThumbprint(thumbprint(leaf.as_ref()).into()))
}

#[cfg(test)]
mod tests {
    use super::thumbprint;

    #[test]
    fn thumbprints_are_unpadded_base64url_sha256() {
        // SHA-256("abc"), RFC 4648 base64url without padding.
        assert_eq!(
            thumbprint(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}
