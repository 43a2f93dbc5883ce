//! The `KeyRepository` impl every SQL backend shares, generated so the trait's method list is
//! spelled out once: a backend that forgot to forward a method would otherwise silently fall
//! back to a trait default (as `subscribe_changes` has) instead of failing to compile.

/// Implements `KeyRepository` for a [`Backend`] by delegating to this module.
macro_rules! impl_key_repository {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::KeyRepository for $store {
            async fn ensure_developer(
                &self,
                email: &str,
                name: &str,
            ) -> Result<$crate::Developer, $crate::StoreError> {
                $crate::sql::repo::ensure_developer(self, email, name).await
            }
            async fn ensure_app(
                &self,
                developer_email: &str,
                app_name: &str,
            ) -> Result<$crate::App, $crate::StoreError> {
                $crate::sql::repo::ensure_app(self, developer_email, app_name).await
            }
            async fn find_app(
                &self,
                developer_email: &str,
                app_name: &str,
            ) -> Result<$crate::App, $crate::StoreError> {
                $crate::sql::repo::find_app(self, developer_email, app_name).await
            }
            async fn create_key(
                &self,
                app_id: &str,
                expires_at: Option<std::time::SystemTime>,
            ) -> Result<($crate::KeyRecord, $crate::SecretKey), $crate::StoreError> {
                let generate = &mut $crate::SecretKey::generate;
                $crate::sql::repo::create_key_with(self, app_id, expires_at, generate).await
            }
            async fn list_keys(
                &self,
                app_filter: Option<&str>,
            ) -> Result<Vec<$crate::KeyRecord>, $crate::StoreError> {
                $crate::sql::repo::list_keys(self, app_filter).await
            }
            async fn revoke_key(
                &self,
                prefix_or_id: &str,
            ) -> Result<$crate::KeyRecord, $crate::StoreError> {
                $crate::sql::repo::revoke_key(self, prefix_or_id).await
            }
            async fn set_app_status(
                &self,
                app_id: &str,
                status: $crate::AppStatus,
            ) -> Result<$crate::App, $crate::StoreError> {
                $crate::sql::repo::set_app_status(self, app_id, status).await
            }
            async fn set_developer_status(
                &self,
                developer: &str,
                status: $crate::DeveloperStatus,
            ) -> Result<$crate::Developer, $crate::StoreError> {
                $crate::sql::repo::set_developer_status(self, developer, status).await
            }
            async fn load_credentials(
                &self,
            ) -> Result<Vec<$crate::CredentialEntry>, $crate::StoreError> {
                $crate::sql::repo::load_credentials(self).await
            }
            async fn change_seq(&self) -> Result<i64, $crate::StoreError> {
                $crate::sql::backend::change_seq(self).await
            }
            async fn change_marker(&self) -> Result<$crate::ChangeMarker, $crate::StoreError> {
                $crate::sql::backend::Backend::marker(self).await
            }
            fn local_changes(&self) -> tokio::sync::watch::Receiver<i64> {
                $crate::sql::backend::Backend::subscribe_local(self)
            }
            fn subscribe_changes(&self) -> Option<$crate::ChangeFeed> {
                $crate::sql::backend::Backend::change_feed(self)
            }
        }
    };
}
pub(crate) use impl_key_repository;
