//! The `OAuthRepository` impl every SQL backend shares, generated so the trait's method list is
//! spelled out once (see `delegate.rs` for why a macro).

/// Implements `OAuthRepository` for a [`Backend`](super::backend::Backend) by delegating to
/// [`super::oauth`].
macro_rules! impl_oauth_repository {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::OAuthRepository for $store {
            async fn oauth_client(
                &self,
                client_id: &str,
            ) -> Result<$crate::OAuthClient, $crate::StoreError> {
                $crate::sql::oauth::clients::oauth_client(self, client_id).await
            }
            async fn authenticate_oauth_client(
                &self,
                client_id: &str,
                client_secret: &str,
            ) -> Result<$crate::OAuthClient, $crate::StoreError> {
                $crate::sql::oauth::clients::authenticate_oauth_client(
                    self,
                    client_id,
                    client_secret,
                )
                .await
            }
            async fn oauth_client_by_credential(
                &self,
                credential_id: &str,
            ) -> Result<$crate::OAuthClient, $crate::StoreError> {
                $crate::sql::oauth::clients::oauth_client_by_credential(self, credential_id).await
            }
            async fn store_tokens(
                &self,
                tokens: &[$crate::NewToken],
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::oauth::tokens::store_tokens(self, tokens).await
            }
            async fn find_token(
                &self,
                hash: &$crate::KeyHash,
            ) -> Result<Option<$crate::TokenRecord>, $crate::StoreError> {
                $crate::sql::oauth::tokens::find_token(self, hash).await
            }
            async fn revoke_token(
                &self,
                hash: &$crate::KeyHash,
                credential_id: &str,
                family: bool,
            ) -> Result<u64, $crate::StoreError> {
                $crate::sql::oauth::tokens::revoke_token(self, hash, credential_id, family).await
            }
            async fn revoke_family(&self, family_id: &str) -> Result<u64, $crate::StoreError> {
                $crate::sql::oauth::tokens::revoke_family(self, family_id).await
            }
            async fn rotate_refresh_token(
                &self,
                old_id: &str,
                new_tokens: &[$crate::NewToken],
            ) -> Result<$crate::Rotation, $crate::StoreError> {
                $crate::sql::oauth::tokens::rotate_refresh_token(self, old_id, new_tokens).await
            }
            async fn purge_expired(
                &self,
                before: std::time::SystemTime,
            ) -> Result<u64, $crate::StoreError> {
                $crate::sql::oauth::tokens::purge_expired(self, before).await
            }
            async fn use_assertion_jti(
                &self,
                hash: &$crate::KeyHash,
                expires_at: std::time::SystemTime,
                now: std::time::SystemTime,
            ) -> Result<bool, $crate::StoreError> {
                $crate::sql::oauth::assertions::use_assertion_jti(self, hash, expires_at, now).await
            }
            async fn store_code(&self, code: &$crate::NewCode) -> Result<(), $crate::StoreError> {
                $crate::sql::oauth::codes::store_code(self, code).await
            }
            async fn consume_code(
                &self,
                hash: &$crate::KeyHash,
                now: std::time::SystemTime,
            ) -> Result<$crate::CodeUse, $crate::StoreError> {
                $crate::sql::oauth::codes::consume_code(self, hash, now).await
            }
            async fn store_code_tokens(
                &self,
                code_id: &str,
                tokens: &[$crate::NewToken],
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::oauth::codes::store_code_tokens(self, code_id, tokens).await
            }
            async fn signing_keys(
                &self,
            ) -> Result<Vec<$crate::SigningKeyRecord>, $crate::StoreError> {
                $crate::sql::oauth::keys::signing_keys(self).await
            }
            async fn add_signing_key(
                &self,
                key: &$crate::NewSigningKey,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::oauth::keys::add_signing_key(self, key).await
            }
            async fn rotate_signing_keys(
                &self,
                promote: &str,
                new_next: &$crate::NewSigningKey,
            ) -> Result<bool, $crate::StoreError> {
                $crate::sql::oauth::keys::rotate_signing_keys(self, promote, new_next).await
            }
            async fn delete_retired_keys(
                &self,
                before: std::time::SystemTime,
            ) -> Result<u64, $crate::StoreError> {
                $crate::sql::oauth::keys::delete_retired_keys(self, before).await
            }
            async fn create_oauth_user(
                &self,
                actor: &$crate::Actor,
                username: &str,
                password: &str,
                claims: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<$crate::OAuthUser, $crate::StoreError> {
                $crate::sql::oauth::users::create_oauth_user(
                    self, actor, username, password, claims,
                )
                .await
            }
            async fn get_oauth_user(
                &self,
                id_or_username: &str,
            ) -> Result<$crate::OAuthUser, $crate::StoreError> {
                $crate::sql::oauth::users::get_oauth_user(self, id_or_username).await
            }
            async fn authenticate_oauth_user(
                &self,
                username: &str,
                password: &str,
            ) -> Result<$crate::OAuthUser, $crate::StoreError> {
                $crate::sql::oauth::users::authenticate_oauth_user(self, username, password).await
            }
            async fn link_federated_user(
                &self,
                actor: &$crate::Actor,
                provider: &str,
                subject: &str,
                claims: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<$crate::OAuthUser, $crate::StoreError> {
                $crate::sql::oauth::links::link_federated_user(
                    self, actor, provider, subject, claims,
                )
                .await
            }
        }
    };
}
pub(crate) use impl_oauth_repository;
