//! Declarative apply and export on every backend: idempotence, dry runs that change nothing
//! and predict exactly, all-or-nothing on invalid documents and on conflicts met half-way,
//! prune semantics (only managed sections, cascades listed), and export → apply on an empty
//! database reproducing the catalog.

use std::sync::Arc;

use portcullis_store::{
    Actor, AppDoc, AppStatus, ApplyOptions, ApprovalType, AuditFilter, CatalogChange,
    CatalogDocument, DeveloperDoc, DeveloperStatus, EnvironmentDoc, PageRequest, ProductDoc,
    ProductSpec, QuotaSpec, QuotaUnit, Store, StoreError,
};

use super::catalog::{actor, app, attrs, conflict, dev, invalid, not_found, with_products};
use super::harness::TestDb;
use crate::kvm::{open_store, raw_exec};

const REAL: ApplyOptions = ApplyOptions {
    dry_run: false,
    prune: false,
};
const DRY: ApplyOptions = ApplyOptions {
    dry_run: true,
    prune: false,
};
const PRUNE: ApplyOptions = ApplyOptions {
    dry_run: false,
    prune: true,
};

fn applier() -> Actor {
    Actor("apply:token:ci".into())
}

fn env(name: &str, description: &str) -> EnvironmentDoc {
    EnvironmentDoc {
        name: name.into(),
        description: description.into(),
    }
}

fn product(name: &str, paths: &[&str], environments: &[&str]) -> ProductDoc {
    ProductDoc {
        name: name.into(),
        spec: ProductSpec {
            display_name: name.to_uppercase(),
            description: String::new(),
            apis: vec!["shop-api".into()],
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            methods: vec!["GET".into()],
            environments: environments.iter().map(|e| (*e).to_owned()).collect(),
            scopes: vec![],
            quota: None,
            approval: ApprovalType::Auto,
            attributes: attrs(&[]),
        },
    }
}

fn developer(email: &str, apps: &[&str]) -> DeveloperDoc {
    DeveloperDoc {
        spec: dev(email),
        status: None,
        apps: apps
            .iter()
            .map(|a| AppDoc {
                spec: app(a),
                status: None,
            })
            .collect(),
    }
}

/// A small programme: two environments, two products, one developer with one app.
fn programme() -> CatalogDocument {
    CatalogDocument {
        environments: Some(vec![env("test", "for testing"), env("prod", "")]),
        products: Some(vec![
            // Non-canonical spelling: stored as "/items", and still idempotent.
            product("orders", &["/items/", "/items/**"], &["prod"]),
            product("payments", &["/"], &[]),
        ]),
        developers: Some(vec![developer("Ann@Example.com", &["shop"])]),
    }
}

fn lines(changes: &[CatalogChange]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

async fn apply(
    store: &Arc<dyn Store>,
    doc: &CatalogDocument,
    options: ApplyOptions,
) -> Result<Vec<String>, StoreError> {
    store
        .apply_catalog(&applier(), doc, options)
        .await
        .map(|c| lines(&c))
}

/// Number of audit entries written by `actor`.
async fn audit_count(store: &Arc<dyn Store>, actor: Option<&str>) -> usize {
    let filter = AuditFilter {
        actor: actor.map(str::to_owned),
        ..AuditFilter::default()
    };
    let page = PageRequest {
        after: None,
        limit: Some(500),
    };
    store.list_audit(&filter, &page).await.unwrap().items.len()
}

/// Everything a reader can observe: the exported catalog, the change seq, the audit length.
async fn observe(store: &Arc<dyn Store>) -> (CatalogDocument, i64, usize) {
    (
        store.export_catalog().await.unwrap(),
        store.change_seq().await.unwrap(),
        audit_count(store, None).await,
    )
}

pub(crate) async fn apply_reports_each_change_and_is_idempotent(db: TestDb) {
    let store = open_store(&db).await;
    let doc = programme();
    assert_eq!(
        apply(&store, &doc, REAL).await.unwrap(),
        [
            "+ environment test",
            "+ environment prod",
            "+ product orders",
            "+ product payments",
            "+ developer ann@example.com",
            "+ app ann@example.com/shop",
        ]
    );
    assert_eq!(audit_count(&store, Some("apply:token:ci")).await, 6);
    let orders = store.get_product("orders").await.unwrap();
    assert_eq!(orders.spec.paths, ["/items", "/items/**"]);
    assert_eq!(orders.spec.environments, ["prod"]);
    let ann = store.get_developer("ann@example.com").await.unwrap();
    let apps = store
        .list_apps(Some(&ann.developer.id), None, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].app.status, AppStatus::Approved);

    // The same document again: nothing changes, nothing is written.
    let before = observe(&store).await;
    assert!(apply(&store, &doc, REAL).await.unwrap().is_empty());
    assert_eq!(observe(&store).await, before);

    // Edits are reported field by field, each entity once.
    let mut edited = programme();
    let products = edited.products.as_mut().unwrap();
    products[0].spec.paths.push("/refunds".into());
    products[0].spec.methods = vec!["GET".into(), "POST".into()];
    let devs = edited.developers.as_mut().unwrap();
    devs[0].status = Some(DeveloperStatus::Inactive);
    devs[0].apps[0].spec.callback_urls = vec!["https://shop.example/cb".into()];
    edited.environments.as_mut().unwrap()[1].description = "production".into();
    assert_eq!(
        apply(&store, &edited, REAL).await.unwrap(),
        [
            "~ environment prod: description",
            "~ product orders: paths, methods",
            "~ developer ann@example.com: status",
            "~ app ann@example.com/shop: callback_urls",
        ]
    );
    let ann = store.get_developer("ann@example.com").await.unwrap();
    assert_eq!(
        (ann.developer.status, ann.version),
        (DeveloperStatus::Inactive, 2)
    );
    assert_eq!(
        store.get_product("orders").await.unwrap().spec.paths,
        ["/items", "/items/**", "/refunds"]
    );
    assert!(apply(&store, &edited, REAL).await.unwrap().is_empty());
    assert_eq!(audit_count(&store, Some("apply:token:ci")).await, 10);
}

pub(crate) async fn a_dry_run_predicts_exactly_and_changes_nothing(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_environment(a, "test", "old text")
        .await
        .unwrap();
    let doc = programme();
    let before = observe(&store).await;
    let predicted = apply(&store, &doc, DRY).await.unwrap();
    assert_eq!(predicted[0], "~ environment test: description");
    assert_eq!(predicted.len(), 6);
    assert_eq!(observe(&store).await, before, "a dry run leaves no trace");
    assert_eq!(apply(&store, &doc, REAL).await.unwrap(), predicted);
    assert!(apply(&store, &doc, DRY).await.unwrap().is_empty());

    // A dry run meets the conflicts a real apply would: pruning a product a credential
    // still uses is refused either way.
    let ann = store.get_developer("ann@example.com").await.unwrap();
    let shop = &store
        .list_apps(Some(&ann.developer.id), None, &PageRequest::default())
        .await
        .unwrap()
        .items[0];
    store
        .create_credential(a, &shop.app.id, &with_products(&["payments"]))
        .await
        .unwrap();
    let mut fewer = programme();
    fewer.products.as_mut().unwrap().pop();
    let dry_prune = ApplyOptions {
        dry_run: true,
        prune: true,
    };
    for options in [dry_prune, PRUNE] {
        let msg = conflict(store.apply_catalog(&applier(), &fewer, options).await);
        assert!(msg.contains("\"payments\""), "{msg}");
    }
}

pub(crate) async fn one_invalid_item_changes_nothing(db: TestDb) {
    let store = open_store(&db).await;
    let before = observe(&store).await;
    let mut doc = programme();
    doc.environments.as_mut().unwrap().push(env("Bad Env", ""));
    let products = doc.products.as_mut().unwrap();
    products.push(product("refunds", &["no-slash", "/ok"], &[]));
    products.push(product("orders", &["/"], &[]));
    let devs = doc.developers.as_mut().unwrap();
    devs[0].apps.push(AppDoc {
        spec: app("shop "),
        status: None,
    });
    devs.push(developer("ANN@example.com", &[]));
    let mut bad_url = developer("bob@example.com", &["tool"]);
    bad_url.apps[0].spec.callback_urls = vec!["javascript:alert(1)".into()];
    devs.push(bad_url);
    let msg = invalid(store.apply_catalog(&applier(), &doc, REAL).await);
    for want in [
        "environments[2].name: ",
        "products[2].paths[0]: ",
        "products[3].name: duplicate of products[0] (\"orders\")",
        "developers[0].apps[1].name: duplicate of developers[0].apps[0] (\"shop\")",
        "developers[1].email: duplicate of developers[0] (\"ann@example.com\")",
        "developers[2].apps[0].callback_urls[0]: ",
    ] {
        assert!(msg.contains(want), "{want:?} missing in {msg}");
    }
    let fields: Vec<&str> = msg
        .split("; ")
        .map(|part| part.split(": ").next().unwrap())
        .collect();
    for fine in [
        "products[0]",
        "products[1]",
        "products[2].paths[1]",
        "environments[0]",
    ] {
        assert!(
            !fields.iter().any(|f| f.starts_with(fine)),
            "{fine} is valid: {msg}"
        );
    }
    assert_eq!(observe(&store).await, before);

    // References are checked against the state after the apply, also before any write.
    let mut unknown_env = programme();
    unknown_env.products.as_mut().unwrap()[1].spec.environments = vec!["stage".into()];
    let msg = invalid(store.apply_catalog(&applier(), &unknown_env, REAL).await);
    assert!(
        msg.starts_with("products[1].environments[0]: unknown environment \"stage\""),
        "{msg}"
    );
    assert_eq!(observe(&store).await, before);

    // A conflict met after some writes were made undoes them all: "prod" is created and the
    // products written before deleting "test" fails (it still holds a KVM entry).
    let a = &actor();
    store.create_environment(a, "test", "").await.unwrap();
    store
        .kvm_put(a, "test", "secrets", "k", "v", None)
        .await
        .unwrap();
    let before = observe(&store).await;
    let mut without_test = programme();
    without_test.environments = Some(vec![env("prod", "")]);
    let msg = conflict(store.apply_catalog(&applier(), &without_test, PRUNE).await);
    assert!(msg.contains("KVM"), "{msg}");
    assert_eq!(observe(&store).await, before);
    assert_eq!(
        not_found(store.get_environment("prod").await),
        "environment"
    );
}

pub(crate) async fn prune_deletes_only_what_managed_sections_omit(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let full = CatalogDocument {
        environments: Some(vec![env("test", ""), env("prod", "")]),
        products: Some(vec![
            product("a", &["/"], &["test"]),
            product("b", &["/"], &["prod"]),
        ]),
        developers: Some(vec![
            developer("ann@example.com", &["shop", "blog"]),
            developer("bob@example.com", &["tool"]),
        ]),
    };
    apply(&store, &full, REAL).await.unwrap();
    let app_id = |email: &'static str, name: &'static str| {
        let store = store.clone();
        async move {
            store
                .list_apps(Some(email), None, &PageRequest::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|x| x.app.name == name)
                .unwrap()
                .app
                .id
        }
    };
    let blog_cred = store
        .create_credential(
            a,
            &app_id("ann@example.com", "blog").await,
            &with_products(&["a"]),
        )
        .await
        .unwrap();
    let tool_cred = store
        .create_credential(
            a,
            &app_id("bob@example.com", "tool").await,
            &with_products(&["b"]),
        )
        .await
        .unwrap();
    // Revoked by an operator; the document does not mention status, so it stays revoked.
    store
        .set_app_status_by(
            a,
            &app_id("ann@example.com", "shop").await,
            AppStatus::Revoked,
            None,
        )
        .await
        .unwrap();

    let small = CatalogDocument {
        environments: Some(vec![env("test", "")]),
        products: Some(vec![product("a", &["/"], &["test"])]),
        developers: Some(vec![developer("ann@example.com", &["shop"])]),
    };
    assert!(
        apply(&store, &small, REAL).await.unwrap().is_empty(),
        "without prune nothing unmentioned is deleted"
    );

    // Sections that are absent are not managed, so prune leaves them alone.
    let blog = blog_cred.credential.key.prefix.clone();
    let tool = tool_cred.credential.key.prefix.clone();
    let developers_only = CatalogDocument {
        developers: Some(vec![developer("ann@example.com", &["shop", "blog"])]),
        ..CatalogDocument::default()
    };
    let dry_prune = ApplyOptions {
        dry_run: true,
        prune: true,
    };
    assert_eq!(
        apply(&store, &developers_only, dry_prune).await.unwrap(),
        [
            "- developer bob@example.com".to_owned(),
            "- app bob@example.com/tool".to_owned(),
            format!("- credential {tool}"),
        ]
    );

    assert_eq!(
        apply(&store, &small, PRUNE).await.unwrap(),
        [
            "- app ann@example.com/blog".to_owned(),
            format!("- credential {blog}"),
            "- developer bob@example.com".to_owned(),
            "- app bob@example.com/tool".to_owned(),
            format!("- credential {tool}"),
            "- product b".to_owned(),
            "- environment prod".to_owned(),
        ]
    );
    assert_eq!(not_found(store.get_product("b").await), "product");
    assert_eq!(
        not_found(store.get_environment("prod").await),
        "environment"
    );
    assert_eq!(
        not_found(store.get_developer("bob@example.com").await),
        "developer"
    );
    assert!(store.get_credential(&blog).await.is_err());
    let shop = store
        .list_apps(Some("ann@example.com"), None, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(shop.len(), 1);
    assert_eq!(shop[0].app.status, AppStatus::Revoked);
    assert!(apply(&store, &small, PRUNE).await.unwrap().is_empty());

    // Managed but empty sections empty the catalog.
    let empty = CatalogDocument {
        environments: Some(vec![]),
        products: Some(vec![]),
        developers: Some(vec![]),
    };
    apply(&store, &empty, PRUNE).await.unwrap();
    assert_eq!(store.export_catalog().await.unwrap(), empty);
}

pub(crate) async fn export_then_apply_on_an_empty_database_reproduces_the_catalog(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_environment(a, "prod", "production")
        .await
        .unwrap();
    store.create_environment(a, "test", "").await.unwrap();
    let spec = ProductSpec {
        display_name: "Orders".into(),
        description: "orders API".into(),
        apis: vec!["orders".into()],
        paths: vec!["/items/**".into()],
        methods: vec!["GET".into(), "POST".into()],
        environments: vec!["prod".into()],
        scopes: vec!["orders:read".into()],
        quota: Some(QuotaSpec {
            limit: 100,
            interval: 1,
            unit: QuotaUnit::Minute,
        }),
        approval: ApprovalType::Manual,
        attributes: attrs(&[("tier", "gold")]),
    };
    store.create_product(a, "orders", &spec).await.unwrap();
    let mut zed = dev("zed@example.com");
    zed.attributes = attrs(&[("team", "z")]);
    store.create_developer(a, &zed).await.unwrap();
    store
        .set_developer_status_by(a, "zed@example.com", DeveloperStatus::Inactive, None)
        .await
        .unwrap();
    store
        .create_developer(a, &dev("amy@example.com"))
        .await
        .unwrap();
    let mut cb = app("web");
    cb.callback_urls = vec!["https://web.example/cb".into()];
    let web = store.create_app(a, "amy@example.com", &cb).await.unwrap();
    store
        .create_app(a, "amy@example.com", &app("cli"))
        .await
        .unwrap();
    store
        .set_app_status_by(a, &web.app.id, AppStatus::Revoked, None)
        .await
        .unwrap();

    let exported = store.export_catalog().await.unwrap();
    let devs = exported.developers.as_ref().unwrap();
    assert_eq!(
        devs.iter()
            .map(|d| d.spec.email.as_str())
            .collect::<Vec<_>>(),
        ["amy@example.com", "zed@example.com"],
        "sorted by identity"
    );
    assert_eq!(
        devs[0]
            .apps
            .iter()
            .map(|x| x.spec.name.as_str())
            .collect::<Vec<_>>(),
        ["cli", "web"]
    );
    assert!(apply(&store, &exported, PRUNE).await.unwrap().is_empty());

    let twin_dir = tempfile::tempdir().unwrap();
    let twin = empty_twin(&db, twin_dir.path()).await;
    let outcome = tokio::spawn({
        let twin = twin.clone();
        let exported = exported.clone();
        async move {
            let copy = open_store(&twin).await;
            let changes = apply(&copy, &exported, REAL).await.unwrap();
            assert_eq!(changes.len(), 7, "{changes:?}");
            assert_eq!(copy.export_catalog().await.unwrap(), exported);
            assert!(apply(&copy, &exported, REAL).await.unwrap().is_empty());
        }
    })
    .await;
    if let TestDb::Postgres { schema, .. } = &twin {
        raw_exec(&db, &format!("DROP SCHEMA {schema} CASCADE")).await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A second, empty database of the same backend as `db`.
async fn empty_twin(db: &TestDb, dir: &std::path::Path) -> TestDb {
    match db {
        TestDb::Sqlite(_) => TestDb::Sqlite(dir.join("twin.db")),
        TestDb::Postgres { url, schema } => {
            let twin = format!("{schema}_twin");
            raw_exec(db, &format!("CREATE SCHEMA {twin}")).await;
            TestDb::Postgres {
                url: url.replace(schema.as_str(), &twin),
                schema: twin,
            }
        }
    }
}
