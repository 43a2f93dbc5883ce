//! Mutual-TLS fixtures: a throw-away PKI generated with rcgen (a CA, a server certificate for
//! `localhost`, client certificates with chosen subject and SANs) written as PEM files, and an
//! HTTPS client (rustls + hyper, HTTP/1.1) that presents a client certificate or none.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::client::Reply;

/// A certificate authority that signs server and client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM).
    pub pem: String,
    /// The CA certificate (DER).
    pub der: CertificateDer<'static>,
}

/// A certificate with its private key.
pub struct TestCert {
    /// Leaf certificate (DER).
    pub der: CertificateDer<'static>,
    /// Leaf certificate (PEM).
    pub pem: String,
    /// Private key (PKCS#8 PEM).
    pub key_pem: String,
    key_der: Vec<u8>,
}

/// Subject and SANs of a client certificate.
#[derive(Default, Clone)]
pub struct ClientIdentity {
    /// Subject attributes in order (`CN`, `O`, `OU`, `C`).
    pub subject: Vec<(&'static str, String)>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// URI SANs.
    pub uris: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// E-mail SANs.
    pub emails: Vec<String>,
}

fn dn_type(short: &str) -> DnType {
    match short {
        "CN" => DnType::CommonName,
        "O" => DnType::OrganizationName,
        "OU" => DnType::OrganizationalUnitName,
        "C" => DnType::CountryName,
        "L" => DnType::LocalityName,
        "ST" => DnType::StateOrProvinceName,
        other => panic!("unsupported DN attribute {other}"),
    }
}

impl TestCa {
    /// A new self-signed CA called `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server_cert(&self) -> TestCert {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(&params)
    }

    /// A client certificate with `id`'s subject and SANs.
    pub fn client_cert(&self, id: &ClientIdentity) -> TestCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name = DistinguishedName::new();
        for (k, v) in &id.subject {
            params.distinguished_name.push(dn_type(k), v.as_str());
        }
        let ia5 = |s: &String| s.as_str().try_into().expect("IA5 string");
        params.subject_alt_names = id
            .dns
            .iter()
            .map(|d| SanType::DnsName(ia5(d)))
            .chain(id.uris.iter().map(|u| SanType::URI(ia5(u))))
            .chain(id.ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .chain(id.emails.iter().map(|e| SanType::Rfc822Name(ia5(e))))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(&params)
    }

    fn sign(&self, params: &CertificateParams) -> TestCert {
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        TestCert {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }

    /// Writes the CA certificate to `dir/name` and returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, &self.pem).expect("write CA");
        p
    }
}

impl TestCert {
    /// Writes `dir/<name>.crt` and `dir/<name>.key`, returning both paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, &self.pem).expect("write cert");
        std::fs::write(&k, &self.key_pem).expect("write key");
        (c, k)
    }

    /// `base64url(SHA-256(DER))`, the RFC 8705 thumbprint.
    pub fn thumbprint(&self) -> String {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&self.der))
    }
}

/// Sends `req` over HTTPS (HTTP/1.1) to `addr`, trusting `server_ca` for the server
/// (name `localhost`), presenting `client` when given. `Err` when the handshake or the
/// exchange fails (for instance because the server refused the client certificate).
pub async fn send_tls(
    addr: SocketAddr,
    server_ca: &TestCa,
    client: Option<&TestCert>,
    req: Request<Full<Bytes>>,
) -> Result<Reply, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(server_ca.der.clone())
        .map_err(|e| e.to_string())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::Pkcs8(c.key_der.clone().into()),
            )
            .map_err(|e| e.to_string())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("exchange: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| "client timeout".to_string())?
}
