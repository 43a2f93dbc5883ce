//! OAuth client metadata carried as app attributes (apps are the OAuth clients; `AppSpec` has
//! no OAuth fields). The names follow OpenID Connect Dynamic Client Registration §2 /
//! RFC 7591 §2:
//!
//! - `token_endpoint_auth_method`: the client authentication method(s) the client may use at
//!   the token, introspection and revocation endpoints ([`TokenEndpointAuthMethod`]; several
//!   separated by spaces or commas). Absent: the two secret methods only.
//! - `jwks`: the client's public keys, an inline JWKS document (`{"keys": [...]}`).
//! - `jwks_uri`: where to fetch them (https; http only for a loopback host).
//!
//! [`check`] is run wherever apps are written (admin API, declarative apply), so a bad value is
//! refused with its field path (`attributes["jwks"]: ...`) instead of leaving a client that
//! silently cannot authenticate. It checks shape only; the authorization server still parses
//! the keys when it uses them and treats a client without a usable key as unable to
//! authenticate (and logs why).

use std::net::IpAddr;

use crate::management::Attributes;

/// App attribute restricting the client authentication method.
pub const TOKEN_ENDPOINT_AUTH_METHOD: &str = "token_endpoint_auth_method";
/// App attribute holding the client's inline JWKS.
pub const JWKS: &str = "jwks";
/// App attribute holding the URL of the client's JWKS.
pub const JWKS_URI: &str = "jwks_uri";

/// Most keys accepted in an inline `jwks` (a client rotating keys needs two or three).
pub const MAX_INLINE_KEYS: usize = 10;

/// Private or symmetric JWK members: a client registers public keys only.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Client authentication methods a client may be restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the consumer secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// Form parameters with the consumer secret.
    ClientSecretPost,
    /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// A client certificate (RFC 8705 §2.1).
    TlsClientAuth,
}

impl TokenEndpointAuthMethod {
    /// Every method, in registration-document order.
    pub const ALL: [Self; 4] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::TlsClientAuth,
    ];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
        }
    }

    /// Parses a registered name (exact spelling).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The problems of the OAuth client attributes in `attributes`, each as (attribute name,
/// problem). Empty when they are fine or absent.
pub fn check(attributes: &Attributes) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let methods: Option<Vec<&str>> = attributes
        .get(TOKEN_ENDPOINT_AUTH_METHOD)
        .map(|m| m.split([' ', ',']).filter(|m| !m.is_empty()).collect());
    if let Some(list) = &methods
        && (list.is_empty()
            || list
                .iter()
                .any(|m| TokenEndpointAuthMethod::parse(m).is_none()))
    {
        let names: Vec<&str> = TokenEndpointAuthMethod::ALL
            .iter()
            .map(|m| m.as_str())
            .collect();
        problems.push((
            TOKEN_ENDPOINT_AUTH_METHOD,
            format!(
                "must name one or more of {} (separated by spaces or commas)",
                names.join(", ")
            ),
        ));
    }
    let jwks = attributes.get(JWKS);
    let jwks_uri = attributes.get(JWKS_URI);
    if let Some(doc) = jwks
        && let Err(e) = check_jwks(doc)
    {
        problems.push((JWKS, e));
    }
    if let Some(uri) = jwks_uri
        && let Err(e) = check_jwks_uri(uri)
    {
        problems.push((JWKS_URI, e));
    }
    if jwks.is_some() && jwks_uri.is_some() {
        problems.push((JWKS_URI, "set either jwks or jwks_uri, not both".into()));
    }
    let pkjwt = TokenEndpointAuthMethod::PrivateKeyJwt.as_str();
    if methods.is_some_and(|l| l.contains(&pkjwt)) && jwks.is_none() && jwks_uri.is_none() {
        problems.push((
            TOKEN_ENDPOINT_AUTH_METHOD,
            "private_key_jwt needs the client's keys in jwks or jwks_uri".into(),
        ));
    }
    problems
}

/// An inline JWKS: a JSON object whose `keys` holds 1 to [`MAX_INLINE_KEYS`] public signature
/// keys (RSA, EC or OKP, no private or symmetric material).
fn check_jwks(doc: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(doc).map_err(|_| "must be a JWKS JSON document".to_owned())?;
    let keys = value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("must be a JWKS: an object with a \"keys\" array")?;
    if keys.is_empty() || keys.len() > MAX_INLINE_KEYS {
        return Err(format!("must hold 1 to {MAX_INLINE_KEYS} keys"));
    }
    for (i, key) in keys.iter().enumerate() {
        let obj = key
            .as_object()
            .ok_or_else(|| format!("keys[{i}] is not an object"))?;
        if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(format!(
                "keys[{i}] holds private or symmetric key material: register public keys only"
            ));
        }
        match obj.get("kty").and_then(serde_json::Value::as_str) {
            Some("RSA" | "EC" | "OKP") => {}
            _ => return Err(format!("keys[{i}]: kty must be RSA, EC or OKP")),
        }
    }
    Ok(())
}

/// `jwks_uri`: an absolute https URL without userinfo or fragment; http only for a loopback host.
fn check_jwks_uri(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must not have userinfo or a fragment".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => return Err("must name a host".into()),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must use https (http only for a loopback host)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const EC: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","kid":"k1"}]}"#;

    #[test]
    fn valid_registrations_pass() {
        for a in [
            attrs(&[]),
            attrs(&[("tier", "gold")]),
            attrs(&[
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks", EC),
            ]),
            attrs(&[
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks_uri", "https://client.example/jwks.json"),
            ]),
            attrs(&[("jwks_uri", "http://127.0.0.1:8080/jwks")]),
            attrs(&[("jwks_uri", "http://[::1]/jwks")]),
            attrs(&[("jwks_uri", "http://localhost/jwks")]),
            attrs(&[("token_endpoint_auth_method", "client_secret_post")]),
            attrs(&[("token_endpoint_auth_method", "tls_client_auth")]),
            attrs(&[(
                "token_endpoint_auth_method",
                "client_secret_basic, tls_client_auth",
            )]),
        ] {
            assert_eq!(check(&a), vec![], "{a:?}");
        }
    }

    /// Attributes, the attribute the problem must name, a word of the problem.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );

    #[test]
    fn each_bad_value_is_named() {
        let cases: &[Case] = &[
            (
                &[("token_endpoint_auth_method", "client_secret_jwt")],
                TOKEN_ENDPOINT_AUTH_METHOD,
                "one or more",
            ),
            (
                &[("token_endpoint_auth_method", "private_key_jwt")],
                TOKEN_ENDPOINT_AUTH_METHOD,
                "needs",
            ),
            (
                &[(
                    "token_endpoint_auth_method",
                    "tls_client_auth,private_key_jwt",
                )],
                TOKEN_ENDPOINT_AUTH_METHOD,
                "needs",
            ),
            (
                &[("token_endpoint_auth_method", "client_secret_basic bogus")],
                TOKEN_ENDPOINT_AUTH_METHOD,
                "one or more",
            ),
            (
                &[("token_endpoint_auth_method", " , ")],
                TOKEN_ENDPOINT_AUTH_METHOD,
                "one or more",
            ),
            (&[("jwks", "not json")], JWKS, "JWKS"),
            (&[("jwks", r#"{"keys":[]}"#)], JWKS, "1 to"),
            (&[("jwks", r#"{"keys":{}}"#)], JWKS, "keys"),
            (
                &[("jwks", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#)],
                JWKS,
                "symmetric",
            ),
            (
                &[(
                    "jwks",
                    r#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}"#,
                )],
                JWKS,
                "private",
            ),
            (&[("jwks", r#"{"keys":[{"kty":"DSA"}]}"#)], JWKS, "kty"),
            (
                &[("jwks_uri", "http://client.example/jwks")],
                JWKS_URI,
                "https",
            ),
            (
                &[("jwks_uri", "ftp://client.example/jwks")],
                JWKS_URI,
                "https",
            ),
            (&[("jwks_uri", "/jwks")], JWKS_URI, "absolute"),
            (
                &[("jwks_uri", "https://u:p@client.example/jwks")],
                JWKS_URI,
                "userinfo",
            ),
            (
                &[("jwks", EC), ("jwks_uri", "https://client.example/jwks")],
                JWKS_URI,
                "not both",
            ),
        ];
        for (pairs, field, needle) in cases {
            let problems = check(&attrs(pairs));
            assert_eq!(problems.len(), 1, "{pairs:?}: {problems:?}");
            assert_eq!(problems[0].0, *field, "{pairs:?}");
            assert!(
                problems[0].1.contains(needle),
                "{pairs:?}: {}",
                problems[0].1
            );
        }
    }

    #[test]
    fn method_names_round_trip() {
        for m in TokenEndpointAuthMethod::ALL {
            assert_eq!(TokenEndpointAuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(TokenEndpointAuthMethod::parse("Private_Key_JWT"), None);
    }
}
