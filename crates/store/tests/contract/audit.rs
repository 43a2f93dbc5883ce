//! The audit log on every backend: every catalog write leaves exactly the entries it should
//! (who, what, before/after), none of them holds a key or secret, listing pages newest first,
//! and a write that fails at any step leaves no trace at all (not even half of a cascade).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_store::{
    AppSpec, AppStatus, ApprovalStatus, ApprovalType, AuditEntry, AuditFilter, DeveloperStatus,
    PageRequest, Store,
};

use super::catalog::{
    actor, app, conflict, dev, invalid, not_found, open_product, snapshot, with_products,
};
use super::harness::TestDb;
use crate::kvm::{open_store, raw_exec};

/// Every entry, newest first, read in small pages (so paging is exercised too).
async fn all_entries(store: &Arc<dyn Store>, filter: &AuditFilter) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: Some(4),
    };
    loop {
        let got = store.list_audit(filter, &page).await.unwrap();
        out.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => return out,
        }
    }
}

/// Checks the entries written since `seen` (oldest first) against `(action, entity)` pairs
/// and returns them.
async fn new_entries(
    store: &Arc<dyn Store>,
    seen: &mut usize,
    expected: &[(&str, &str)],
) -> Vec<AuditEntry> {
    let mut all = all_entries(store, &AuditFilter::default()).await;
    all.reverse();
    let fresh: Vec<AuditEntry> = all[*seen..].to_vec();
    *seen = all.len();
    let got: Vec<(&str, &str)> = fresh
        .iter()
        .map(|e| (e.action.as_str(), e.entity.as_str()))
        .collect();
    assert_eq!(got, expected);
    for e in &fresh {
        match e.action.as_str() {
            "create" => assert!(e.before.is_none() && e.after.is_some(), "{e:?}"),
            "delete" => assert!(e.before.is_some() && e.after.is_none(), "{e:?}"),
            _ => {
                let (b, a) = (e.before.as_ref().unwrap(), e.after.as_ref().unwrap());
                assert_eq!(
                    a["version"].as_i64().unwrap(),
                    b["version"].as_i64().unwrap() + 1,
                    "{e:?}"
                );
            }
        }
        let doc = e.after.as_ref().or(e.before.as_ref()).unwrap();
        let id = doc.get("id").or_else(|| doc.get("name")).unwrap();
        assert_eq!(id.as_str().unwrap(), e.entity_id, "{e:?}");
    }
    fresh
}

pub(crate) async fn every_catalog_write_is_audited_without_secrets(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let started = SystemTime::now() - Duration::from_secs(1);
    let mut seen = 0;
    let mut secrets = Vec::new();

    store.create_environment(a, "prod", "").await.unwrap();
    store
        .update_environment(a, "prod", "live", None)
        .await
        .unwrap();
    store
        .update_environment(a, "prod", "live", None)
        .await
        .unwrap(); // no-op
    let e = new_entries(
        &store,
        &mut seen,
        &[("create", "environment"), ("update", "environment")],
    )
    .await;
    assert_eq!(
        (
            e[1].before.as_ref().unwrap()["description"].as_str(),
            e[1].after.as_ref().unwrap()["description"].as_str()
        ),
        (Some(""), Some("live"))
    );

    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let id = d.developer.id.clone();
    let mut spec = dev("ann@example.com");
    spec.name = "Ann".into();
    store.update_developer(a, &id, &spec, None).await.unwrap();
    store
        .set_developer_status_by(a, &id, DeveloperStatus::Inactive, None)
        .await
        .unwrap();
    store
        .set_developer_status_by(a, &id, DeveloperStatus::Active, None)
        .await
        .unwrap();
    let e = new_entries(
        &store,
        &mut seen,
        &[
            ("create", "developer"),
            ("update", "developer"),
            ("set-status", "developer"),
            ("set-status", "developer"),
        ],
    )
    .await;
    assert_eq!(e[2].after.as_ref().unwrap()["status"], "inactive");

    let shop = store.create_app(a, &id, &app("shop")).await.unwrap();
    let app_id = shop.app.id.clone();
    let respec = AppSpec {
        callback_urls: vec!["https://shop.example/cb".into()],
        ..app("shop")
    };
    store.update_app(a, &app_id, &respec, None).await.unwrap();
    store
        .set_app_status_by(a, &app_id, AppStatus::Revoked, None)
        .await
        .unwrap();
    store
        .set_app_status_by(a, &app_id, AppStatus::Approved, None)
        .await
        .unwrap();
    new_entries(
        &store,
        &mut seen,
        &[
            ("create", "app"),
            ("update", "app"),
            ("set-status", "app"),
            ("set-status", "app"),
        ],
    )
    .await;

    store
        .create_product(a, "gold", &open_product(ApprovalType::Auto))
        .await
        .unwrap();
    store
        .create_product(a, "silver", &open_product(ApprovalType::Manual))
        .await
        .unwrap();
    let mut wider = open_product(ApprovalType::Auto);
    wider.paths = vec!["/v1/**".into()];
    store.update_product(a, "gold", &wider, None).await.unwrap();
    let e = new_entries(
        &store,
        &mut seen,
        &[
            ("create", "product"),
            ("create", "product"),
            ("update", "product"),
        ],
    )
    .await;
    assert_eq!(e[2].after.as_ref().unwrap()["paths"][0], "/v1/**");

    let c = store
        .create_credential(a, &app_id, &with_products(&["gold"]))
        .await
        .unwrap();
    let cid = c.credential.key.id.clone();
    store
        .add_credential_product(a, &cid, "silver")
        .await
        .unwrap();
    store
        .set_credential_product_status(a, &cid, "silver", ApprovalStatus::Approved, None)
        .await
        .unwrap();
    store
        .remove_credential_product(a, &cid, "silver")
        .await
        .unwrap();
    let r = store
        .rotate_credential(a, &cid, SystemTime::now() + Duration::from_secs(60))
        .await
        .unwrap();
    store.revoke_credential(a, &cid, None).await.unwrap();
    let e = new_entries(
        &store,
        &mut seen,
        &[
            ("create", "credential"),
            ("add-product", "credential"),
            ("set-product-status", "credential"),
            ("remove-product", "credential"),
            ("rotate", "credential"),
            ("create", "credential"),
            ("revoke", "credential"),
        ],
    )
    .await;
    assert_eq!(
        e[0].after.as_ref().unwrap()["prefix"],
        c.credential.key.prefix.as_str()
    );
    assert_eq!(
        e[2].after.as_ref().unwrap()["products"][1]["status"],
        "approved"
    );
    assert!(e[4].before.as_ref().unwrap()["expires_at"].is_null());
    assert!(e[4].after.as_ref().unwrap()["expires_at"].is_string());
    assert_eq!(e[5].after.as_ref().unwrap()["rotated_from"], cid.as_str());
    secrets.extend([
        c.consumer_key,
        c.consumer_secret,
        r.consumer_key,
        r.consumer_secret,
    ]);

    // Writes through the key-management trait are audited too, as the CLI.
    let legacy = store
        .ensure_app("bob@example.com", "cli-app")
        .await
        .unwrap();
    let (_, legacy_key) = store.create_key(&legacy.id, None).await.unwrap();
    store.revoke_key(legacy_key.prefix()).await.unwrap();
    let e = new_entries(
        &store,
        &mut seen,
        &[
            ("create", "developer"),
            ("create", "app"),
            ("create", "credential"),
            ("revoke", "credential"),
        ],
    )
    .await;
    assert!(e.iter().all(|e| e.actor == "cli"));
    secrets.push(legacy_key);

    // Cascades record each deleted entity.
    store.delete_app(a, &app_id, None).await.unwrap();
    store.delete_product(a, "gold", None).await.unwrap();
    store.delete_developer(a, &id, None).await.unwrap();
    store.delete_environment(a, "prod", None).await.unwrap();
    new_entries(
        &store,
        &mut seen,
        &[
            ("delete", "app"),
            ("delete", "credential"),
            ("delete", "credential"),
            ("delete", "product"),
            ("delete", "developer"),
            ("delete", "environment"),
        ],
    )
    .await;

    let all = all_entries(&store, &AuditFilter::default()).await;
    assert_eq!(all.len(), seen);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let now = SystemTime::now();
    assert!(all.iter().all(|e| e.at >= started && e.at <= now));
    assert!(
        all.iter()
            .filter(|e| e.actor != "cli")
            .all(|e| e.actor == "admin:root")
    );

    // Filters.
    let of_cred = all_entries(
        &store,
        &AuditFilter {
            entity: Some("credential".into()),
            entity_id: Some(cid.clone()),
            actor: None,
        },
    )
    .await;
    let actions: Vec<_> = of_cred.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "delete",
            "revoke",
            "rotate",
            "remove-product",
            "set-product-status",
            "add-product",
            "create"
        ]
    );
    let by_cli = all_entries(
        &store,
        &AuditFilter {
            actor: Some("cli".into()),
            ..AuditFilter::default()
        },
    )
    .await;
    assert_eq!(by_cli.len(), 4);
    invalid(
        store
            .list_audit(
                &AuditFilter::default(),
                &PageRequest {
                    after: Some("x".into()),
                    limit: None,
                },
            )
            .await,
    );

    // No key or secret, nor their random parts, in any entry.
    let text: String = all
        .iter()
        .map(|e| format!("{:?} {:?}", e.before, e.after))
        .collect();
    for s in &secrets {
        assert!(
            !text.contains(&s.expose()[4..]),
            "{} leaked into the audit log",
            s.prefix()
        );
    }
}

async fn trace(store: &Arc<dyn Store>) -> (i64, usize, Vec<portcullis_store::KeyRecord>) {
    (
        store.change_seq().await.unwrap(),
        all_entries(store, &AuditFilter::default()).await.len(),
        store.list_keys(None).await.unwrap(),
    )
}

/// Makes every audit insert for a credential fail, after the credential rows were written.
async fn break_credential_audits(db: &TestDb) {
    if db.is_postgres() {
        raw_exec(
            db,
            "CREATE FUNCTION fail_credential_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.entity = 'credential' THEN RAISE EXCEPTION 'injected failure'; END IF; \
             RETURN NEW; END $$",
        )
        .await;
        raw_exec(
            db,
            "CREATE TRIGGER fail_credential_audit BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION fail_credential_audit()",
        )
        .await;
    } else {
        raw_exec(
            db,
            "CREATE TRIGGER fail_credential_audit BEFORE INSERT ON audit_log \
             WHEN NEW.entity = 'credential' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        .await;
    }
}

async fn repair_credential_audits(db: &TestDb) {
    let sql = if db.is_postgres() {
        "DROP TRIGGER fail_credential_audit ON audit_log"
    } else {
        "DROP TRIGGER fail_credential_audit"
    };
    raw_exec(db, sql).await;
}

pub(crate) async fn a_failing_write_leaves_no_trace(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store.create_environment(a, "prod", "").await.unwrap();
    let mut prod_only = open_product(ApprovalType::Auto);
    prod_only.environments = vec!["prod".into()];
    store.create_product(a, "gold", &prod_only).await.unwrap();
    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    store
        .create_developer(a, &dev("bob@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &d.developer.id, &app("shop"))
        .await
        .unwrap();
    let c = store
        .create_credential(a, &shop.app.id, &with_products(&["gold"]))
        .await
        .unwrap();
    let before = trace(&store).await;
    let dev_before = store.get_developer(&d.developer.id).await.unwrap();

    // Refused before or inside the transaction, at various steps.
    let mut bad = open_product(ApprovalType::Auto);
    bad.paths = vec!["nope".into()];
    invalid(store.create_product(a, "x", &bad).await);
    let mut missing_env = open_product(ApprovalType::Auto);
    missing_env.environments = vec!["stage".into()];
    invalid(store.create_product(a, "x", &missing_env).await);
    assert_eq!(
        not_found(
            store
                .create_credential(a, &shop.app.id, &with_products(&["gold", "tin"]))
                .await
        ),
        "product"
    );
    conflict(store.delete_environment(a, "prod", None).await);
    conflict(store.delete_product(a, "gold", None).await);
    let mut steal = dev("bob@example.com");
    steal.name = "Ann".into();
    conflict(
        store
            .update_developer(a, &d.developer.id, &steal, None)
            .await,
    );
    assert_eq!(trace(&store).await, before);
    assert_eq!(
        store.get_developer(&d.developer.id).await.unwrap(),
        dev_before
    );

    // Failing at the very end (the audit insert, after every row was written): the key rows,
    // approvals, expiry change and cascade deletes are all rolled back.
    break_credential_audits(&db).await;
    assert!(
        store
            .create_credential(a, &shop.app.id, &with_products(&["gold"]))
            .await
            .is_err()
    );
    let far = SystemTime::now() + Duration::from_secs(60);
    assert!(
        store
            .rotate_credential(a, &c.credential.key.id, far)
            .await
            .is_err()
    );
    assert!(store.delete_app(a, &shop.app.id, None).await.is_err());
    assert!(
        store
            .delete_developer(a, &d.developer.id, None)
            .await
            .is_err()
    );
    assert_eq!(trace(&store).await, before);
    assert_eq!(
        store.get_credential(&c.credential.key.id).await.unwrap(),
        c.credential,
        "approvals and expiry untouched"
    );
    assert_eq!(store.get_app(&shop.app.id).await.unwrap(), shop);
    let index = snapshot(&store).await;
    assert!(
        index
            .lookup(c.consumer_key.expose(), SystemTime::now())
            .is_valid()
    );

    // Once repaired, the same writes go through.
    repair_credential_audits(&db).await;
    store
        .rotate_credential(a, &c.credential.key.id, far)
        .await
        .unwrap();
    store
        .delete_developer(a, &d.developer.id, None)
        .await
        .unwrap();
}
