//! Client certificates (mutual TLS) on a TLS listener: the CA bundle trusted for them and
//! whether a certificate is required. Shared by API listeners and the authorization server's
//! listener. The bundle is checked at compile time (readable, at least one PEM certificate) so
//! a bad file is reported with its field path rather than at start.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Collector;

/// Whether a TLS client must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthMode {
    /// Certificates are requested; connections without one are accepted (a presented
    /// certificate must still chain to `client_ca`). Policies decide per API (e.g.
    /// certificate-bound OAuth tokens).
    #[default]
    Optional,
    /// The TLS handshake fails without a valid client certificate.
    Required,
}

/// Compiled client-certificate settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertSpec {
    /// PEM bundle of the CAs trusted for client certificates (resolved path).
    pub ca: PathBuf,
    /// Handshake fails without a client certificate.
    pub required: bool,
}

/// Compiles `client_ca` / `client_auth` of the TLS block at `at` (e.g. `/listeners/0/tls`).
pub(crate) fn compile(
    client_ca: Option<&Path>,
    client_auth: Option<ClientAuthMode>,
    base: &Path,
    at: &str,
    errs: &mut Collector<'_>,
) -> Option<ClientCertSpec> {
    let Some(ca) = client_ca else {
        if client_auth.is_some() {
            errs.at(
                &format!("{at}/client_auth"),
                "needs client_ca (the CAs client certificates are verified against)",
            );
        }
        return None;
    };
    let ca = base.join(ca);
    if let Err(m) = check_ca_bundle(&ca) {
        errs.at(&format!("{at}/client_ca"), m);
        return None;
    }
    Some(ClientCertSpec {
        ca,
        required: client_auth == Some(ClientAuthMode::Required),
    })
}

/// A CA bundle must be readable PEM with at least one certificate and no private key (a key in
/// a CA bundle is a deployment mistake worth stopping).
fn check_ca_bundle(path: &Path) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read CA bundle {}: {e}", path.display()))?;
    if PrivateKeyDer::from_pem_slice(&bytes).is_ok() {
        return Err(format!(
            "{} holds a private key; client_ca must hold only CA certificates",
            path.display()
        ));
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a PEM certificate bundle: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_ca_bundle;

    #[test]
    fn ca_bundles_need_a_certificate_and_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let good = write(
            "ca.pem",
            "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
        );
        assert!(check_ca_bundle(&good).is_ok());
        let empty = write("empty.pem", "hello");
        assert!(
            check_ca_bundle(&empty)
                .unwrap_err()
                .contains("no PEM certificate")
        );
        let key = write(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nMIIBAA==\n-----END PRIVATE KEY-----\n",
        );
        assert!(check_ca_bundle(&key).unwrap_err().contains("private key"));
        assert!(check_ca_bundle(&dir.path().join("missing.pem")).is_err());
    }
}
