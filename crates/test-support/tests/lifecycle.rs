//! Credential lifecycle end to end through the proxy: revoking a product association, an app or
//! a developer stops every key below it (cascade) and re-approving restores them; revoking one
//! credential stops only that key; a rotated credential's old key keeps working until the
//! chosen time while the new key works at once.

use std::time::{Duration, Instant, SystemTime};

use portcullis_store::{
    Actor, AppStatus, ApprovalStatus, CatalogRepository, DeveloperStatus, SqliteStore,
};
use portcullis_test_support::{
    ALL_PRODUCT, Recorder, TestGateway, ensure_product, get, product_spec,
};

fn config(up: &Recorder) -> String {
    format!(
        r#"
listeners: [ {{ name: p, address: "127.0.0.1:0" }} ]
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{}"] }}
    policies: {{ request: [ {{ verify-api-key: {{}} }} ] }}
"#,
        up.url()
    )
}

struct World {
    gw: TestGateway,
    store: SqliteStore,
    _up: std::sync::Arc<Recorder>,
}

impl World {
    async fn start() -> Self {
        let up = Recorder::start("up").await;
        let gw = TestGateway::start(&config(&up)).await;
        let store = gw.store().await;
        ensure_product(&store, ALL_PRODUCT, &product_spec(&[], &[], &[], &[]))
            .await
            .unwrap();
        World { gw, store, _up: up }
    }

    /// The stable code of a call with `key` (`ok` for 200), once the gateway has caught up with
    /// every change made so far.
    async fn verdict(&self, key: &str) -> String {
        self.gw.caught_up(&self.store).await;
        let reply = get(&self.gw.url("/orders/x"), &[("x-api-key", key)]).await;
        if reply.status == 200 {
            "ok".into()
        } else {
            reply.json()["code"].as_str().unwrap_or("?").to_owned()
        }
    }

    async fn verdicts(&self, keys: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for key in keys {
            out.push(self.verdict(key).await);
        }
        out
    }
}

#[tokio::test]
async fn revocation_cascades_and_reapproval_restores() {
    let w = World::start().await;
    let actor = Actor::system();
    let a1 = w.gw.issue_key(&w.store, "shop", &[ALL_PRODUCT]).await;
    let a2 = w.gw.issue_key(&w.store, "shop", &[ALL_PRODUCT]).await;
    let b = w.gw.issue_key(&w.store, "other-app", &[ALL_PRODUCT]).await;
    let (k1, k2, kb) = (a1.key.as_str(), a2.key.as_str(), b.key.as_str());
    assert_eq!(w.verdicts(&[k1, k2, kb]).await, ["ok", "ok", "ok"]);

    // One product association: only that credential.
    let set_product = |prefix: String, status| {
        let store = &w.store;
        let actor = actor.clone();
        async move {
            store
                .set_credential_product_status(&actor, &prefix, ALL_PRODUCT, status, None)
                .await
                .unwrap();
        }
    };
    set_product(a1.prefix.clone(), ApprovalStatus::Revoked).await;
    assert_eq!(
        w.verdicts(&[k1, k2, kb]).await,
        ["key.not_approved", "ok", "ok"]
    );
    set_product(a1.prefix.clone(), ApprovalStatus::Approved).await;
    assert_eq!(w.verdict(k1).await, "ok");
    // Removing the association and adding it back (auto approval) does the same.
    w.store
        .remove_credential_product(&actor, &a1.prefix, ALL_PRODUCT)
        .await
        .unwrap();
    assert_eq!(w.verdict(k1).await, "key.not_approved");
    w.store
        .add_credential_product(&actor, &a1.prefix, ALL_PRODUCT)
        .await
        .unwrap();
    assert_eq!(w.verdict(k1).await, "ok");

    // The app: every credential of it, not the other app's.
    w.store
        .set_app_status_by(&actor, &a1.app_id, AppStatus::Revoked, None)
        .await
        .unwrap();
    assert_eq!(
        w.verdicts(&[k1, k2, kb]).await,
        ["app.revoked", "app.revoked", "ok"]
    );
    w.store
        .set_app_status_by(&actor, &a1.app_id, AppStatus::Approved, None)
        .await
        .unwrap();
    assert_eq!(w.verdicts(&[k1, k2, kb]).await, ["ok", "ok", "ok"]);

    // The developer: every app of theirs.
    w.store
        .set_developer_status_by(&actor, "dev@example.com", DeveloperStatus::Inactive, None)
        .await
        .unwrap();
    assert_eq!(
        w.verdicts(&[k1, k2, kb]).await,
        [
            "developer.inactive",
            "developer.inactive",
            "developer.inactive"
        ]
    );
    w.store
        .set_developer_status_by(&actor, "dev@example.com", DeveloperStatus::Active, None)
        .await
        .unwrap();
    assert_eq!(w.verdicts(&[k1, k2, kb]).await, ["ok", "ok", "ok"]);

    // A credential: that key only, for good.
    w.store
        .revoke_credential(&actor, &a2.prefix, None)
        .await
        .unwrap();
    assert_eq!(w.verdicts(&[k1, k2, kb]).await, ["ok", "key.revoked", "ok"]);
    // A revoked key stays revoked even when its app and developer are restored.
    w.store
        .set_app_status_by(&actor, &a1.app_id, AppStatus::Revoked, None)
        .await
        .unwrap();
    w.store
        .set_app_status_by(&actor, &a1.app_id, AppStatus::Approved, None)
        .await
        .unwrap();
    assert_eq!(w.verdicts(&[k1, k2]).await, ["ok", "key.revoked"]);
    w.gw.stop().await;
}

#[tokio::test]
async fn rotation_keeps_the_old_key_until_its_time_and_the_new_one_works_at_once() {
    let w = World::start().await;
    let actor = Actor::system();
    let old = w.gw.issue_key(&w.store, "shop", &[ALL_PRODUCT]).await;
    let overlap = Duration::from_millis(1500);
    let until = SystemTime::now() + overlap;
    let started = Instant::now();
    let issued = w
        .store
        .rotate_credential(&actor, &old.prefix, until)
        .await
        .unwrap();
    let new = issued.consumer_key.expose().to_owned();
    assert_eq!(
        issued.credential.products[0].status,
        ApprovalStatus::Approved,
        "the new credential keeps the old one's approvals"
    );
    // Both work right away.
    assert_eq!(w.verdicts(&[&old.key, &new]).await, ["ok", "ok"]);
    assert!(
        started.elapsed() < overlap,
        "the overlap check ran too late to mean anything"
    );
    // Until the chosen time, the old key keeps working.
    while SystemTime::now() + Duration::from_millis(200) < until {
        assert_eq!(w.verdict(&old.key).await, "ok");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(until.duration_since(SystemTime::now()).unwrap_or_default()).await;
    assert_eq!(w.verdicts(&[&old.key, &new]).await, ["key.expired", "ok"]);

    // Rotating with a time already passed retires the old key at once.
    let issued = w
        .store
        .rotate_credential(
            &actor,
            &issued.credential.key.prefix,
            SystemTime::UNIX_EPOCH,
        )
        .await
        .unwrap();
    let newest = issued.consumer_key.expose().to_owned();
    assert_eq!(w.verdicts(&[&new, &newest]).await, ["key.expired", "ok"]);
    w.gw.stop().await;
}
