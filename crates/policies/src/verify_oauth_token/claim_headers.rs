//! `claims_to_headers`: values of the verified token copied into request headers for the
//! upstream (as `verify-jwt` does for third-party tokens). Incoming headers of those names are
//! removed first, whether or not the token verifies, so a client can never supply them.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName};
use portcullis_oauth::TokenInfo;
use serde_json::Value;

use crate::registry::CompileError;
use crate::verify_jwt::{claim_value, header_value};

/// Compiled claim → header pairs.
#[derive(Default)]
pub(super) struct ClaimHeaders(Vec<(String, HeaderName)>);

impl ClaimHeaders {
    pub(super) fn compile(map: &BTreeMap<String, String>) -> Result<Self, Vec<CompileError>> {
        let mut pairs = Vec::new();
        let mut errors = Vec::new();
        for (claim, header) in map {
            match HeaderName::from_bytes(header.as_bytes()) {
                Ok(name) => pairs.push((claim.clone(), name)),
                Err(_) => errors.push(CompileError::at(
                    format!("claims_to_headers.{claim}"),
                    format!("invalid header name '{header}'"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(Self(pairs))
        } else {
            Err(errors)
        }
    }

    /// Removes client-supplied headers of the configured names.
    pub(super) fn strip(&self, headers: &mut HeaderMap) {
        for (_, name) in &self.0 {
            headers.remove(name);
        }
    }

    /// Sets the headers from the verified token. `sub`, `client_id`, `scope` (space-separated),
    /// `aud` (the products) and `jti` come from the token record, any other claim from the
    /// token's claims (JWT) or stored extra claims (opaque); dots reach into objects.
    pub(super) fn apply(&self, info: &TokenInfo, headers: &mut HeaderMap) {
        for (claim, name) in &self.0 {
            let value = match claim.as_str() {
                "sub" => info.subject.clone().map(Value::String),
                "client_id" => Some(Value::String(info.client_id.clone())),
                "scope" => Some(Value::String(info.scopes.join(" "))),
                "aud" => Some(Value::String(info.products.join(","))),
                "jti" => Some(Value::String(info.id.clone())),
                other => claim_value(&info.claims, other).cloned(),
            };
            if let Some(v) = value.as_ref().and_then(header_value) {
                headers.insert(name.clone(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn info() -> TokenInfo {
        let mut claims = serde_json::Map::new();
        claims.insert("tenant".into(), serde_json::json!({"id": "t-7"}));
        TokenInfo {
            id: "tok_1".into(),
            format: "opaque",
            client_id: "key_abc".into(),
            subject: Some("user-9".into()),
            scopes: vec!["orders.read".into(), "orders.write".into()],
            products: vec!["orders".into()],
            issued_at: SystemTime::now(),
            expires_at: SystemTime::now(),
            owner: None,
            cnf_x5t: None,
            cnf_jkt: None,
            family_id: None,
            claims,
        }
    }

    #[test]
    fn token_values_become_headers_and_forged_ones_are_removed() {
        let map: BTreeMap<String, String> = [
            ("sub", "x-user"),
            ("client_id", "x-client"),
            ("scope", "x-scope"),
            ("tenant.id", "x-tenant"),
            ("missing", "x-missing"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let ch = ClaimHeaders::compile(&map).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-user", "forged".parse().unwrap());
        headers.insert("x-missing", "forged".parse().unwrap());
        ch.strip(&mut headers);
        assert!(headers.is_empty());
        ch.apply(&info(), &mut headers);
        assert_eq!(headers["x-user"], "user-9");
        assert_eq!(headers["x-client"], "key_abc");
        assert_eq!(headers["x-scope"], "orders.read orders.write");
        assert_eq!(headers["x-tenant"], "t-7");
        assert!(headers.get("x-missing").is_none());
    }

    #[test]
    fn bad_header_names_name_the_field() {
        let map = BTreeMap::from([("sub".to_owned(), "bad header".to_owned())]);
        let errors = ClaimHeaders::compile(&map).err().unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "claims_to_headers.sub");
    }
}
