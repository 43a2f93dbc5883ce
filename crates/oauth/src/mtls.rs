//! Mutual TLS at the authorization server (RFC 8705).
//!
//! - [`PeerCertificate`]: the client certificate the listener verified against
//!   `tls.client_ca`, with its `x5t#S256` thumbprint, computed once per connection and put in
//!   every request's extensions by [`crate::serve`].
//! - `tls_client_auth` (§2.1, PKI method): a request with `client_id`, no secret and no
//!   assertion, over a connection with a verified certificate, authenticates the client when
//!   its app names exactly one expected certificate identity in an attribute
//!   (`tls_client_auth_subject_dn`, `…_san_dns`, `…_san_uri`, `…_san_ip`, `…_san_email`) and
//!   the certificate matches it, and when the app permits the method
//!   ([`crate::auth_method`]).
//! - Certificate-bound tokens (§3): whatever the authentication method, a token request made
//!   with a verified certificate gets access tokens with `cnf.x5t#S256` (see `token.rs`).
//!
//! Subject DNs are compared in their RFC 4514 form: RDNs most specific first (`CN=…,O=…,C=…`),
//! attribute types case-insensitive (`CN`, `L`, `ST`, `O`, `OU`, `C`, `STREET`, `DC`, `UID`,
//! `emailAddress`/`E`, or dotted OIDs), values compared as X.520 caseIgnoreMatch (case and
//! runs of spaces do not matter), escapes (`\,`, `\+`, `\2C`) decoded, multi-valued RDNs in any
//! order.

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, header};
use portcullis_store::{OAuthClient, OAuthRepository};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

use crate::auth_method;
use crate::client_auth::{AuthMethod, ClientCache};
use crate::error::OAuthError;
use crate::params::Params;

/// The verified TLS client certificate of a connection.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    der: Arc<[u8]>,
    x5t: Arc<str>,
}

impl PeerCertificate {
    /// From the end-entity certificate's DER.
    pub fn new(der: &[u8]) -> Self {
        Self {
            der: der.into(),
            x5t: thumbprint(der).into(),
        }
    }

    /// `base64url(SHA-256(DER))` (RFC 8705 §3.1 `x5t#S256`).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }
}

/// `base64url(SHA-256(der))`.
pub fn thumbprint(der: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

/// App attributes naming the expected certificate identity (exactly one must be set).
pub const SUBJECT_DN_ATTRIBUTE: &str = "tls_client_auth_subject_dn";
/// Expected dNSName SAN.
pub const SAN_DNS_ATTRIBUTE: &str = "tls_client_auth_san_dns";
/// Expected uniformResourceIdentifier SAN.
pub const SAN_URI_ATTRIBUTE: &str = "tls_client_auth_san_uri";
/// Expected iPAddress SAN.
pub const SAN_IP_ATTRIBUTE: &str = "tls_client_auth_san_ip";
/// Expected rfc822Name SAN.
pub const SAN_EMAIL_ATTRIBUTE: &str = "tls_client_auth_san_email";

/// The certificate identity a client registered for `tls_client_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    SubjectDn(Dn),
    SanDns(String),
    SanUri(String),
    SanIp(IpAddr),
    SanEmail(String),
}

impl Expected {
    /// From the app attributes; `None` unless exactly one valid identity attribute is set.
    pub(crate) fn of(client: &OAuthClient) -> Option<Self> {
        let a = &client.app_attributes;
        let set: Vec<(&str, &String)> = [
            SUBJECT_DN_ATTRIBUTE,
            SAN_DNS_ATTRIBUTE,
            SAN_URI_ATTRIBUTE,
            SAN_IP_ATTRIBUTE,
            SAN_EMAIL_ATTRIBUTE,
        ]
        .into_iter()
        .filter_map(|k| a.get(k).map(|v| (k, v)))
        .collect();
        let [(kind, value)] = set.as_slice() else {
            return None;
        };
        let value = value.trim();
        match *kind {
            SUBJECT_DN_ATTRIBUTE => Dn::parse(value).map(Self::SubjectDn),
            SAN_DNS_ATTRIBUTE => Some(Self::SanDns(value.to_owned())),
            SAN_URI_ATTRIBUTE => Some(Self::SanUri(value.to_owned())),
            SAN_IP_ATTRIBUTE => value.parse().ok().map(Self::SanIp),
            _ => Some(Self::SanEmail(value.to_owned())),
        }
        .filter(
            |e| !matches!(e, Self::SanDns(v) | Self::SanUri(v) | Self::SanEmail(v) if v.is_empty()),
        )
    }

    /// Whether the certificate (DER) carries this identity.
    pub(crate) fn matches(&self, der: &[u8]) -> bool {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return false;
        };
        if let Self::SubjectDn(want) = self {
            return Dn::of(cert.subject()).is_some_and(|got| got == *want);
        }
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return false;
        };
        san.value.general_names.iter().any(|n| match (self, n) {
            (Self::SanDns(w), GeneralName::DNSName(g)) => w.eq_ignore_ascii_case(g),
            (Self::SanUri(w), GeneralName::URI(g)) => w == g,
            (Self::SanIp(w), GeneralName::IPAddress(g)) => match w {
                IpAddr::V4(v4) => *g == v4.octets().as_slice(),
                IpAddr::V6(v6) => *g == v6.octets().as_slice(),
            },
            (Self::SanEmail(w), GeneralName::RFC822Name(g)) => same_mailbox(w, g),
            _ => false,
        })
    }
}

/// Local parts are case-sensitive (RFC 5321 §2.4), domains are not.
fn same_mailbox(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => a == b,
    }
}

/// A distinguished name normalised for comparison: RDNs in RFC 4514 order (most specific
/// first), each a sorted list of (canonical type, caseIgnoreMatch-normalised value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dn(Vec<Vec<(String, String)>>);

/// RFC 4514 §3 short names, and the common `emailAddress` alias, by OID.
const NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("1.2.840.113549.1.9.1", "EMAILADDRESS"),
];

/// The canonical spelling of an attribute type given by name or dotted OID.
fn canonical_type(t: &str) -> String {
    let upper = t.trim().to_ascii_uppercase();
    let upper = upper.strip_prefix("OID.").unwrap_or(&upper).to_owned();
    if upper == "E" {
        return "EMAILADDRESS".into();
    }
    NAMES
        .iter()
        .find(|(oid, _)| *oid == upper)
        .map_or(upper, |(_, name)| (*name).to_owned())
}

/// X.520 caseIgnoreMatch, approximately: trimmed, inner runs of spaces collapsed, lower case.
fn canonical_value(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Dn {
    fn from_rdns(mut rdns: Vec<Vec<(String, String)>>) -> Self {
        for rdn in &mut rdns {
            rdn.sort();
        }
        Self(rdns)
    }

    /// A certificate's subject (`None` if a value is not a string type we can read).
    fn of(name: &X509Name<'_>) -> Option<Self> {
        let mut rdns = Vec::new();
        for rdn in name.iter_rdn() {
            let mut avas = Vec::new();
            for ava in rdn.iter() {
                let t = canonical_type(&ava.attr_type().to_id_string());
                let v = ava.as_str().ok()?;
                avas.push((t, canonical_value(v)));
            }
            rdns.push(avas);
        }
        // Certificates list RDNs from the root (C, O, …) down; RFC 4514 strings start at the leaf.
        rdns.reverse();
        Some(Self::from_rdns(rdns))
    }

    /// Parses an RFC 4514 string (`CN=client\, one,O=Example+OU=Ops,C=DE`).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut rdns = Vec::new();
        let mut avas = Vec::new();
        let mut ty = String::new();
        let mut val: Vec<u8> = Vec::new();
        let mut in_value = false;
        let bytes = s.as_bytes();
        let mut i = 0;
        let finish_ava =
            |ty: &mut String, val: &mut Vec<u8>, avas: &mut Vec<(String, String)>| -> Option<()> {
                let t = canonical_type(ty);
                let v = String::from_utf8(std::mem::take(val)).ok()?;
                if t.is_empty() || v.trim().is_empty() || v.starts_with('#') {
                    return None;
                }
                avas.push((t, canonical_value(&v)));
                ty.clear();
                Some(())
            };
        while i < bytes.len() {
            let b = bytes[i];
            match (in_value, b) {
                (false, b'=') => in_value = true,
                (false, _) => ty.push(char::from(b)),
                (true, b'\\') => {
                    let next = *bytes.get(i + 1)?;
                    if next.is_ascii_hexdigit() {
                        let hex = s.get(i + 1..i + 3)?;
                        val.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    } else {
                        val.push(next);
                        i += 1;
                    }
                }
                (true, b'+') => {
                    finish_ava(&mut ty, &mut val, &mut avas)?;
                    in_value = false;
                }
                (true, b',' | b';') => {
                    finish_ava(&mut ty, &mut val, &mut avas)?;
                    rdns.push(std::mem::take(&mut avas));
                    in_value = false;
                }
                (true, _) => val.push(b),
            }
            i += 1;
        }
        if !in_value {
            return None;
        }
        finish_ava(&mut ty, &mut val, &mut avas)?;
        rdns.push(avas);
        Some(Self::from_rdns(rdns))
    }
}

/// `tls_client_auth`: `None` when the request does not use it (a secret, an assertion or an
/// Authorization header is present, or no `client_id`), else the outcome.
pub(crate) async fn authenticate(
    store: &dyn OAuthRepository,
    clients: &ClientCache,
    headers: &HeaderMap,
    params: &Params,
    peer: Option<&PeerCertificate>,
) -> Option<Result<(OAuthClient, AuthMethod, String), OAuthError>> {
    if headers.contains_key(header::AUTHORIZATION)
        || params.get("client_secret").is_some()
        || params.get("client_assertion").is_some()
    {
        return None;
    }
    let id = params.get("client_id")?.to_owned();
    let Some(peer) = peer else {
        return Some(Err(OAuthError::invalid_client()));
    };
    if let Some(client) = clients.cached(&id, peer.x5t()) {
        return Some(Ok((client, AuthMethod::TlsClientAuth, id)));
    }
    let client = match store.oauth_client(&id).await {
        Ok(c) => c,
        Err(e) => return Some(Err(OAuthError::from_store(&e))),
    };
    if auth_method::permitted(&client, AuthMethod::TlsClientAuth).is_err() {
        return Some(Err(OAuthError::invalid_client()));
    }
    let Some(expected) = Expected::of(&client) else {
        tracing::warn!(
            app = %client.app_id,
            "tls_client_auth client without exactly one valid tls_client_auth_* attribute"
        );
        return Some(Err(OAuthError::invalid_client()));
    };
    if !expected.matches(&peer.der) {
        tracing::debug!(app = %client.app_id, "client certificate does not match the registration");
        return Some(Err(OAuthError::invalid_client()));
    }
    clients.remember(&id, peer.x5t(), &client);
    Some(Ok((client, AuthMethod::TlsClientAuth, id)))
}

#[cfg(test)]
mod tests;
