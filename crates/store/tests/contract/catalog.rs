//! The management catalog on every backend: environments, developers and apps (CRUD, typed
//! errors naming the field, optimistic concurrency), keyset pagination, and cascading deletes.
//! Also the small builders the other catalog cases share.

use std::collections::HashSet;
use std::sync::Arc;

use portcullis_store::{
    Actor, AppSpec, AppStatus, ApprovalType, Attributes, CredentialSpec, DeveloperSpec,
    DeveloperStatus, IndexSync, KeyIndex, KeyLookup, KeyRepository, PageRequest, ProductSpec,
    Store, StoreError,
};

use super::harness::TestDb;
use crate::kvm::open_store;
use crate::test_keyring;

pub(crate) fn actor() -> Actor {
    Actor("admin:root".into())
}

pub(crate) fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) fn dev(email: &str) -> DeveloperSpec {
    DeveloperSpec {
        email: email.into(),
        name: format!("Dev {email}"),
        attributes: Attributes::new(),
    }
}

pub(crate) fn app(name: &str) -> AppSpec {
    AppSpec {
        name: name.into(),
        callback_urls: vec![],
        attributes: Attributes::new(),
    }
}

/// A product that opens everything, with the given approval type.
pub(crate) fn open_product(approval: ApprovalType) -> ProductSpec {
    ProductSpec {
        display_name: "Everything".into(),
        description: String::new(),
        apis: vec![],
        paths: vec![],
        methods: vec![],
        environments: vec![],
        scopes: vec![],
        quota: None,
        approval,
        attributes: Attributes::new(),
    }
}

pub(crate) fn with_products(products: &[&str]) -> CredentialSpec {
    CredentialSpec {
        products: products.iter().map(|p| (*p).to_owned()).collect(),
        expires_at: None,
    }
}

/// A fresh index loaded once from `store`.
pub(crate) async fn snapshot(store: &Arc<dyn Store>) -> KeyIndex {
    let index = KeyIndex::with_keyring(test_keyring());
    let repo: &dyn KeyRepository = &**store;
    IndexSync::refresh(repo, &index).await.unwrap();
    index
}

/// The message of an `Invalid` error (panics on anything else).
pub(crate) fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Invalid(msg)) => msg,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The current version of a `Stale` error (panics on anything else).
pub(crate) fn stale<T: std::fmt::Debug>(r: Result<T, StoreError>) -> i64 {
    match r {
        Err(StoreError::Stale { current, .. }) => current,
        other => panic!("expected Stale, got {other:?}"),
    }
}

pub(crate) fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(msg)) => msg,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

pub(crate) fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
    match r {
        Err(StoreError::NotFound { entity, .. }) => entity,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

pub(crate) async fn environments_crud_versions_and_references(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let test = store
        .create_environment(a, "test", "for testing")
        .await
        .unwrap();
    assert_eq!((test.name.as_str(), test.version), ("test", 1));
    assert_eq!(test.created_at, test.updated_at);
    store.create_environment(a, "prod", "").await.unwrap();
    conflict(store.create_environment(a, "test", "again").await);
    let msg = invalid(store.create_environment(a, "Prod EU", "x\0").await);
    assert!(
        msg.contains("name: ") && msg.contains("description: "),
        "{msg}"
    );
    assert_eq!(
        not_found(store.get_environment("stage").await),
        "environment"
    );
    let names: Vec<_> = store
        .list_environments()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["test", "prod"]);

    let updated = store
        .update_environment(a, "test", "integration", Some(1))
        .await
        .unwrap();
    assert_eq!(
        (updated.version, updated.description.as_str()),
        (2, "integration")
    );
    assert_eq!(
        stale(store.update_environment(a, "test", "lost", Some(1)).await),
        2
    );
    assert_eq!(store.get_environment("test").await.unwrap(), updated);
    // Unchanged content is not a change: same version, no new audit entry.
    let same = store
        .update_environment(a, "test", "integration", None)
        .await
        .unwrap();
    assert_eq!(same.version, 2);
    // ensure_* returns an existing environment untouched, and creates a missing one.
    assert_eq!(store.ensure_environment(a, "test").await.unwrap(), updated);
    assert_eq!(
        store.ensure_environment(a, "stage").await.unwrap().version,
        1
    );

    // An environment in use by a product or holding KVM entries cannot go.
    let mut spec = open_product(ApprovalType::Auto);
    spec.environments = vec!["prod".into()];
    store.create_product(a, "gold", &spec).await.unwrap();
    let msg = conflict(store.delete_environment(a, "prod", None).await);
    assert!(msg.contains("gold"), "{msg}");
    store
        .kvm_put(a, "stage", "flags", "beta", "on", None)
        .await
        .unwrap();
    conflict(store.delete_environment(a, "stage", None).await);
    store
        .kvm_delete(a, "stage", "flags", "beta", None)
        .await
        .unwrap();
    assert_eq!(
        stale(store.delete_environment(a, "stage", Some(7)).await),
        1
    );
    store.delete_environment(a, "stage", Some(1)).await.unwrap();
    assert_eq!(
        not_found(store.get_environment("stage").await),
        "environment"
    );
    assert_eq!(
        not_found(store.delete_environment(a, "stage", None).await),
        "environment"
    );
}

pub(crate) async fn developers_crud_versions_and_conflicts(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let spec = DeveloperSpec {
        email: " Ann@Example.COM ".into(),
        name: " Ann ".into(),
        attributes: attrs(&[("tier", "gold")]),
    };
    let ann = store.create_developer(a, &spec).await.unwrap();
    assert_eq!(ann.developer.email, "ann@example.com");
    assert_eq!(ann.developer.name, "Ann");
    assert_eq!(ann.developer.status, DeveloperStatus::Active);
    assert_eq!(
        (ann.version, ann.attributes.clone()),
        (1, attrs(&[("tier", "gold")]))
    );
    assert_eq!(store.get_developer(&ann.developer.id).await.unwrap(), ann);
    assert_eq!(store.get_developer("ANN@example.com").await.unwrap(), ann);
    assert!(conflict(store.create_developer(a, &dev("ann@EXAMPLE.com")).await).contains("email"));
    assert_eq!(
        not_found(store.get_developer("nobody@example.com").await),
        "developer"
    );

    // Every invalid field is named at once.
    let bad = DeveloperSpec {
        email: "not-an-address".into(),
        name: "  ".into(),
        attributes: attrs(&[("", "x")]),
    };
    let msg = invalid(store.create_developer(a, &bad).await);
    for field in ["email: ", "name: ", "attributes[\"\"]: "] {
        assert!(msg.contains(field), "{field} in {msg}");
    }

    let bob = store
        .create_developer(a, &dev("bob@example.com"))
        .await
        .unwrap();
    let mut change = spec.clone();
    change.name = "Ann B.".into();
    change.attributes = attrs(&[("tier", "platinum")]);
    let v2 = store
        .update_developer(a, "ann@example.com", &change, Some(1))
        .await
        .unwrap();
    assert_eq!((v2.version, v2.developer.name.as_str()), (2, "Ann B."));
    assert!(v2.updated_at >= ann.updated_at);
    assert_eq!(v2.developer.created_at, ann.developer.created_at);
    assert_eq!(
        stale(
            store
                .update_developer(a, &ann.developer.id, &spec, Some(1))
                .await
        ),
        2
    );
    // Taking someone else's e-mail is a conflict and changes nothing.
    let mut steal = change.clone();
    steal.email = "BOB@example.com".into();
    conflict(
        store
            .update_developer(a, &ann.developer.id, &steal, None)
            .await,
    );
    assert_eq!(store.get_developer(&ann.developer.id).await.unwrap(), v2);
    assert_eq!(
        store
            .update_developer(a, &ann.developer.id, &change, None)
            .await
            .unwrap()
            .version,
        2,
        "an identical update is not a change"
    );

    let inactive = store
        .set_developer_status_by(a, "ann@example.com", DeveloperStatus::Inactive, Some(2))
        .await
        .unwrap();
    assert_eq!(
        (inactive.developer.status, inactive.version),
        (DeveloperStatus::Inactive, 3)
    );
    assert_eq!(
        stale(
            store
                .set_developer_status_by(a, "ann@example.com", DeveloperStatus::Active, Some(2))
                .await
        ),
        3
    );
    let active = store
        .list_developers(Some(DeveloperStatus::Active), &PageRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = active.items.into_iter().map(|d| d.developer.id).collect();
    assert_eq!(ids, vec![bob.developer.id.clone()]);
    let all = store
        .list_developers(None, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    assert_eq!(all.next, None);

    assert_eq!(
        stale(store.delete_developer(a, &bob.developer.id, Some(5)).await),
        1
    );
    store
        .delete_developer(a, &bob.developer.id, Some(1))
        .await
        .unwrap();
    assert_eq!(
        not_found(store.get_developer(&bob.developer.id).await),
        "developer"
    );
}

pub(crate) async fn apps_crud_versions_and_conflicts(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let ann = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let bob = store
        .create_developer(a, &dev("bob@example.com"))
        .await
        .unwrap();
    let spec = AppSpec {
        name: "shop".into(),
        callback_urls: vec!["https://shop.example/cb".into()],
        attributes: attrs(&[("team", "web")]),
    };
    let shop = store.create_app(a, "ann@example.com", &spec).await.unwrap();
    assert_eq!(shop.app.developer_id, ann.developer.id);
    assert_eq!((shop.app.status, shop.version), (AppStatus::Approved, 1));
    assert_eq!(shop.callback_urls, spec.callback_urls);
    assert_eq!(store.get_app(&shop.app.id).await.unwrap(), shop);
    assert!(conflict(store.create_app(a, &ann.developer.id, &spec).await).contains("name"));
    let bobs = store.create_app(a, &bob.developer.id, &spec).await.unwrap();
    assert_eq!(
        not_found(store.create_app(a, "nobody@example.com", &spec).await),
        "developer"
    );
    assert_eq!(not_found(store.get_app("app_missing").await), "app");

    let bad = AppSpec {
        name: String::new(),
        callback_urls: vec![
            "https://ok.example/cb".into(),
            "https://x.example/#frag".into(),
        ],
        attributes: Attributes::new(),
    };
    let msg = invalid(store.create_app(a, &ann.developer.id, &bad).await);
    assert!(
        msg.contains("name: ") && msg.contains("callback_urls[1]: "),
        "{msg}"
    );
    assert!(!msg.contains("callback_urls[0]"), "{msg}");

    let mut renamed = spec.clone();
    renamed.name = "store".into();
    renamed.callback_urls.push("com.example.shop:/oauth".into());
    let v2 = store
        .update_app(a, &shop.app.id, &renamed, Some(1))
        .await
        .unwrap();
    assert_eq!((v2.version, v2.app.name.as_str()), (2, "store"));
    assert_eq!(v2.callback_urls.len(), 2);
    assert_eq!(
        stale(store.update_app(a, &shop.app.id, &spec, Some(1)).await),
        2
    );
    let blog = store
        .create_app(a, &ann.developer.id, &app("blog"))
        .await
        .unwrap();
    conflict(store.update_app(a, &blog.app.id, &renamed, None).await);

    let revoked = store
        .set_app_status_by(a, &shop.app.id, AppStatus::Revoked, Some(2))
        .await
        .unwrap();
    assert_eq!(
        (revoked.app.status, revoked.version),
        (AppStatus::Revoked, 3)
    );
    conflict(
        store
            .create_credential(a, &shop.app.id, &CredentialSpec::default())
            .await,
    );

    let page = PageRequest::default();
    let of = |items: Vec<portcullis_store::AppDetail>| -> Vec<String> {
        items.into_iter().map(|d| d.app.id).collect()
    };
    assert_eq!(
        of(store
            .list_apps(Some("ann@example.com"), None, &page)
            .await
            .unwrap()
            .items),
        [shop.app.id.clone(), blog.app.id.clone()]
    );
    assert_eq!(
        of(store
            .list_apps(None, Some(AppStatus::Approved), &page)
            .await
            .unwrap()
            .items),
        [bobs.app.id.clone(), blog.app.id.clone()]
    );
    assert_eq!(
        of(store
            .list_apps(Some(&ann.developer.id), Some(AppStatus::Revoked), &page)
            .await
            .unwrap()
            .items),
        vec![shop.app.id.clone()]
    );
    assert_eq!(
        not_found(store.list_apps(Some("x@example.com"), None, &page).await),
        "developer"
    );

    store.delete_app(a, &blog.app.id, Some(1)).await.unwrap();
    assert_eq!(not_found(store.get_app(&blog.app.id).await), "app");
}

pub(crate) async fn pagination_is_stable_without_duplicates_or_gaps(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let mut expected = Vec::new();
    for i in 0..23 {
        let d = store
            .create_developer(a, &dev(&format!("d{i:02}@example.com")))
            .await
            .unwrap();
        expected.push(d.developer.id);
    }
    let mut seen = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: Some(5),
    };
    let mut pages = 0;
    loop {
        let got = store.list_developers(None, &page).await.unwrap();
        assert!(got.items.len() <= 5);
        seen.extend(got.items.into_iter().map(|d| d.developer.id));
        pages += 1;
        if pages == 2 {
            // Rows created while paging appear once, at the end (they are newest).
            for i in 0..3 {
                let d = store
                    .create_developer(a, &dev(&format!("late{i}@example.com")))
                    .await
                    .unwrap();
                expected.push(d.developer.id);
            }
        }
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every row once, in creation order");
    assert_eq!(pages, 6, "26 rows in pages of 5");
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());

    // Filters and limits compose with the cursor; garbage cursors are refused.
    let one = store
        .list_developers(
            None,
            &PageRequest {
                after: None,
                limit: Some(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1, "limit is clamped to at least 1");
    let msg = invalid(
        store
            .list_developers(
                None,
                &PageRequest {
                    after: Some("garbage".into()),
                    limit: None,
                },
            )
            .await,
    );
    assert!(msg.starts_with("after: "), "{msg}");

    // Apps and products page the same way.
    let owner = &expected[0];
    let mut apps = Vec::new();
    for i in 0..4 {
        apps.push(
            store
                .create_app(a, owner, &app(&format!("a{i}")))
                .await
                .unwrap()
                .app
                .id,
        );
    }
    let mut products = Vec::new();
    for i in 0..5 {
        let name = format!("p{i}");
        store
            .create_product(a, &name, &open_product(ApprovalType::Auto))
            .await
            .unwrap();
        products.push(name);
    }
    let (mut app_ids, mut product_names) = (Vec::new(), Vec::new());
    let mut req = PageRequest {
        after: None,
        limit: Some(3),
    };
    loop {
        let p = store.list_apps(Some(owner), None, &req).await.unwrap();
        app_ids.extend(p.items.into_iter().map(|d| d.app.id));
        let Some(next) = p.next else { break };
        req.after = Some(next);
    }
    let mut req = PageRequest {
        after: None,
        limit: Some(2),
    };
    loop {
        let p = store.list_products(&req).await.unwrap();
        product_names.extend(p.items.into_iter().map(|d| d.name));
        let Some(next) = p.next else { break };
        req.after = Some(next);
    }
    assert_eq!((app_ids, product_names), (apps, products));
}

pub(crate) async fn deleting_a_developer_cascades_in_one_transaction(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_product(a, "gold", &open_product(ApprovalType::Auto))
        .await
        .unwrap();
    let ann = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let bob = store
        .create_developer(a, &dev("bob@example.com"))
        .await
        .unwrap();
    let mut anns_keys = Vec::new();
    let mut anns_creds = Vec::new();
    let mut anns_apps = Vec::new();
    for name in ["shop", "blog"] {
        let app = store
            .create_app(a, &ann.developer.id, &app(name))
            .await
            .unwrap();
        for _ in 0..2 {
            let c = store
                .create_credential(a, &app.app.id, &with_products(&["gold"]))
                .await
                .unwrap();
            anns_creds.push(c.credential.key.id.clone());
            anns_keys.push(c.consumer_key);
        }
        anns_apps.push(app.app.id);
    }
    let bobs_app = store
        .create_app(a, &bob.developer.id, &app("shop"))
        .await
        .unwrap();
    let bobs = store
        .create_credential(a, &bobs_app.app.id, &with_products(&["gold"]))
        .await
        .unwrap();

    let now = std::time::SystemTime::now();
    let index = snapshot(&store).await;
    assert!(index.lookup(anns_keys[0].expose(), now).is_valid());
    conflict(store.delete_product(a, "gold", None).await);

    assert_eq!(
        stale(store.delete_developer(a, "ann@example.com", Some(9)).await),
        1
    );
    let seq = store.change_seq().await.unwrap();
    store
        .delete_developer(a, "ann@example.com", Some(1))
        .await
        .unwrap();
    assert_eq!(store.change_seq().await.unwrap(), seq + 1, "one change");

    assert_eq!(
        not_found(store.get_developer(&ann.developer.id).await),
        "developer"
    );
    for app in &anns_apps {
        assert_eq!(not_found(store.get_app(app).await), "app");
    }
    for cred in &anns_creds {
        assert_eq!(not_found(store.get_credential(cred).await), "credential");
    }
    let index = snapshot(&store).await;
    for key in &anns_keys {
        assert!(matches!(
            index.lookup(key.expose(), now),
            KeyLookup::Unknown
        ));
    }
    let survivor = index.lookup(bobs.consumer_key.expose(), now);
    assert!(survivor.is_valid(), "{survivor:?}");
    assert_eq!(survivor.entry().unwrap().products.len(), 1);

    // Deleting an app takes its credentials and approvals; then the product is unused.
    store.delete_app(a, &bobs_app.app.id, None).await.unwrap();
    assert_eq!(
        not_found(store.get_credential(&bobs.credential.key.id).await),
        "credential"
    );
    store.delete_product(a, "gold", Some(1)).await.unwrap();
    assert!(store.list_keys(None).await.unwrap().is_empty());
}
