//! The authorization code flow end to end: login and consent pages of the built-in user store,
//! PKCE S256, ID token with nonce, userinfo, refresh rotation, and the RFC 9700 attack checks
//! (redirect URI variants, missing or wrong verifiers, code reuse, refresh replay, 20 parallel
//! refreshes), plus Python authlib driving the same flow.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::Method;
use portcullis_store::{
    Actor, AppSpec, CatalogRepository, CredentialSpec, DeveloperSpec, OAuthRepository, ProductSpec,
};
use portcullis_test_support::oauth::oauth_product;
use portcullis_test_support::{
    Recorder, Reply, TestGateway, get, interop_python, request, run_interop_script,
};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "https://client.example/cb";
const ISSUER: &str = "http://127.0.0.1:1";

struct Client {
    id: String,
    secret: String,
}

fn config(upstream: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
authorization_server:
  address: "127.0.0.1:0"
  issuer: "{ISSUER}"
  code_lifetime: 30s
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{}} }} ]
"#
    )
}

async fn provision(gw: &TestGateway) -> Client {
    let store = gw.store().await;
    let actor = Actor::system();
    store
        .create_developer(
            &actor,
            &DeveloperSpec {
                email: "dev@example.com".into(),
                name: "Dev".into(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    let app = store
        .create_app(
            &actor,
            "dev@example.com",
            &AppSpec {
                name: "Shop <b>app</b>".into(),
                callback_urls: vec![REDIRECT.into(), "https://client.example:8443/other".into()],
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    store
        .create_product(
            &actor,
            "orders",
            &ProductSpec {
                display_name: "Orders".into(),
                ..oauth_product(&["orders.read"], None)
            },
        )
        .await
        .unwrap();
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec!["orders".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let claims = serde_json::json!({"email": "ann@example.com", "name": "Ann", "secret_note": "x"});
    store
        .create_oauth_user(
            &actor,
            "ann",
            "correct horse battery",
            claims.as_object().unwrap(),
        )
        .await
        .unwrap();
    Client {
        id: issued.consumer_key.expose().to_owned(),
        secret: issued.consumer_secret.expose().to_owned(),
    }
}

fn as_url(gw: &TestGateway, path: &str) -> String {
    format!("http://{}{path}", gw.running.authorization_server.unwrap())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

fn authorize_url(gw: &TestGateway, c: &Client, redirect: &str, extra: &str) -> String {
    as_url(
        gw,
        &format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&state=st-1{extra}",
            enc(&c.id),
            enc(redirect)
        ),
    )
}

fn pkce_params() -> String {
    format!(
        "&code_challenge={}&code_challenge_method=S256",
        challenge(VERIFIER)
    )
}

fn hidden(page: &Reply, name: &str) -> String {
    let body = String::from_utf8_lossy(&page.body);
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    let end = start + body[start..].find('"').unwrap();
    body[start..end].replace("&amp;", "&")
}

async fn post_form(url: &str, auth: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    request(Method::POST, url, &headers, body.to_owned()).await
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Runs the front channel (login + consent) and returns the redirect's query.
async fn front_channel(gw: &TestGateway, url: &str) -> std::collections::HashMap<String, String> {
    let page = get(url, &[]).await;
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let body = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        body.contains("Shop &lt;b&gt;app&lt;/b&gt;"),
        "escaped app name: {body}"
    );
    let wrong = post_form(
        &as_url(gw, "/oauth2/authorize"),
        None,
        &format!(
            "step=login&ticket={}&username=ann&password=nope-nope-nope",
            enc(&hidden(&page, "ticket"))
        ),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let consent = post_form(
        &as_url(gw, "/oauth2/authorize"),
        None,
        &format!(
            "step=login&ticket={}&username=ann&password={}",
            enc(&hidden(&page, "ticket")),
            enc("correct horse battery")
        ),
    )
    .await;
    assert_eq!(
        consent.status,
        200,
        "{}",
        String::from_utf8_lossy(&consent.body)
    );
    let text = String::from_utf8_lossy(&consent.body).into_owned();
    assert!(
        text.contains("<code>orders.read</code>"),
        "consent lists scopes: {text}"
    );
    let done = post_form(
        &as_url(gw, "/oauth2/authorize"),
        None,
        &format!(
            "step=consent&ticket={}&decision=approve",
            enc(&hidden(&consent, "ticket"))
        ),
    )
    .await;
    assert_eq!(done.status, 303, "{}", String::from_utf8_lossy(&done.body));
    let location = done.header("location").unwrap().to_owned();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    query_of(&location)
}

async fn exchange(gw: &TestGateway, c: &Client, code: &str, verifier: Option<&str>) -> Reply {
    let mut body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        enc(code),
        enc(REDIRECT)
    );
    if let Some(v) = verifier {
        body.push_str(&format!("&code_verifier={v}"));
    }
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.id, c.secret))
    );
    post_form(&as_url(gw, "/oauth2/token"), Some(&basic), &body).await
}

async fn refresh(gw: &TestGateway, c: &Client, token: &str) -> Reply {
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.id, c.secret))
    );
    post_form(
        &as_url(gw, "/oauth2/token"),
        Some(&basic),
        &format!("grant_type=refresh_token&refresh_token={}", enc(token)),
    )
    .await
}

async fn fresh_code(gw: &TestGateway, c: &Client, scope: &str) -> String {
    let q = front_channel(
        gw,
        &authorize_url(
            gw,
            c,
            REDIRECT,
            &format!("{}&scope={}&nonce=n-123", pkce_params(), enc(scope)),
        ),
    )
    .await;
    q["code"].clone()
}

fn claims_of(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn code_flow_with_pkce_id_token_userinfo_and_refresh_rotation() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;

    let q = front_channel(
        &gw,
        &authorize_url(
            &gw,
            &c,
            REDIRECT,
            &format!(
                "{}&scope=openid+email+orders.read&nonce=n-123",
                pkce_params()
            ),
        ),
    )
    .await;
    assert_eq!(q["state"], "st-1");
    assert_eq!(
        q["iss"], ISSUER,
        "RFC 9207 iss in the authorization response"
    );
    assert!(q["code"].starts_with("pcc_"));

    let r = exchange(&gw, &c, &q["code"], Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["scope"], "openid email orders.read");
    let id = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-123");
    assert_eq!(id["aud"], c.id.as_str());
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["email"], "ann@example.com");
    assert!(id.get("name").is_none(), "profile scope not granted");
    assert!(id.get("secret_note").is_none());
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert!(!sub.starts_with("usr_"), "pairwise, not the local id");

    let access = body["access_token"].as_str().unwrap().to_owned();
    let ok = get(
        &gw.url("/orders/1"),
        &[("authorization", &format!("Bearer {access}"))],
    )
    .await;
    assert_eq!(ok.status, 200);
    let info = get(
        &as_url(&gw, "/oauth2/userinfo"),
        &[("authorization", &format!("Bearer {access}"))],
    )
    .await;
    assert_eq!(info.status, 200);
    assert_eq!(
        info.json(),
        serde_json::json!({"sub": sub, "email": "ann@example.com"})
    );
    // An ID token is not an access token.
    let idt = format!("Bearer {}", body["id_token"].as_str().unwrap());
    assert_eq!(
        get(&gw.url("/orders/1"), &[("authorization", &idt)])
            .await
            .status,
        401
    );

    // Refresh rotates; the old refresh token is then a replay that revokes the family.
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh(&gw, &c, &r1).await;
    assert_eq!(
        second.status,
        200,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    let r2 = second.json()["refresh_token"].as_str().unwrap().to_owned();
    let a2 = second.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(
        get(
            &gw.url("/orders/1"),
            &[("authorization", &format!("Bearer {a2}"))]
        )
        .await
        .status,
        200
    );
    let replay = refresh(&gw, &c, &r1).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(
        refresh(&gw, &c, &r2).await.json()["error"],
        "invalid_grant",
        "family revoked"
    );
    let after = get(
        &gw.url("/orders/1"),
        &[("authorization", &format!("Bearer {a2}"))],
    )
    .await;
    assert_eq!(
        after.status, 401,
        "tokens of a replayed family stop at the gateway"
    );
}

#[tokio::test]
async fn redirect_uri_variants_are_refused_without_redirecting() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    for variant in [
        "https://client.example/cb/",
        "https://CLIENT.example/cb",
        "https://client.example/CB",
        "https://client.example/cb/extra",
        "https://client.example/cb?x=1",
        "https://client.example/cb#frag",
        "https://user@client.example/cb",
        "https://client.example:444/cb",
        "http://client.example/cb",
        "https://client.example.evil.com/cb",
    ] {
        let r = get(&authorize_url(&gw, &c, variant, &pkce_params()), &[]).await;
        assert_eq!(r.status, 400, "{variant}");
        assert!(
            r.header("location").is_none(),
            "{variant} must not be redirected to"
        );
    }
    // Unknown client: no redirect either.
    let bogus = Client {
        id: "pcl_nobody".into(),
        secret: String::new(),
    };
    let r = get(&authorize_url(&gw, &bogus, REDIRECT, &pkce_params()), &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
}

#[tokio::test]
async fn pkce_is_required_and_checked() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    for extra in [
        String::new(),
        format!("&code_challenge={}", challenge(VERIFIER)),
        format!("&code_challenge={VERIFIER}&code_challenge_method=plain"),
    ] {
        let r = get(&authorize_url(&gw, &c, REDIRECT, &extra), &[]).await;
        assert_eq!(r.status, 303, "{extra}");
        let q = query_of(r.header("location").unwrap());
        assert_eq!(q["error"], "invalid_request", "{extra}");
        assert_eq!(q["state"], "st-1");
        assert_eq!(q["iss"], ISSUER);
    }
    let r = get(
        &authorize_url(
            &gw,
            &c,
            REDIRECT,
            "&code_challenge=x&code_challenge_method=S256&response_type=token",
        ),
        &[],
    )
    .await;
    assert!(r.status == 303 || r.status == 400, "implicit is refused");

    let code = fresh_code(&gw, &c, "orders.read").await;
    let r = exchange(&gw, &c, &code, None).await;
    assert_eq!(r.json()["error"], "invalid_request", "missing verifier");
    let code = fresh_code(&gw, &c, "orders.read").await;
    let wrong = "b-verifier-of-at-least-forty-three-characters-0123456789";
    assert_eq!(
        exchange(&gw, &c, &code, Some(wrong)).await.json()["error"],
        "invalid_grant"
    );
    // The wrong attempt spent the code.
    assert_eq!(
        exchange(&gw, &c, &code, Some(VERIFIER)).await.json()["error"],
        "invalid_grant"
    );
    // A scope the client lacks is refused at the authorization endpoint.
    let r = get(
        &authorize_url(&gw, &c, REDIRECT, &format!("{}&scope=admin", pkce_params())),
        &[],
    )
    .await;
    assert_eq!(
        query_of(r.header("location").unwrap())["error"],
        "invalid_scope"
    );
}

#[tokio::test]
async fn code_reuse_revokes_the_tokens_issued_from_it() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    let code = fresh_code(&gw, &c, "orders.read").await;
    let first = exchange(&gw, &c, &code, Some(VERIFIER)).await.json();
    let access = first["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    assert_eq!(
        get(&gw.url("/orders/1"), &[("authorization", &bearer)])
            .await
            .status,
        200
    );
    let again = exchange(&gw, &c, &code, Some(VERIFIER)).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    assert_eq!(
        get(&gw.url("/orders/1"), &[("authorization", &bearer)])
            .await
            .status,
        401
    );
    let r = refresh(&gw, &c, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn twenty_parallel_refreshes_yield_exactly_one_success() {
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = std::sync::Arc::new(provision(&gw).await);
    let code = fresh_code(&gw, &c, "orders.read").await;
    let rt = exchange(&gw, &c, &code, Some(VERIFIER)).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let gw = std::sync::Arc::new(gw);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (gw, c, rt) = (gw.clone(), c.clone(), rt.clone());
        tasks.push(tokio::spawn(
            async move { refresh(&gw, &c, &rt).await.status },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn authlib_runs_the_code_flow_with_pkce() {
    let Some(python) = interop_python("authlib, requests, jwt, jwcrypto").await else {
        return;
    };
    let up = Recorder::start("orders").await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let c = provision(&gw).await;
    run_interop_script(
        &python,
        "oauth_authorization_code.py",
        &[
            ("AS_BASE", &as_url(&gw, "")),
            ("ISSUER", ISSUER),
            ("CLIENT_ID", &*c.id),
            ("CLIENT_SECRET", &*c.secret),
            ("REDIRECT_URI", REDIRECT),
            ("GATEWAY", &gw.url("/orders/1")),
        ],
    )
    .await;
    let _ = gw.store().await.get_oauth_user("ann").await.unwrap();
}
