//! Login end to end: password, TOTP enrolment confirmed with a code an authenticator app would
//! compute from the otpauth URL, login requiring that second factor, and brute-force
//! throttling answered with 429 + Retry-After.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use portcullis_store::{Actor, AdminRole};
use serde_json::json;

async fn login(
    h: &common::Harness,
    username: &str,
    password: &str,
    totp: Option<String>,
) -> common::Reply {
    let mut body = json!({"username": username, "password": password});
    if let Some(code) = totp {
        body["totp"] = code.into();
    }
    h.call(Method::POST, "/admin/v1/login", None, Some(body), &[])
        .await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn totp_enrolment_makes_the_code_mandatory() {
    let h = common::sqlite().await;
    h.store
        .create_admin_user(
            &Actor::system(),
            "alice",
            common::PASSWORD,
            AdminRole::Admin,
        )
        .await
        .unwrap();
    let r = login(&h, "alice", common::PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["totp_enabled"], false);
    let session = r.body["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("pat_"));

    let r = h
        .call(Method::POST, "/admin/v1/me/totp", Some(&session), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["otpauth_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    let totp = totp_rs::Totp::from_url(&url).expect("a valid otpauth URL");
    // Until confirmed, the password alone still logs in.
    assert_eq!(
        login(&h, "alice", common::PASSWORD, None).await.status,
        StatusCode::OK
    );
    // A wrong code does not confirm.
    let wrong = if totp.generate(now()).to_string() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = h
        .post(
            "/admin/v1/me/totp/confirm",
            &session,
            json!({"code": wrong}),
        )
        .await;
    assert_eq!(r.error_paths(), ["/code"]);
    let code = totp.generate(now()).to_string();
    let r = h
        .post("/admin/v1/me/totp/confirm", &session, json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totp_enabled"], true);

    // Now the code is required, must be right, and cannot be replayed.
    login(&h, "alice", common::PASSWORD, None)
        .await
        .assert_problem(401, "admin.login_failed");
    login(&h, "alice", common::PASSWORD, Some(wrong.into()))
        .await
        .assert_problem(401, "admin.login_failed");
    login(
        &h,
        "alice",
        "wrong password!!",
        Some(totp.generate(now() + 30).to_string()),
    )
    .await
    .assert_problem(401, "admin.login_failed");
    let next = totp.generate(now() + 30).to_string();
    let r = login(&h, "alice", common::PASSWORD, Some(next.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["totp_enabled"], true);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        h.get("/admin/v1/me", &token).await.body["user"]["username"],
        "alice"
    );
    login(&h, "alice", common::PASSWORD, Some(next))
        .await
        .assert_problem(401, "admin.login_failed");
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let h = common::sqlite().await;
    h.store
        .create_admin_user(
            &Actor::system(),
            "bob",
            common::PASSWORD,
            AdminRole::Operator,
        )
        .await
        .unwrap();
    let mut throttled = None;
    for attempt in 0..12 {
        let r = login(&h, "bob", "not the password", None).await;
        match r.status.as_u16() {
            401 => r.assert_problem(401, "admin.login_failed"),
            429 => {
                throttled = Some((attempt, r));
                break;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    let (attempt, r) = throttled.expect("brute force is throttled");
    assert!(attempt >= 3, "throttled too early ({attempt})");
    r.assert_problem(429, "admin.login_throttled");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    // Even the right password is refused while locked out: guessing gains nothing.
    login(&h, "bob", common::PASSWORD, None)
        .await
        .assert_problem(429, "admin.login_throttled");
    // Malformed login bodies are 422, not a login failure.
    let r = h
        .call(
            Method::POST,
            "/admin/v1/login",
            None,
            Some(json!({"username": "bob"})),
            &[],
        )
        .await;
    assert_eq!(r.error_paths(), ["/password"]);
}
