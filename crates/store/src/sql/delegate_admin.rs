//! The `KvmRepository` and `AdminRepository` impls every SQL backend shares, generated so each
//! trait's method list is spelled out once (see `delegate.rs` for why a macro).

/// Implements `KvmRepository` and `AdminRepository` for a [`Backend`](super::backend::Backend)
/// by delegating to [`super::kvm`] and [`super::admin`].
macro_rules! impl_admin_repositories {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::KvmRepository for $store {
            async fn kvm_put(
                &self,
                actor: &$crate::Actor,
                environment: &str,
                map: &str,
                key: &str,
                value: &str,
                expected_version: Option<i64>,
            ) -> Result<$crate::KvmEntryInfo, $crate::StoreError> {
                $crate::sql::kvm::kvm_put(
                    self,
                    actor,
                    environment,
                    map,
                    key,
                    value,
                    expected_version,
                )
                .await
            }
            async fn kvm_get(
                &self,
                environment: &str,
                map: &str,
                key: &str,
            ) -> Result<($crate::KvmEntryInfo, String), $crate::StoreError> {
                $crate::sql::kvm::kvm_get(self, environment, map, key).await
            }
            async fn kvm_reveal(
                &self,
                actor: &$crate::Actor,
                environment: &str,
                map: &str,
                key: &str,
            ) -> Result<($crate::KvmEntryInfo, String), $crate::StoreError> {
                $crate::sql::kvm::kvm_reveal(self, actor, environment, map, key).await
            }
            async fn kvm_list(
                &self,
                environment: &str,
                map: Option<&str>,
            ) -> Result<Vec<$crate::KvmEntryInfo>, $crate::StoreError> {
                $crate::sql::kvm::kvm_list(self, environment, map).await
            }
            async fn kvm_delete(
                &self,
                actor: &$crate::Actor,
                environment: &str,
                map: &str,
                key: &str,
                expected_version: Option<i64>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::kvm::kvm_delete(self, actor, environment, map, key, expected_version)
                    .await
            }
            async fn kvm_load_environment(
                &self,
                environment: &str,
            ) -> Result<Vec<($crate::KvmEntryInfo, String)>, $crate::StoreError> {
                $crate::sql::kvm::kvm_load_environment(self, environment).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::AdminRepository for $store {
            async fn create_admin_user(
                &self,
                actor: &$crate::Actor,
                username: &str,
                password: &str,
                role: $crate::AdminRole,
            ) -> Result<$crate::AdminUser, $crate::StoreError> {
                $crate::sql::admin::create_admin_user(self, actor, username, password, role).await
            }
            async fn list_admin_users(&self) -> Result<Vec<$crate::AdminUser>, $crate::StoreError> {
                $crate::sql::admin::list_admin_users(self).await
            }
            async fn get_admin_user(
                &self,
                id_or_username: &str,
            ) -> Result<$crate::AdminUser, $crate::StoreError> {
                $crate::sql::admin::get_admin_user(self, id_or_username).await
            }
            async fn update_admin_user(
                &self,
                actor: &$crate::Actor,
                id_or_username: &str,
                role: $crate::AdminRole,
                disabled: bool,
                expected_version: Option<i64>,
            ) -> Result<$crate::AdminUser, $crate::StoreError> {
                $crate::sql::admin::update_admin_user(
                    self,
                    actor,
                    id_or_username,
                    role,
                    disabled,
                    expected_version,
                )
                .await
            }
            async fn set_admin_password(
                &self,
                actor: &$crate::Actor,
                id_or_username: &str,
                password: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::admin::set_admin_password(self, actor, id_or_username, password).await
            }
            async fn begin_totp(
                &self,
                actor: &$crate::Actor,
                id_or_username: &str,
            ) -> Result<String, $crate::StoreError> {
                $crate::sql::admin::begin_totp(self, actor, id_or_username).await
            }
            async fn confirm_totp(
                &self,
                actor: &$crate::Actor,
                id_or_username: &str,
                code: &str,
            ) -> Result<$crate::AdminUser, $crate::StoreError> {
                $crate::sql::admin::confirm_totp(self, actor, id_or_username, code).await
            }
            async fn login(
                &self,
                username: &str,
                password: &str,
                totp_code: Option<&str>,
                session_ttl: std::time::Duration,
            ) -> Result<($crate::AdminToken, $crate::SecretKey), $crate::StoreError> {
                $crate::sql::admin::login(self, username, password, totp_code, session_ttl).await
            }
            async fn create_admin_token(
                &self,
                actor: &$crate::Actor,
                user: &str,
                name: &str,
                role: $crate::AdminRole,
                expires_at: Option<std::time::SystemTime>,
            ) -> Result<($crate::AdminToken, $crate::SecretKey), $crate::StoreError> {
                $crate::sql::admin::create_admin_token(self, actor, user, name, role, expires_at)
                    .await
            }
            async fn list_admin_tokens(
                &self,
                user: Option<&str>,
            ) -> Result<Vec<$crate::AdminToken>, $crate::StoreError> {
                $crate::sql::admin::list_admin_tokens(self, user).await
            }
            async fn revoke_admin_token(
                &self,
                actor: &$crate::Actor,
                id_or_prefix: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::admin::revoke_admin_token(self, actor, id_or_prefix).await
            }
            async fn authenticate_admin_token(
                &self,
                token: &str,
            ) -> Result<$crate::AdminPrincipal, $crate::StoreError> {
                $crate::sql::admin::authenticate_admin_token(self, token).await
            }
            async fn admin_users_empty(&self) -> Result<bool, $crate::StoreError> {
                $crate::sql::admin::admin_users_empty(self).await
            }
        }
    };
}
pub(crate) use impl_admin_repositories;
