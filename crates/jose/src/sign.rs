//! Signing: a [`Signer`] holds one private key with its `kid` and algorithm, signs tokens and
//! publishes its public half as a JWK. Keys are generated with aws-lc-rs (the tree's one crypto
//! backend) and kept as PKCS#8 DER so a caller can store them (encrypted) and load them back.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair,
};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::keys::KeySet;

/// The algorithms a [`Signer`] supports (asymmetric only: published keys are public keys).
pub const SIGNING_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Generates a new private key for `alg` as PKCS#8 v1 DER: RSA 2048 for RS*/PS*, P-256 for
/// ES256, P-384 for ES384, Ed25519 for EdDSA.
pub fn generate_pkcs8(alg: Algorithm) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let fail = |e: aws_lc_rs::error::Unspecified| KeyError::Invalid(e.to_string());
    let der = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair)
                .map_err(fail)?
                .as_ref()
                .to_vec()
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let curve = if alg == Algorithm::ES256 {
                &ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = EcdsaKeyPair::generate(curve).map_err(fail)?;
            pair.to_pkcs8v1().map_err(fail)?.as_ref().to_vec()
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::generate().map_err(fail)?;
            pair.to_pkcs8v1().map_err(fail)?.as_ref().to_vec()
        }
        other => return Err(KeyError::UnsupportedAlgorithm(other)),
    };
    Ok(Zeroizing::new(der))
}

/// One signing key: `kid`, algorithm, private key and its public JWK.
pub struct Signer {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    pkcs8: Zeroizing<Vec<u8>>,
    public: Jwk,
    spki: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with a freshly generated key.
    pub fn generate(kid: impl Into<String>, alg: Algorithm) -> Result<Self, KeyError> {
        let der = generate_pkcs8(alg)?;
        Self::from_pkcs8_der(kid, alg, &der)
    }

    /// A signer from a PKCS#8 DER private key (as produced by [`generate_pkcs8`] or
    /// [`Signer::pkcs8_der`]).
    pub fn from_pkcs8_der(
        kid: impl Into<String>,
        alg: Algorithm,
        der: &[u8],
    ) -> Result<Self, KeyError> {
        let invalid = |e: &dyn std::fmt::Display| KeyError::Invalid(e.to_string());
        let spki = |der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>| {
            der.map(|d| d.as_ref().to_vec()).map_err(|e| invalid(&e))
        };
        let (key, pkcs8, spki) = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| invalid(&e))?;
                // jsonwebtoken signs RSA from PKCS#1; its PEM loader unwraps PKCS#8 for us.
                let key = EncodingKey::from_rsa_pem(pkcs8_pem(der).as_bytes())
                    .map_err(|e| invalid(&e))?;
                (key, der.to_vec(), spki(pair.public_key().as_der())?)
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let curve = if alg == Algorithm::ES256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = EcdsaKeyPair::from_pkcs8(curve, der).map_err(|e| invalid(&e))?;
                let spki = spki(pair.public_key().as_der())?;
                (EncodingKey::from_ec_der(der), der.to_vec(), spki)
            }
            Algorithm::EdDSA => {
                // Normalise v2 (with public key) to v1, the form jsonwebtoken expects.
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| invalid(&e))?;
                let v1 = pair
                    .to_pkcs8v1()
                    .map_err(|e| invalid(&e))?
                    .as_ref()
                    .to_vec();
                let spki = spki(pair.public_key().as_der())?;
                (EncodingKey::from_ed_der(&v1), v1, spki)
            }
            other => return Err(KeyError::UnsupportedAlgorithm(other)),
        };
        let kid = kid.into();
        let mut public = Jwk::from_encoding_key(&key, alg).map_err(|e| invalid(&e))?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            kid,
            alg,
            key,
            pkcs8: Zeroizing::new(pkcs8),
            public,
            spki,
        })
    }

    /// A signer from a PEM `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(kid: impl Into<String>, alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|e| KeyError::Invalid(format!("PEM: {e}")))?;
        Self::from_pkcs8_der(kid, alg, der.secret_pkcs8_der())
    }

    /// Key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The private key as PKCS#8 DER, for (encrypted) storage.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK (`kid`, `alg`, `use: sig`).
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki).to_string()
    }

    /// Signs arbitrary JWS signing input (`base64url(header) "." base64url(payload)`) and returns
    /// the base64url signature, for callers that build their own header (and for tests that
    /// forge tokens with our real key).
    pub fn sign_message(&self, signing_input: &[u8]) -> Result<String, KeyError> {
        jsonwebtoken::crypto::sign(signing_input, &self.key, self.alg)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// Signs `claims` with header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        self.sign_with_type("JWT", claims)
    }

    /// Signs `claims` with the given `typ` (e.g. `at+jwt` for RFC 9068 access tokens).
    pub fn sign_with_type<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(self.alg);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| KeyError::Sign(e.to_string()))
    }
}

/// The JWKS to publish for `signers` (public keys only).
pub fn jwk_set<'a>(signers: impl IntoIterator<Item = &'a Signer>) -> JwkSet {
    JwkSet {
        keys: signers.into_iter().map(|s| s.public.clone()).collect(),
    }
}

/// A verification key set for `signers` (e.g. the authorization server checking its own tokens).
pub fn key_set<'a>(signers: impl IntoIterator<Item = &'a Signer>) -> KeySet {
    KeySet::from_jwk_set(&jwk_set(signers))
}

fn pkcs8_pem(der: &[u8]) -> Zeroizing<String> {
    pem("PRIVATE KEY", der)
}

fn pem(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut pem = Zeroizing::new(String::with_capacity(b64.len() + 80));
    pem.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}
