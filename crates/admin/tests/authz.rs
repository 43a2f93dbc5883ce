//! The authorization matrix: every operation of the OpenAPI document × every role
//! (admin, operator, read-only, anonymous) is allowed or refused exactly as docs/admin-api.md
//! says. The expectation below is written from the documented rules, not from the code.

mod common;

use axum::http::{Method, StatusCode};
use portcullis_store::AdminRole;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Operator,
    ReadOnly,
}

/// The documented rules (docs/admin-api.md, "Roles").
fn allowed(who: Who, method: &str, path: &str) -> bool {
    let own =
        path == "/admin/v1/me" || path.starts_with("/admin/v1/me/") || path == "/admin/v1/logout";
    let identities = path.starts_with("/admin/v1/users") || path.starts_with("/admin/v1/tokens");
    match who {
        Who::Admin => true,
        _ if own => true,
        _ if identities => false,
        Who::Operator => true,
        Who::ReadOnly => method == "get",
    }
}

/// The documented operations as (method, path template).
fn operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&portcullis_admin::openapi_json()).expect("JSON");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_operation_for_every_role() {
    let h = common::sqlite().await;
    let ops = operations();
    assert!(ops.len() >= 45, "only {} operations documented", ops.len());
    let mut checked = 0;
    for (method, template) in &ops {
        let path = concrete(template);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method != "get" && method != "delete").then(|| json!({}));

        // Anonymous: only login answers without 401.
        let r = h.call(m.clone(), &path, None, body.clone(), &[]).await;
        if template == "/admin/v1/login" {
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {template}: {}",
                r.text
            );
            continue;
        }
        r.assert_problem(401, "admin.auth_required");
        assert!(
            r.headers.contains_key("www-authenticate"),
            "{method} {template}"
        );
        let r = h
            .call(
                m.clone(),
                &path,
                Some("pat_notatokenatall0000000000000000000"),
                body.clone(),
                &[],
            )
            .await;
        r.assert_problem(401, "admin.auth_required");

        for (who, role) in [
            (Who::Admin, AdminRole::Admin),
            (Who::Operator, AdminRole::Operator),
            (Who::ReadOnly, AdminRole::ReadOnly),
        ] {
            // A fresh user per call: logout revokes the token it is called with.
            checked += 1;
            let token = h.token(&format!("u{checked}"), role).await;
            let r = h
                .call(m.clone(), &path, Some(&token), body.clone(), &[])
                .await;
            if allowed(who, method, template) {
                assert!(
                    r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                    "{who:?} should be allowed {method} {template}, got {}: {}",
                    r.status,
                    r.text
                );
                assert!(r.status.as_u16() < 500, "{method} {template}: {}", r.text);
            } else {
                r.assert_problem(403, "admin.forbidden");
            }
        }
    }
    assert!(checked >= 130, "{checked}");
}

#[tokio::test]
async fn probes_stay_open_and_reload_needs_a_writer() {
    let h = common::sqlite().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = h.call(Method::GET, path, None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let reader = h.token("viewer", AdminRole::ReadOnly).await;
    let operator = h.token("ops", AdminRole::Operator).await;
    h.call(Method::POST, "/admin/v1/reload", None, None, &[])
        .await
        .assert_problem(401, "admin.auth_required");
    h.call(Method::POST, "/admin/v1/reload", Some(&reader), None, &[])
        .await
        .assert_problem(403, "admin.forbidden");
    let r = h
        .call(Method::POST, "/admin/v1/reload", Some(&operator), None, &[])
        .await;
    assert_eq!(r.body["generation"], 2, "{}", r.text);
    let r = h.get("/admin/v1/status", &reader).await;
    assert_eq!(r.body["generation"], 1, "{}", r.text);
}

#[tokio::test]
async fn the_actor_is_the_user_for_sessions_and_the_token_for_api_tokens() {
    let h = common::sqlite().await;
    let token = h.token("carol", AdminRole::Operator).await;
    let r = h
        .post(
            "/admin/v1/login",
            "",
            json!({"username": "carol", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let session = r.body["token"].as_str().unwrap().to_owned();
    h.post("/admin/v1/environments", &token, json!({"name": "a"}))
        .await;
    h.post("/admin/v1/environments", &session, json!({"name": "b"}))
        .await;
    let r = h.get("/admin/v1/audit?entity=environment", &token).await;
    let actors: Vec<(&str, &str)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entity_id"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(actors.contains(&("a", "token:carol-ci")), "{actors:?}");
    assert!(actors.contains(&("b", "admin:carol")), "{actors:?}");
    let me = h.get("/admin/v1/me", &session).await;
    assert_eq!(me.body["user"]["username"], "carol");
    assert_eq!(me.body["token"]["session"], true);
    // Logout ends the session.
    let r = h
        .call(Method::POST, "/admin/v1/logout", Some(&session), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    h.get("/admin/v1/me", &session)
        .await
        .assert_problem(401, "admin.auth_required");
    // An operator cannot mint an admin token, nor reach other people's tokens.
    let r = h
        .post(
            "/admin/v1/me/tokens",
            &token,
            json!({"name": "bigger", "role": "admin"}),
        )
        .await;
    assert_eq!(r.error_paths(), ["/role"]);
    let r = h
        .post(
            "/admin/v1/me/tokens",
            &token,
            json!({"name": "smaller", "role": "read-only"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let small = r.body["secret"].as_str().unwrap().to_owned();
    let r = h.get("/admin/v1/me", &small).await;
    assert_eq!(r.body["role"], "read-only");
    h.post("/admin/v1/environments", &small, json!({"name": "c"}))
        .await
        .assert_problem(403, "admin.forbidden");
}
