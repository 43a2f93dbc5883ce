//! The admin REST API on a real store: CRUD, ETag/If-Match, pagination, 422 field paths,
//! 409, 404, nothing half-applied, the audit log with secrets redacted, KVM reveal. The main
//! scenario runs on SQLite and on PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::{Harness, Reply};
use portcullis_store::AdminRole;
use serde_json::json;

async fn patch(
    h: &Harness,
    path: &str,
    token: &str,
    body: serde_json::Value,
    if_match: Option<&str>,
) -> Reply {
    let headers: Vec<(&str, &str)> = if_match.map(|e| vec![("if-match", e)]).unwrap_or_default();
    h.call(Method::PATCH, path, Some(token), Some(body), &headers)
        .await
}

/// The catalog end to end: environment → product → developer → app → credential.
async fn catalog_scenario(h: &Harness) {
    let admin = h.token("root", AdminRole::Admin).await;

    // Environment: create, read with ETag, conditional update, 412 on a stale ETag.
    let r = h
        .post(
            "/admin/v1/environments",
            &admin,
            json!({"name": "test", "description": "t"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v1 = r.etag();
    assert_eq!(v1, "\"1\"");
    let r = h.get("/admin/v1/environments/test", &admin).await;
    assert_eq!(r.etag(), v1);
    assert!(
        r.body["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T'))
    );
    let r = patch(
        h,
        "/admin/v1/environments/test",
        &admin,
        json!({"description": "testing"}),
        Some(&v1),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.etag(), "\"2\"");
    let r = patch(
        h,
        "/admin/v1/environments/test",
        &admin,
        json!({"description": "again"}),
        Some(&v1),
    )
    .await;
    r.assert_problem(412, "admin.precondition_failed");
    assert_eq!(r.body["current_etag"], "\"2\"");
    assert_eq!(
        h.get("/admin/v1/environments/test", &admin).await.body["description"],
        "testing"
    );
    // Duplicate → 409; unknown → 404.
    h.post("/admin/v1/environments", &admin, json!({"name": "test"}))
        .await
        .assert_problem(409, "admin.conflict");
    h.get("/admin/v1/environments/nope", &admin)
        .await
        .assert_problem(404, "admin.not_found");

    // Product: every invalid field at once, with its JSON Pointer; nothing stored.
    let r = h
        .post(
            "/admin/v1/products",
            &admin,
            json!({
                "name": "gold plan",
                "paths": ["/", "/a", "a", "/b//c"],
                "methods": ["GET", "get"],
                "environments": ["test", "prod"],
                "quota": {"limit": 0, "interval": 1, "unit": "week"},
                "approval": "sometimes",
                "colour": "gold"
            }),
        )
        .await;
    let mut paths = r.error_paths();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/approval",
            "/colour",
            "/environments/1",
            "/methods/1",
            "/name",
            "/paths/2",
            "/paths/3",
            "/quota/limit",
            "/quota/unit"
        ],
        "{}",
        r.text
    );
    let r = h.get("/admin/v1/products", &admin).await;
    assert_eq!(
        r.body["items"],
        json!([]),
        "a refused product is not half-created"
    );
    let r = h
        .post(
            "/admin/v1/products",
            &admin,
            json!({"name": "gold", "paths": ["/**"], "methods": ["GET"], "environments": ["test"],
                   "quota": {"limit": 100, "interval": 1, "unit": "minute"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["approval"], "auto");
    let r = h
        .post(
            "/admin/v1/products",
            &admin,
            json!({"name": "silver", "approval": "manual"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Developer and app.
    let r = h
        .post(
            "/admin/v1/developers",
            &admin,
            json!({"email": "Ann@Example.com", "name": "Ann", "attributes": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let dev = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["email"], "ann@example.com");
    h.post(
        "/admin/v1/developers",
        &admin,
        json!({"email": "ann@example.com", "name": "Again"}),
    )
    .await
    .assert_problem(409, "admin.conflict");
    let r = h
        .post(
            "/admin/v1/developers",
            &admin,
            json!({"email": 5, "name": ""}),
        )
        .await;
    assert_eq!(r.error_paths(), ["/email", "/name"]);
    let r = h.get("/admin/v1/developers/ann@example.com", &admin).await;
    assert_eq!(r.body["id"], dev.as_str());
    let r = h
        .post(
            &format!("/admin/v1/developers/{dev}/apps"),
            &admin,
            json!({"name": "shop", "callback_urls": ["https://shop.example/cb", "/relative"]}),
        )
        .await;
    assert_eq!(r.error_paths(), ["/callback_urls/1"], "{}", r.text);
    let r = h
        .post(
            &format!("/admin/v1/developers/{dev}/apps"),
            &admin,
            json!({"name": "shop", "callback_urls": ["https://shop.example/cb"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let app = r.body["id"].as_str().unwrap().to_owned();
    h.post(
        "/admin/v1/developers/dev_nobody/apps",
        &admin,
        json!({"name": "x"}),
    )
    .await
    .assert_problem(404, "admin.not_found");

    // Credential: key and secret shown once, never again.
    let r = h
        .post(
            &format!("/admin/v1/apps/{app}/credentials"),
            &admin,
            json!({"products": ["gold", "bronze"]}),
        )
        .await;
    assert_eq!(r.error_paths(), ["/products/1"], "{}", r.text);
    let r = h
        .post(
            &format!("/admin/v1/apps/{app}/credentials"),
            &admin,
            json!({"products": ["gold", "silver"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let key = r.body["consumer_key"].as_str().unwrap().to_owned();
    let secret = r.body["consumer_secret"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pcl_") && secret.starts_with("pcs_"));
    let cred = r.body["credential"]["id"].as_str().unwrap().to_owned();
    let approvals = &r.body["credential"]["products"];
    assert_eq!(
        approvals,
        &json!([{"product": "gold", "status": "approved"}, {"product": "silver", "status": "pending"}])
    );
    let r = h
        .get(&format!("/admin/v1/credentials/{cred}"), &admin)
        .await;
    assert!(!r.text.contains(&key) && !r.text.contains(&secret));
    let etag = r.etag();
    // Approve the pending product with If-Match.
    let r = h
        .call(
            Method::POST,
            &format!("/admin/v1/credentials/{cred}/products/silver/status"),
            Some(&admin),
            Some(json!({"status": "approved"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["products"][1]["status"], "approved");
    // Rotation: a new key; the old one expires after the overlap.
    let r = h
        .post(
            &format!("/admin/v1/credentials/{cred}/rotate"),
            &admin,
            json!({"overlap": "1h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_ne!(r.body["consumer_key"], key.as_str());
    let old = h
        .get(&format!("/admin/v1/credentials/{cred}"), &admin)
        .await;
    assert!(old.body["expires_at"].is_string(), "{}", old.text);
    let r = h
        .post(
            &format!("/admin/v1/credentials/{cred}/rotate"),
            &admin,
            json!({"overlap": "soon", "old_expires_at": "yesterday"}),
        )
        .await;
    let mut p = r.error_paths();
    p.sort();
    assert_eq!(p, ["/old_expires_at", "/overlap", "/overlap"], "{}", r.text);
    // Revoke.
    let r = h
        .call(
            Method::POST,
            &format!("/admin/v1/credentials/{cred}/revoke"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "revoked");
    let r = h
        .get(&format!("/admin/v1/apps/{app}/credentials"), &admin)
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));

    // A product in use cannot be deleted.
    h.call(
        Method::DELETE,
        "/admin/v1/products/gold",
        Some(&admin),
        None,
        &[],
    )
    .await
    .assert_problem(409, "admin.conflict");

    // Developer status cascades; PATCH keeps unspecified fields.
    let r = h
        .post(
            &format!("/admin/v1/developers/{dev}/status"),
            &admin,
            json!({"status": "inactive"}),
        )
        .await;
    assert_eq!(r.body["status"], "inactive", "{}", r.text);
    let r = patch(
        h,
        &format!("/admin/v1/developers/{dev}"),
        &admin,
        json!({"name": "Ann B."}),
        None,
    )
    .await;
    assert_eq!(r.body["name"], "Ann B.");
    assert_eq!(r.body["attributes"], json!({"tier": "gold"}));
    assert_eq!(r.body["status"], "inactive");
    let r = h.get("/admin/v1/developers?status=active", &admin).await;
    assert_eq!(r.body["items"], json!([]));
    h.get("/admin/v1/developers?status=sleepy", &admin)
        .await
        .assert_problem(400, "admin.bad_request");

    // Audit: every change, who made it, secrets redacted.
    let r = h
        .get("/admin/v1/audit?entity=credential&limit=500", &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let entries = r.body["items"].as_array().unwrap();
    assert!(entries.len() >= 4, "{}", r.text);
    assert!(
        entries.iter().all(|e| e["actor"] == "token:root-ci"),
        "{}",
        r.text
    );
    let all = h.get("/admin/v1/audit?limit=500", &admin).await.text;
    assert!(
        !all.contains(&key) && !all.contains(&secret),
        "audit log leaks a credential"
    );
    let r = h
        .get(&format!("/admin/v1/audit?entity_id={dev}"), &admin)
        .await;
    assert!(
        r.body["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{}",
        r.text
    );

    // Delete cascades.
    let r = h
        .call(
            Method::DELETE,
            &format!("/admin/v1/developers/{dev}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    h.get(&format!("/admin/v1/apps/{app}"), &admin)
        .await
        .assert_problem(404, "admin.not_found");
}

#[tokio::test]
async fn catalog_on_sqlite() {
    catalog_scenario(&common::sqlite().await).await;
}

#[tokio::test]
async fn catalog_on_postgres() {
    if let Some(h) = common::postgres().await {
        catalog_scenario(&h).await;
    }
}

#[tokio::test]
async fn pagination_walks_every_item_once() {
    let h = common::sqlite().await;
    let admin = h.token("root", AdminRole::Admin).await;
    for i in 0..7 {
        let r = h
            .post(
                "/admin/v1/developers",
                &admin,
                json!({"email": format!("d{i}@example.com"), "name": format!("D{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = h
            .post(
                "/admin/v1/environments",
                &admin,
                json!({"name": format!("env{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    for list in ["/admin/v1/developers", "/admin/v1/environments"] {
        let mut seen = Vec::new();
        let mut url = format!("{list}?limit=3");
        let mut pages = 0;
        loop {
            let r = h.get(&url, &admin).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let items = r.body["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|i| i["name"].as_str().unwrap().to_owned()));
            pages += 1;
            match r.body["next"].as_str() {
                Some(next) => url = format!("{list}?limit=3&after={next}"),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{list}");
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 7, "{list}: {seen:?}");
    }
    h.get("/admin/v1/developers?limit=0", &admin)
        .await
        .assert_problem(400, "admin.bad_request");
    h.get("/admin/v1/environments?after=zzz", &admin)
        .await
        .assert_problem(400, "admin.bad_request");
}

#[tokio::test]
async fn kvm_values_are_write_only_except_admin_reveal() {
    let h = common::sqlite().await;
    let admin = h.token("root", AdminRole::Admin).await;
    let operator = h.token("ops", AdminRole::Operator).await;
    let reader = h.token("viewer", AdminRole::ReadOnly).await;
    h.post("/admin/v1/environments", &admin, json!({"name": "prod"}))
        .await;
    let path = "/admin/v1/environments/prod/kvms/backend/entries/password";
    let r = h
        .call(
            Method::PUT,
            path,
            Some(&operator),
            Some(json!({"value": "s3cr3t-value"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(!r.text.contains("s3cr3t-value"));
    let etag = r.etag();
    let r = h
        .call(
            Method::PUT,
            path,
            Some(&operator),
            Some(json!({"value": "n3w-value"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    h.call(
        Method::PUT,
        path,
        Some(&operator),
        Some(json!({"value": "x"})),
        &[("if-match", &etag)],
    )
    .await
    .assert_problem(412, "admin.precondition_failed");
    for token in [&admin, &operator, &reader] {
        let r = h.get(path, token).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.get("value").is_none() && !r.text.contains("n3w-value"));
        let r = h.get("/admin/v1/environments/prod/kvms", token).await;
        assert!(!r.text.contains("n3w-value"));
    }
    h.get(&format!("{path}?reveal=true"), &operator)
        .await
        .assert_problem(403, "admin.forbidden");
    h.get(&format!("{path}?reveal=true"), &reader)
        .await
        .assert_problem(403, "admin.forbidden");
    let r = h.get(&format!("{path}?reveal=true"), &admin).await;
    assert_eq!(r.body["value"], "n3w-value", "{}", r.text);
    let audit = h.get("/admin/v1/audit?entity=kvm", &admin).await;
    assert!(
        audit.body["items"].as_array().is_some_and(|i| i.len() >= 2),
        "{}",
        audit.text
    );
    assert!(!audit.text.contains("n3w-value") && !audit.text.contains("s3cr3t-value"));
    // The reveal itself is audited (newest first), without the value; refused reveals are not.
    let items = audit.body["items"].as_array().unwrap();
    let reveals: Vec<_> = items.iter().filter(|i| i["action"] == "reveal").collect();
    assert_eq!(reveals.len(), 1, "{}", audit.text);
    assert!(
        reveals[0]["actor"].as_str().unwrap().starts_with("admin:")
            || reveals[0]["actor"].as_str().unwrap().starts_with("token:"),
        "{}",
        audit.text
    );
    h.call(
        Method::PUT,
        path,
        Some(&reader),
        Some(json!({"value": "x"})),
        &[],
    )
    .await
    .assert_problem(403, "admin.forbidden");
}

#[tokio::test]
async fn bodies_are_checked_before_anything_happens() {
    let h = common::sqlite().await;
    let admin = h.token("root", AdminRole::Admin).await;
    let r = h
        .call(
            Method::POST,
            "/admin/v1/environments",
            Some(&admin),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.error_paths(), ["/name"]);
    let r = h
        .call(
            Method::POST,
            "/admin/v1/developers",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.error_paths(), ["/email", "/name"]);
    // Malformed JSON, wrong media type.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/admin/v1/environments")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"name\":"))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(h.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/admin/v1/environments")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("name=x"))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(h.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = h.post("/admin/v1/environments", &admin, json!(["x"])).await;
    assert_eq!(r.error_paths(), [""]);
    // Unknown route and method are problems too.
    h.get("/admin/v1/nothing-here", &admin)
        .await
        .assert_problem(404, "admin.not_found");
    h.call(Method::PUT, "/admin/v1/audit", Some(&admin), None, &[])
        .await
        .assert_problem(405, "admin.method_not_allowed");
}

#[tokio::test]
async fn an_unreachable_store_is_503_with_retry_after() {
    let (h, handle) = common::sqlite_handle().await;
    let admin = h.token("root", AdminRole::Admin).await;
    assert_eq!(
        h.get("/admin/v1/environments", &admin).await.status,
        StatusCode::OK
    );
    handle.close().await;
    for r in [
        h.get("/admin/v1/environments", &admin).await,
        h.post("/admin/v1/environments", &admin, json!({"name": "x"}))
            .await,
        h.call(
            Method::POST,
            "/admin/v1/login",
            None,
            Some(json!({"username": "root", "password": common::PASSWORD})),
            &[],
        )
        .await,
    ] {
        r.assert_problem(503, "admin.store_unavailable");
        assert!(r.headers.get("retry-after").is_some(), "{}", r.text);
        assert!(
            !r.text.contains("sqlite") && !r.text.contains("pool"),
            "internals leak: {}",
            r.text
        );
    }
}
