//! The `CatalogRepository`, `CatalogApply` and `AuditRepository` impls every SQL backend
//! shares, generated (like `impl_key_repository!`) so each trait method is forwarded in exactly
//! one place.

/// Implements `CatalogRepository`, `CatalogApply` and `AuditRepository` for a [`Backend`] by
/// delegating to `sql::catalog` and `sql::audit`.
macro_rules! impl_catalog_repository {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::CatalogRepository for $store {
            async fn create_environment(
                &self,
                actor: &$crate::Actor,
                name: &str,
                description: &str,
            ) -> Result<$crate::Environment, $crate::StoreError> {
                $crate::sql::catalog::environments::create(self, actor, name, description).await
            }
            async fn ensure_environment(
                &self,
                actor: &$crate::Actor,
                name: &str,
            ) -> Result<$crate::Environment, $crate::StoreError> {
                $crate::sql::catalog::environments::ensure(self, actor, name).await
            }
            async fn get_environment(
                &self,
                name: &str,
            ) -> Result<$crate::Environment, $crate::StoreError> {
                $crate::sql::catalog::environments::get(self, name).await
            }
            async fn list_environments(
                &self,
            ) -> Result<Vec<$crate::Environment>, $crate::StoreError> {
                $crate::sql::catalog::environments::list(self).await
            }
            async fn update_environment(
                &self,
                actor: &$crate::Actor,
                name: &str,
                description: &str,
                expected_version: Option<i64>,
            ) -> Result<$crate::Environment, $crate::StoreError> {
                $crate::sql::catalog::environments::update(
                    self,
                    actor,
                    name,
                    description,
                    expected_version,
                )
                .await
            }
            async fn delete_environment(
                &self,
                actor: &$crate::Actor,
                name: &str,
                expected_version: Option<i64>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::catalog::environments::delete(self, actor, name, expected_version)
                    .await
            }

            async fn create_developer(
                &self,
                actor: &$crate::Actor,
                spec: &$crate::DeveloperSpec,
            ) -> Result<$crate::DeveloperDetail, $crate::StoreError> {
                $crate::sql::catalog::developers::create(self, actor, spec).await
            }
            async fn get_developer(
                &self,
                id_or_email: &str,
            ) -> Result<$crate::DeveloperDetail, $crate::StoreError> {
                $crate::sql::catalog::developers::get(self, id_or_email).await
            }
            async fn list_developers(
                &self,
                status: Option<$crate::DeveloperStatus>,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<$crate::DeveloperDetail>, $crate::StoreError> {
                $crate::sql::catalog::developers::list(self, status, page).await
            }
            async fn update_developer(
                &self,
                actor: &$crate::Actor,
                id_or_email: &str,
                spec: &$crate::DeveloperSpec,
                expected_version: Option<i64>,
            ) -> Result<$crate::DeveloperDetail, $crate::StoreError> {
                $crate::sql::catalog::developers::update(
                    self,
                    actor,
                    id_or_email,
                    spec,
                    expected_version,
                )
                .await
            }
            async fn set_developer_status_by(
                &self,
                actor: &$crate::Actor,
                id_or_email: &str,
                status: $crate::DeveloperStatus,
                expected_version: Option<i64>,
            ) -> Result<$crate::DeveloperDetail, $crate::StoreError> {
                $crate::sql::catalog::developers::set_status(
                    self,
                    actor,
                    id_or_email,
                    status,
                    expected_version,
                )
                .await
            }
            async fn delete_developer(
                &self,
                actor: &$crate::Actor,
                id_or_email: &str,
                expected_version: Option<i64>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::catalog::developers::delete(self, actor, id_or_email, expected_version)
                    .await
            }

            async fn create_app(
                &self,
                actor: &$crate::Actor,
                developer: &str,
                spec: &$crate::AppSpec,
            ) -> Result<$crate::AppDetail, $crate::StoreError> {
                $crate::sql::catalog::apps::create(self, actor, developer, spec).await
            }
            async fn get_app(&self, app_id: &str) -> Result<$crate::AppDetail, $crate::StoreError> {
                $crate::sql::catalog::apps::get(self, app_id).await
            }
            async fn list_apps(
                &self,
                developer: Option<&str>,
                status: Option<$crate::AppStatus>,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<$crate::AppDetail>, $crate::StoreError> {
                $crate::sql::catalog::apps::list(self, developer, status, page).await
            }
            async fn update_app(
                &self,
                actor: &$crate::Actor,
                app_id: &str,
                spec: &$crate::AppSpec,
                expected_version: Option<i64>,
            ) -> Result<$crate::AppDetail, $crate::StoreError> {
                $crate::sql::catalog::apps::update(self, actor, app_id, spec, expected_version)
                    .await
            }
            async fn set_app_status_by(
                &self,
                actor: &$crate::Actor,
                app_id: &str,
                status: $crate::AppStatus,
                expected_version: Option<i64>,
            ) -> Result<$crate::AppDetail, $crate::StoreError> {
                $crate::sql::catalog::apps::set_status(
                    self,
                    actor,
                    app_id,
                    status,
                    expected_version,
                )
                .await
            }
            async fn delete_app(
                &self,
                actor: &$crate::Actor,
                app_id: &str,
                expected_version: Option<i64>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::catalog::apps::delete(self, actor, app_id, expected_version).await
            }

            async fn create_credential(
                &self,
                actor: &$crate::Actor,
                app_id: &str,
                spec: &$crate::CredentialSpec,
            ) -> Result<$crate::IssuedCredential, $crate::StoreError> {
                $crate::sql::catalog::credentials::create(self, actor, app_id, spec).await
            }
            async fn get_credential(
                &self,
                id_or_prefix: &str,
            ) -> Result<$crate::CredentialDetail, $crate::StoreError> {
                $crate::sql::catalog::credentials::get(self, id_or_prefix).await
            }
            async fn list_credentials(
                &self,
                app_id: &str,
            ) -> Result<Vec<$crate::CredentialDetail>, $crate::StoreError> {
                $crate::sql::catalog::credentials::list(self, app_id).await
            }
            async fn rotate_credential(
                &self,
                actor: &$crate::Actor,
                id_or_prefix: &str,
                old_expires_at: std::time::SystemTime,
            ) -> Result<$crate::IssuedCredential, $crate::StoreError> {
                $crate::sql::catalog::credentials::rotate(self, actor, id_or_prefix, old_expires_at)
                    .await
            }
            async fn revoke_credential(
                &self,
                actor: &$crate::Actor,
                id_or_prefix: &str,
                expected_version: Option<i64>,
            ) -> Result<$crate::CredentialDetail, $crate::StoreError> {
                $crate::sql::catalog::credentials::revoke(
                    self,
                    actor,
                    id_or_prefix,
                    expected_version,
                )
                .await
            }
            async fn add_credential_product(
                &self,
                actor: &$crate::Actor,
                id_or_prefix: &str,
                product: &str,
            ) -> Result<$crate::CredentialDetail, $crate::StoreError> {
                $crate::sql::catalog::credentials::add_product(self, actor, id_or_prefix, product)
                    .await
            }
            async fn set_credential_product_status(
                &self,
                actor: &$crate::Actor,
                id_or_prefix: &str,
                product: &str,
                status: $crate::ApprovalStatus,
                expected_version: Option<i64>,
            ) -> Result<$crate::CredentialDetail, $crate::StoreError> {
                $crate::sql::catalog::credentials::set_product_status(
                    self,
                    actor,
                    id_or_prefix,
                    product,
                    status,
                    expected_version,
                )
                .await
            }
            async fn remove_credential_product(
                &self,
                actor: &$crate::Actor,
                id_or_prefix: &str,
                product: &str,
            ) -> Result<$crate::CredentialDetail, $crate::StoreError> {
                $crate::sql::catalog::credentials::remove_product(
                    self,
                    actor,
                    id_or_prefix,
                    product,
                )
                .await
            }

            async fn create_product(
                &self,
                actor: &$crate::Actor,
                name: &str,
                spec: &$crate::ProductSpec,
            ) -> Result<$crate::Product, $crate::StoreError> {
                $crate::sql::catalog::products::create(self, actor, name, spec).await
            }
            async fn get_product(&self, name: &str) -> Result<$crate::Product, $crate::StoreError> {
                $crate::sql::catalog::products::get(self, name).await
            }
            async fn list_products(
                &self,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<$crate::Product>, $crate::StoreError> {
                $crate::sql::catalog::products::list(self, page).await
            }
            async fn update_product(
                &self,
                actor: &$crate::Actor,
                name: &str,
                spec: &$crate::ProductSpec,
                expected_version: Option<i64>,
            ) -> Result<$crate::Product, $crate::StoreError> {
                $crate::sql::catalog::products::update(self, actor, name, spec, expected_version)
                    .await
            }
            async fn delete_product(
                &self,
                actor: &$crate::Actor,
                name: &str,
                expected_version: Option<i64>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::catalog::products::delete(self, actor, name, expected_version).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::CatalogApply for $store {
            async fn apply_catalog(
                &self,
                actor: &$crate::Actor,
                document: &$crate::CatalogDocument,
                options: $crate::ApplyOptions,
            ) -> Result<Vec<$crate::CatalogChange>, $crate::StoreError> {
                $crate::sql::catalog::apply::apply(self, actor, document, options).await
            }
            async fn export_catalog(&self) -> Result<$crate::CatalogDocument, $crate::StoreError> {
                $crate::sql::catalog::apply::export(self).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::AuditRepository for $store {
            async fn list_audit(
                &self,
                filter: &$crate::AuditFilter,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<$crate::AuditEntry>, $crate::StoreError> {
                $crate::sql::audit::list(self, filter, page).await
            }
        }
    };
}
pub(crate) use impl_catalog_repository;
