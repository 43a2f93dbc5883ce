//! Which client authentication methods a client may use: the app attribute
//! `token_endpoint_auth_method` (the RFC 7591 client metadata name), one method or several
//! separated by spaces or commas. Without it a client may use the secret methods
//! (`client_secret_basic`, `client_secret_post`) and nothing else, so certificate or
//! assertion authentication is opt-in per client, and a client registered for
//! `tls_client_auth` can no longer be authenticated with its consumer secret.

use portcullis_store::OAuthClient;

use crate::client_auth::AuthMethod;
use crate::error::OAuthError;

/// App attribute naming the permitted authentication method(s).
pub const AUTH_METHOD_ATTRIBUTE: &str = "token_endpoint_auth_method";

/// Methods permitted without the attribute.
const DEFAULT_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// `Ok` when `client` may authenticate with `used`; `invalid_client` otherwise (also for an
/// attribute naming an unknown method: a misregistered client is refused, not defaulted).
pub(crate) fn permitted(client: &OAuthClient, used: AuthMethod) -> Result<(), OAuthError> {
    let Some(allowed) = client.app_attributes.get(AUTH_METHOD_ATTRIBUTE) else {
        return ok_if(DEFAULT_METHODS.contains(&used.as_str()));
    };
    ok_if(
        allowed
            .split([' ', ','])
            .filter(|m| !m.is_empty())
            .any(|m| m == used.as_str()),
    )
}

fn ok_if(ok: bool) -> Result<(), OAuthError> {
    if ok {
        Ok(())
    } else {
        Err(OAuthError::invalid_client())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(attr: Option<&str>) -> OAuthClient {
        OAuthClient {
            credential_id: "key_1".into(),
            prefix: "pcl_1".into(),
            app_id: "app_1".into(),
            app_name: "a".into(),
            developer_id: "dev_1".into(),
            developer_email: "d@example.com".into(),
            callback_urls: vec![],
            app_attributes: attr
                .map(|a| [(AUTH_METHOD_ATTRIBUTE.to_owned(), a.to_owned())].into())
                .unwrap_or_default(),
            products: vec![],
        }
    }

    #[test]
    fn secret_methods_by_default_and_the_registered_ones_otherwise() {
        let default = client(None);
        assert!(permitted(&default, AuthMethod::SecretBasic).is_ok());
        assert!(permitted(&default, AuthMethod::SecretPost).is_ok());
        assert!(permitted(&default, AuthMethod::TlsClientAuth).is_err());
        let mtls = client(Some("tls_client_auth"));
        assert!(permitted(&mtls, AuthMethod::TlsClientAuth).is_ok());
        assert!(permitted(&mtls, AuthMethod::SecretBasic).is_err());
        assert!(permitted(&mtls, AuthMethod::SecretPost).is_err());
        let both = client(Some("client_secret_basic, tls_client_auth"));
        assert!(permitted(&both, AuthMethod::SecretBasic).is_ok());
        assert!(permitted(&both, AuthMethod::TlsClientAuth).is_ok());
        assert!(permitted(&both, AuthMethod::SecretPost).is_err());
        assert!(permitted(&client(Some("bogus")), AuthMethod::SecretBasic).is_err());
        assert!(permitted(&default, AuthMethod::PrivateKeyJwt).is_err());
        let pkjwt = client(Some("private_key_jwt"));
        assert!(permitted(&pkjwt, AuthMethod::PrivateKeyJwt).is_ok());
        assert!(permitted(&pkjwt, AuthMethod::SecretBasic).is_err());
        assert!(permitted(&pkjwt, AuthMethod::SecretPost).is_err());
    }
}
