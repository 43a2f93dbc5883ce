//! Hand-built JWS for forged-token tests: tokens signed over exactly the header and claims given
//! (whatever they say), unsigned ones, HMAC tokens keyed with a public key, and algorithm swaps.
//! Shared by the `verify-jwt` and `verify-oauth-token` matrices.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jose::Signer;
use serde_json::{Value, json};

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.claims.signature` with the signature made by `signer` over exactly these parts (the
/// header's `alg` is not checked against the key: that is the point).
pub fn signed(signer: &Signer, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = signer.sign_message(input.as_bytes()).unwrap();
    format!("{input}.{signature}")
}

/// `header.claims.<signature bytes>` with no real signature.
pub fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// The header our signers write: `alg`, `kid`, `typ`.
pub fn header_of(signer: &Signer, typ: &str) -> Value {
    json!({"alg": format!("{:?}", signer.alg()), "kid": signer.kid(), "typ": typ})
}

/// An HS256 token keyed with `secret` (e.g. an RSA public key as PEM or JWK bytes: the
/// classic algorithm-confusion attack).
pub fn hs256(kid: &str, typ: &str, claims: &Value, secret: &[u8]) -> String {
    let h = json!({"alg": "HS256", "kid": kid, "typ": typ});
    let input = format!(
        "{}.{}",
        b64(h.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
        input.as_bytes(),
    );
    format!("{input}.{}", b64(mac.as_ref()))
}

/// `token` (a real, valid JWS) with its header's `alg` replaced and its signature kept.
pub fn swap_alg(token: &str, alg: &str) -> String {
    let mut parts = token.splitn(3, '.');
    let (h, payload, sig) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    header["alg"] = json!(alg);
    format!("{}.{payload}.{sig}", b64(header.to_string().as_bytes()))
}

/// `claims` with the fields of `patch` set (a `null` removes the field).
pub fn patched(claims: &Value, patch: Value) -> Value {
    let mut c = claims.clone();
    let Value::Object(patch) = patch else {
        panic!("patch is an object")
    };
    for (k, v) in patch {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(&k);
        } else {
            c[k] = v;
        }
    }
    c
}

/// The claims part of a JWS, decoded.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header part of a JWS, decoded.
pub fn header_part(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}
