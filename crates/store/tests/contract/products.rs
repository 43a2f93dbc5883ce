//! API products and approvals on every backend: product CRUD with field-named errors and
//! canonical paths, auto versus manual approval, per-product approve/revoke, and the gateway
//! index reflecting all of it (scope, quota, attributes) within the propagation bound.

use std::time::{Duration, SystemTime};

use http::Method;
use portcullis_store::{
    ApprovalStatus, ApprovalType, DeveloperStatus, KeyLookup, KeyRepository, PageRequest,
    ProductDenial, ProductSpec, QuotaSpec, QuotaUnit,
};

use super::catalog::{
    actor, app, attrs, conflict, dev, invalid, not_found, open_product, snapshot, stale,
    with_products,
};
use super::harness::{TestDb, start_index};
use crate::kvm::open_store;

fn orders_reads() -> ProductSpec {
    ProductSpec {
        display_name: "Orders (read)".into(),
        description: "read-only access to orders".into(),
        apis: vec!["orders".into()],
        paths: vec!["/items/".into(), "/items/**".into()],
        methods: vec!["GET".into()],
        environments: vec!["prod".into()],
        scopes: vec!["orders:read".into()],
        quota: Some(QuotaSpec {
            limit: 1000,
            interval: 1,
            unit: QuotaUnit::Hour,
        }),
        approval: ApprovalType::Auto,
        attributes: attrs(&[("tier", "gold")]),
    }
}

pub(crate) async fn products_crud_with_canonical_paths_and_field_errors(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store.create_environment(a, "prod", "").await.unwrap();
    let spec = orders_reads();
    let p = store.create_product(a, "orders-read", &spec).await.unwrap();
    assert_eq!(p.spec.paths, ["/items", "/items/**"], "stored canonically");
    assert_eq!(
        (p.version, p.spec.quota, p.spec.attributes.clone()),
        (1, spec.quota, spec.attributes.clone())
    );
    assert_eq!(store.get_product("orders-read").await.unwrap(), p);
    assert!(conflict(store.create_product(a, "orders-read", &spec).await).contains("name"));
    assert_eq!(not_found(store.get_product("nope").await), "product");

    let bad = ProductSpec {
        apis: vec!["orders".into(), "bad api".into()],
        paths: vec!["/ok".into(), "no-slash".into(), "/a/*b".into()],
        methods: vec!["get".into()],
        environments: vec!["prod".into(), "stage".into()],
        scopes: vec!["has space".into()],
        quota: Some(QuotaSpec {
            limit: 0,
            interval: 0,
            unit: QuotaUnit::Day,
        }),
        ..spec.clone()
    };
    let msg = invalid(store.create_product(a, "Bad Name", &bad).await);
    for field in [
        "name: ",
        "apis[1]: ",
        "paths[1]: ",
        "paths[2]: ",
        "methods[0]: ",
        "scopes[0]: ",
        "quota.limit: ",
        "quota.interval: ",
    ] {
        assert!(msg.contains(field), "{field} in {msg}");
    }
    for fine in ["apis[0]", "paths[0]"] {
        assert!(!msg.contains(fine), "{fine} in {msg}");
    }
    // Unknown environments are found inside the transaction, with their field path.
    let unknown_env = ProductSpec {
        environments: vec!["prod".into(), "stage".into()],
        ..spec.clone()
    };
    let msg = invalid(store.create_product(a, "other", &unknown_env).await);
    assert!(
        msg.contains("environments[1]: unknown environment"),
        "{msg}"
    );
    assert_eq!(not_found(store.get_product("other").await), "product");

    let mut wider = spec.clone();
    wider.methods.push("POST".into());
    wider.approval = ApprovalType::Manual;
    wider.quota = None;
    let v2 = store
        .update_product(a, "orders-read", &wider, Some(1))
        .await
        .unwrap();
    assert_eq!(
        (v2.version, v2.spec.quota, v2.spec.approval),
        (2, None, ApprovalType::Manual)
    );
    assert_eq!(v2.created_at, p.created_at);
    assert_eq!(
        stale(store.update_product(a, "orders-read", &spec, Some(1)).await),
        2
    );
    assert_eq!(
        store
            .update_product(a, "orders-read", &wider, None)
            .await
            .unwrap()
            .version,
        2,
        "identical content is not a change"
    );
    assert_eq!(
        not_found(store.update_product(a, "nope", &spec, None).await),
        "product"
    );

    let listed = store.list_products(&PageRequest::default()).await.unwrap();
    assert_eq!(listed.items, vec![v2.clone()]);

    // Deleting needs the product unused.
    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &d.developer.id, &app("shop"))
        .await
        .unwrap();
    let c = store
        .create_credential(a, &shop.app.id, &with_products(&["orders-read"]))
        .await
        .unwrap();
    assert!(conflict(store.delete_product(a, "orders-read", None).await).contains("credential"));
    store
        .remove_credential_product(a, &c.credential.key.id, "orders-read")
        .await
        .unwrap();
    assert_eq!(
        stale(store.delete_product(a, "orders-read", Some(1)).await),
        2
    );
    store
        .delete_product(a, "orders-read", Some(2))
        .await
        .unwrap();
    assert_eq!(not_found(store.get_product("orders-read").await), "product");
}

pub(crate) async fn approvals_follow_the_approval_type_and_per_product_status(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_product(a, "auto", &open_product(ApprovalType::Auto))
        .await
        .unwrap();
    store
        .create_product(a, "manual", &open_product(ApprovalType::Manual))
        .await
        .unwrap();
    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &d.developer.id, &app("shop"))
        .await
        .unwrap();
    let c = store
        .create_credential(a, &shop.app.id, &with_products(&["manual"]))
        .await
        .unwrap();
    let key = c.consumer_key.expose();
    let id = c.credential.key.id.as_str();
    let decide = |index: &portcullis_store::KeyIndex| {
        let verdict = index.lookup(key, SystemTime::now());
        let KeyLookup::Valid(entry) = verdict else {
            panic!("key itself must stay valid: {verdict:?}");
        };
        entry
            .authorize("prod", "orders", "/x", &Method::GET)
            .map(|p| p.name.clone())
    };

    // Pending only: the key is known and valid, but approved for nothing.
    assert_eq!(c.credential.products[0].status, ApprovalStatus::Pending);
    assert_eq!(
        decide(&snapshot(&store).await),
        Err(ProductDenial::NotApproved)
    );

    let approved = store
        .set_credential_product_status(a, id, "manual", ApprovalStatus::Approved, Some(1))
        .await
        .unwrap();
    assert_eq!(
        (approved.products[0].status, approved.version),
        (ApprovalStatus::Approved, 2)
    );
    assert_eq!(decide(&snapshot(&store).await).as_deref(), Ok("manual"));
    assert_eq!(
        stale(
            store
                .set_credential_product_status(a, id, "manual", ApprovalStatus::Revoked, Some(1))
                .await
        ),
        2
    );
    let revoked = store
        .set_credential_product_status(a, id, "manual", ApprovalStatus::Revoked, Some(2))
        .await
        .unwrap();
    assert_eq!(revoked.version, 3);
    assert_eq!(
        decide(&snapshot(&store).await),
        Err(ProductDenial::NotApproved)
    );
    assert_eq!(
        store
            .set_credential_product_status(a, id, "manual", ApprovalStatus::Revoked, None)
            .await
            .unwrap()
            .version,
        3,
        "same status is not a change"
    );

    // Adding an auto product approves at once; duplicates and unknowns are refused.
    let added = store.add_credential_product(a, id, "auto").await.unwrap();
    let statuses: Vec<_> = added
        .products
        .iter()
        .map(|p| (p.product.as_str(), p.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("auto", ApprovalStatus::Approved),
            ("manual", ApprovalStatus::Revoked)
        ]
    );
    assert_eq!(decide(&snapshot(&store).await).as_deref(), Ok("auto"));
    conflict(store.add_credential_product(a, id, "auto").await);
    assert_eq!(
        not_found(store.add_credential_product(a, id, "gold").await),
        "product"
    );
    assert_eq!(
        not_found(store.add_credential_product(a, "key_missing", "auto").await),
        "credential"
    );
    assert_eq!(
        not_found(
            store
                .set_credential_product_status(a, id, "gold", ApprovalStatus::Approved, None)
                .await
        ),
        "credential product"
    );
    invalid(
        store
            .add_credential_product(a, id, "no spaces allowed")
            .await,
    );

    let removed = store
        .remove_credential_product(a, id, "auto")
        .await
        .unwrap();
    assert_eq!(removed.products.len(), 1);
    assert_eq!(
        not_found(store.remove_credential_product(a, id, "auto").await),
        "credential product"
    );
    assert_eq!(
        decide(&snapshot(&store).await),
        Err(ProductDenial::NotApproved)
    );
}

pub(crate) async fn the_index_carries_scopes_quota_and_attributes_and_follows_changes(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store.create_environment(a, "prod", "").await.unwrap();
    store
        .create_product(a, "orders-read", &orders_reads())
        .await
        .unwrap();
    let mut spec = dev("ann@example.com");
    spec.attributes = attrs(&[("partner", "acme")]);
    let d = store.create_developer(a, &spec).await.unwrap();
    let mut shop_spec = app("shop");
    shop_spec.attributes = attrs(&[("channel", "web")]);
    let shop = store
        .create_app(a, &d.developer.id, &shop_spec)
        .await
        .unwrap();
    let c = store
        .create_credential(a, &shop.app.id, &with_products(&["orders-read"]))
        .await
        .unwrap();
    let key = c.consumer_key.expose().to_owned();

    // A gateway node on its own handle, kept current by IndexSync.
    let node: std::sync::Arc<dyn KeyRepository> = db.open().await;
    let index = start_index(node, Duration::from_millis(50)).await;
    let now = SystemTime::now();
    let verdict = index.lookup(&key, now);
    let entry = verdict.entry().expect("known key").clone();
    assert_eq!(entry.app_attributes, attrs(&[("channel", "web")]));
    assert_eq!(entry.developer_attributes, attrs(&[("partner", "acme")]));
    let grant = &entry.products[0];
    assert_eq!(grant.status, ApprovalStatus::Approved);
    assert_eq!(grant.product.scopes, ["orders:read"]);
    assert_eq!(grant.product.quota, orders_reads().quota);
    assert_eq!(grant.product.attributes, attrs(&[("tier", "gold")]));
    let check = |e: &portcullis_store::CredentialEntry, env: &str, path: &str, m: Method| {
        e.authorize(env, "orders", path, &m)
            .map(|p| p.name.to_string())
    };
    assert_eq!(
        check(&entry, "prod", "/items", Method::GET).as_deref(),
        Ok("orders-read")
    );
    assert_eq!(
        check(&entry, "prod", "/items/7/lines", Method::GET).as_deref(),
        Ok("orders-read")
    );
    let miss = |r: Result<String, ProductDenial>| match r {
        Err(ProductDenial::OutOfScope(m)) => m.dimension(),
        other => panic!("expected a scope miss, got {other:?}"),
    };
    assert_eq!(miss(check(&entry, "prod", "/users", Method::GET)), "path");
    assert_eq!(
        miss(check(&entry, "prod", "/items/7", Method::POST)),
        "method"
    );
    assert_eq!(
        miss(check(&entry, "test", "/items/7", Method::GET)),
        "environment"
    );
    assert_eq!(
        miss(
            entry
                .authorize("prod", "billing", "/items", &Method::GET)
                .map(|p| p.name.to_string())
        ),
        "api"
    );

    // Widening the product reaches the running index within the propagation bound.
    let mut wider = orders_reads();
    wider.methods.push("POST".into());
    store
        .update_product(a, "orders-read", &wider, None)
        .await
        .unwrap();
    super::harness::eventually(&index, &key, |v| {
        v.entry().is_some_and(|e| {
            e.authorize("prod", "orders", "/items/7", &Method::POST)
                .is_ok()
        })
    })
    .await;
    // So does revoking the association, and deactivating the developer.
    store
        .set_credential_product_status(
            a,
            &c.credential.key.id,
            "orders-read",
            ApprovalStatus::Revoked,
            None,
        )
        .await
        .unwrap();
    super::harness::eventually(&index, &key, |v| {
        v.entry().is_some_and(|e| !e.has_approved_product())
    })
    .await;
    store
        .set_developer_status_by(a, &d.developer.id, DeveloperStatus::Inactive, None)
        .await
        .unwrap();
    super::harness::eventually(&index, &key, |v| {
        matches!(v, KeyLookup::DeveloperInactive(_))
    })
    .await;
}
