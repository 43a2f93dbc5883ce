//! Catalog fixtures for end-to-end tests: API products, credentials approved for them, and
//! waiting until a gateway's in-memory copies (credential index, KVM snapshot) have caught up
//! with the store.

use std::time::Duration;

use portcullis_store::{
    Actor, ApprovalType, CatalogRepository, CredentialSpec, KeyRepository, ProductSpec,
    SqliteStore, StoreError,
};

use crate::TestGateway;

/// Name of the product [`TestGateway::create_key`] approves keys for: every environment, API,
/// resource path and method.
pub const ALL_PRODUCT: &str = "everything";

/// A freshly issued credential.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// Plaintext consumer key (the API key).
    pub key: String,
    /// Public prefix (identifies the credential in catalog calls).
    pub prefix: String,
    /// Owning app's id.
    pub app_id: String,
}

/// A product spec opening `apis` × `paths` × `methods` × `environments` (empty = all), with
/// automatic approval.
pub fn product_spec(
    apis: &[&str],
    paths: &[&str],
    methods: &[&str],
    environments: &[&str],
) -> ProductSpec {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    ProductSpec {
        display_name: "test product".into(),
        description: String::new(),
        apis: owned(apis),
        paths: owned(paths),
        methods: owned(methods),
        environments: owned(environments),
        scopes: vec![],
        quota: None,
        approval: ApprovalType::Auto,
        attributes: Default::default(),
    }
}

/// Creates product `name` unless it exists.
pub async fn ensure_product(
    store: &dyn CatalogRepository,
    name: &str,
    spec: &ProductSpec,
) -> Result<(), StoreError> {
    match store.get_product(name).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => store
            .create_product(&Actor::system(), name, spec)
            .await
            .map(drop),
        Err(e) => Err(e),
    }
}

impl TestGateway {
    /// Waits (up to 5 s) until the gateway's credential index and KVM snapshot reflect every
    /// change committed through `store` so far.
    pub async fn caught_up(&self, store: &dyn KeyRepository) {
        let seq = store.change_seq().await.expect("change seq");
        let deps = self.running.app.deps();
        tokio::time::timeout(Duration::from_secs(5), async {
            deps.keys.wait_for_seq(seq).await;
            deps.kvm.wait_for_seq(seq).await;
        })
        .await
        .expect("gateway caught up with the store");
    }

    /// Issues a credential for app `app` of `dev@example.com` (both created if missing),
    /// associated with `products`, through `store`, and waits until the gateway knows it.
    pub async fn issue_key(&self, store: &SqliteStore, app: &str, products: &[&str]) -> IssuedKey {
        let app = store.ensure_app("dev@example.com", app).await.expect("app");
        let spec = CredentialSpec {
            products: products.iter().map(|p| (*p).to_owned()).collect(),
            expires_at: None,
        };
        let issued = store
            .create_credential(&Actor::system(), &app.id, &spec)
            .await
            .expect("credential");
        self.caught_up(store).await;
        IssuedKey {
            key: issued.consumer_key.expose().to_owned(),
            prefix: issued.credential.key.prefix.clone(),
            app_id: app.id,
        }
    }
}
