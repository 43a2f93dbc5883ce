//! What a client may be granted: scopes come from the API products its credential is
//! **approved** for, and the access token format from those products.
//!
//! Unlike Apigee (which silently drops scopes an app lacks), a requested scope that none of the
//! client's approved products grants is an `invalid_scope` error (RFC 6749 §5.2): a client
//! must not believe it holds a permission it does not. With no `scope` parameter the token
//! gets every scope the client's products grant.

use std::collections::BTreeSet;

use portcullis_store::OAuthClient;

use crate::error::OAuthError;
use crate::settings::TokenFormat;

/// Product attribute choosing the access token format (`jwt` or `opaque`).
pub const TOKEN_FORMAT_ATTRIBUTE: &str = "token_format";

/// The scopes and products of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) scopes: Vec<String>,
    pub(crate) products: Vec<String>,
}

/// RFC 6749 §3.3 scope-token syntax: printable ASCII except space, `"` and `\`.
fn valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Parses a `scope` parameter into distinct tokens (order kept).
pub(crate) fn parse_scope(scope: Option<&str>) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(scope) = scope else {
        return Ok(None);
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !valid_scope_token(s) {
            return Err(OAuthError::invalid_scope());
        }
        if seen.insert(s) {
            out.push(s.to_owned());
        }
    }
    Ok(Some(out))
}

/// Decides the grant for `requested` scopes (None: everything the client may have).
pub(crate) fn decide(
    client: &OAuthClient,
    requested: Option<&[String]>,
) -> Result<Grant, OAuthError> {
    if client.products.is_empty() {
        return Err(OAuthError::unauthorized_client(
            "the client is not approved for any API product",
        ));
    }
    let allowed = client.allowed_scopes();
    let scopes: Vec<String> = match requested {
        Some(req) => {
            if req.iter().any(|s| !allowed.contains(s.as_str())) {
                return Err(OAuthError::invalid_scope());
            }
            req.to_vec()
        }
        None => allowed.iter().map(|s| (*s).to_owned()).collect(),
    };
    // The products the token is granted through: those giving at least one granted scope, or
    // every approved product when the token carries no scope.
    let products = client
        .products
        .iter()
        .filter(|p| scopes.is_empty() || p.scopes.iter().any(|s| scopes.contains(s)))
        .map(|p| p.name.clone())
        .collect();
    Ok(Grant { scopes, products })
}

/// The access token format: `jwt` if any product of the grant asks for it, else `opaque` if
/// any asks for that, else the server default.
pub(crate) fn token_format(
    client: &OAuthClient,
    grant: &Grant,
    default: TokenFormat,
) -> TokenFormat {
    let wanted: Vec<TokenFormat> = client
        .products
        .iter()
        .filter(|p| grant.products.contains(&p.name))
        .filter_map(|p| p.attributes.get(TOKEN_FORMAT_ATTRIBUTE))
        .filter_map(|v| TokenFormat::parse(v))
        .collect();
    if wanted.contains(&TokenFormat::Jwt) {
        TokenFormat::Jwt
    } else if wanted.contains(&TokenFormat::Opaque) {
        TokenFormat::Opaque
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use portcullis_store::ClientProduct;

    use super::*;

    fn client(products: &[(&str, &[&str], Option<&str>)]) -> OAuthClient {
        OAuthClient {
            credential_id: "key_1".into(),
            prefix: "pcl_12345678".into(),
            app_id: "app_1".into(),
            app_name: "a".into(),
            developer_id: "dev_1".into(),
            developer_email: "d@example.com".into(),
            callback_urls: vec![],
            app_attributes: Default::default(),
            products: products
                .iter()
                .map(|(name, scopes, fmt)| ClientProduct {
                    name: (*name).into(),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    attributes: fmt
                        .map(|f| [(TOKEN_FORMAT_ATTRIBUTE.to_owned(), f.to_owned())].into())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    #[test]
    fn scopes_are_the_union_of_approved_products_and_unknown_ones_fail() {
        let c = client(&[
            ("a", &["read", "write"], None),
            ("b", &["admin"], Some("jwt")),
        ]);
        let all = decide(&c, None).unwrap();
        assert_eq!(all.scopes, ["admin", "read", "write"]);
        assert_eq!(all.products, ["a", "b"]);
        let some = decide(&c, Some(&["read".into()])).unwrap();
        assert_eq!(some.products, ["a"]);
        assert_eq!(
            token_format(&c, &some, TokenFormat::Opaque),
            TokenFormat::Opaque
        );
        let admin = decide(&c, Some(&["admin".into()])).unwrap();
        assert_eq!(
            token_format(&c, &admin, TokenFormat::Opaque),
            TokenFormat::Jwt
        );
        let err = decide(&c, Some(&["read".into(), "delete".into()])).unwrap_err();
        assert_eq!(err.code, "invalid_scope");
        assert_eq!(
            decide(&client(&[]), None).unwrap_err().code,
            "unauthorized_client"
        );
    }

    #[test]
    fn scope_syntax_is_checked() {
        assert_eq!(
            parse_scope(Some("a  b a")).unwrap().unwrap(),
            ["a".to_owned(), "b".to_owned()]
        );
        assert!(parse_scope(Some("a\"b")).is_err());
        assert!(parse_scope(None).unwrap().is_none());
    }
}
