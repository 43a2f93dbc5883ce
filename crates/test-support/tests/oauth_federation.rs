//! Login federation end to end. The upstream OpenID provider is a second Portcullis
//! authorization server (in process, its own SQLite store, issuer and built-in user), where our
//! server is registered as a client whose callback URL is our federation callback. A cookie-less
//! HTTP "browser" follows the redirects and posts both servers' login and consent forms, and the
//! flow ends with tokens from our server whose ID token carries the mapped claims. The forged
//! cases (nonce, issuer, audience, expiry, algorithm, azp) use a small provider of our own that
//! serves discovery, a JWKS and a token endpoint returning crafted ID tokens.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::routing::{get as route_get, post as route_post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use parking_lot::Mutex;
use portcullis_jose::{Algorithm, Signer, jwk_set};
use portcullis_oauth::{AuthorizationServer, LocalTokens, Settings};
use portcullis_store::{Actor, Keyring, OAuthRepository, ProductSpec, SqliteStore};
use portcullis_test_support::forge::{header_of, signed};
use portcullis_test_support::oauth::{OAuthClient, as_url, oauth_product, register_client};
use portcullis_test_support::{Reply, TestGateway, get, refused_address, request, test_keyring};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Our server's issuer. The test "browser" maps it to the real address.
const ISSUER: &str = "http://127.0.0.1:1";
const CALLBACK: &str = "http://127.0.0.1:1/oauth2/federation/callback";
const REDIRECT: &str = "https://client.example/cb";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";
const PASSWORD: &str = "correct horse battery";

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn query_of(location: &str) -> HashMap<String, String> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn hidden(page: &Reply, name: &str) -> String {
    let body = text(page);
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    let end = start + body[start..].find('"').unwrap();
    body[start..end].replace("&amp;", "&")
}

async fn post_form(url: &str, body: &str) -> Reply {
    request(
        Method::POST,
        url,
        &[("content-type", "application/x-www-form-urlencoded")],
        body.to_owned(),
    )
    .await
}

fn claims_of(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The product every client here is approved for.
fn orders_product() -> [(&'static str, ProductSpec); 1] {
    [("orders", oauth_product(&["orders.read"], None))]
}

/// A second Portcullis authorization server: the upstream OpenID provider.
struct UpstreamOp {
    issuer: String,
    client: OAuthClient,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl UpstreamOp {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let keyring = Arc::new(Keyring::from_master(&[0x17; 32]));
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("upstream.db"), keyring.clone())
                .await
                .unwrap(),
        );
        let client = register_client(&*store, &[CALLBACK], &orders_product()).await;
        let claims = json!({"email": "ann@upstream.example", "email_verified": true,
            "name": "Ann Upstream"});
        store
            .create_oauth_user(
                &Actor::system(),
                "ann",
                PASSWORD,
                claims.as_object().unwrap(),
            )
            .await
            .unwrap();
        let tokens = Arc::new(LocalTokens::new(1000, Duration::from_secs(30)));
        let server = AuthorizationServer::new(
            Settings::new(addr, issuer.clone()),
            store.clone() as Arc<dyn OAuthRepository>,
            keyring,
            tokens,
        )
        .await
        .unwrap();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(portcullis_oauth::serve(
            listener,
            server.router(),
            None,
            stopped,
        ));
        Self {
            issuer,
            client,
            _stop: stop,
            _dir: dir,
        }
    }
}

/// Our gateway with the `providers` YAML list items; secrets in files beside the config.
async fn our_gateway(login: &str, secrets: &[(&str, &str)]) -> (TestGateway, OAuthClient) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "portcullis-federation-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut login = login.to_owned();
    for (name, secret) in secrets {
        let file = dir.join(format!("{name}.secret"));
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        login = login.replace(&format!("@{name}@"), &file.display().to_string());
    }
    let gw = TestGateway::start(&format!(
        "listeners: [ {{ name: public, address: \"127.0.0.1:0\" }} ]\n\
         authorization_server:\n  address: \"127.0.0.1:0\"\n  issuer: \"{ISSUER}\"\n  login:\n{login}\n\
         apis: []\n"
    ))
    .await;
    let store = gw.store().await;
    let client = register_client(&store, &[REDIRECT], &orders_product()).await;
    (gw, client)
}

/// Maps our fixed issuer to the gateway's real authorization server address.
fn browser_url(gw: &TestGateway, url: &str) -> String {
    match url.strip_prefix(ISSUER) {
        Some(path) => as_url(gw, path),
        None => url.to_owned(),
    }
}

fn authorize_url(gw: &TestGateway, c: &OAuthClient) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    as_url(
        gw,
        &format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&state=st-1\
             &scope=openid+email+profile+orders.read&nonce=client-nonce\
             &code_challenge={challenge}&code_challenge_method=S256",
            enc(&c.id),
            enc(REDIRECT)
        ),
    )
}

/// Opens our login page and presses "Sign in with <provider>": the redirect to the provider.
async fn leave_for(gw: &TestGateway, c: &OAuthClient, provider: &str) -> Reply {
    let page = get(&authorize_url(gw, c), &[]).await;
    assert_eq!(page.status, 200, "{}", text(&page));
    post_form(
        &as_url(gw, "/oauth2/authorize"),
        &format!(
            "step=federate&ticket={}&provider={provider}",
            enc(&hidden(&page, "ticket"))
        ),
    )
    .await
}

/// At the upstream provider: its login form, then its consent page with `decision`. Returns
/// the redirect back to our callback.
async fn upstream_login(op: &UpstreamOp, authorize: &str, decision: &str) -> String {
    assert!(authorize.starts_with(&op.issuer), "{authorize}");
    let page = get(authorize, &[]).await;
    assert_eq!(page.status, 200, "{}", text(&page));
    let consent = post_form(
        &format!("{}/oauth2/authorize", op.issuer),
        &format!(
            "step=login&ticket={}&username=ann&password={}",
            enc(&hidden(&page, "ticket")),
            enc(PASSWORD)
        ),
    )
    .await;
    assert_eq!(consent.status, 200, "{}", text(&consent));
    let done = post_form(
        &format!("{}/oauth2/authorize", op.issuer),
        &format!(
            "step=consent&ticket={}&decision={decision}",
            enc(&hidden(&consent, "ticket"))
        ),
    )
    .await;
    assert_eq!(done.status, 303, "{}", text(&done));
    let back = done.header("location").unwrap().to_owned();
    assert!(back.starts_with(CALLBACK), "{back}");
    back
}

/// Our consent page → approve → the client's redirect query.
async fn approve_here(gw: &TestGateway, consent: &Reply) -> HashMap<String, String> {
    let done = post_form(
        &as_url(gw, "/oauth2/authorize"),
        &format!(
            "step=consent&ticket={}&decision=approve",
            enc(&hidden(consent, "ticket"))
        ),
    )
    .await;
    assert_eq!(done.status, 303, "{}", text(&done));
    let location = done.header("location").unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    query_of(location)
}

async fn exchange(gw: &TestGateway, c: &OAuthClient, code: &str) -> Value {
    let r = portcullis_test_support::oauth::post_form(
        &as_url(gw, "/oauth2/token"),
        c,
        &format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
            enc(code),
            enc(REDIRECT)
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()
}

/// Asserts an error redirect to the client (with our `state` and `iss`) and no code.
fn assert_client_error(r: &Reply, error: &str) {
    assert_eq!(r.status, 303, "{}", text(r));
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let q = query_of(location);
    assert_eq!(q["error"], error, "{location}");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], ISSUER);
    assert!(!q.contains_key("code"));
}

async fn upstream_login_yaml(op: &UpstreamOp) -> String {
    format!(
        "    providers:\n\
         \x20     - name: upstream\n        display_name: \"Upstream <IdP>\"\n\
         \x20       issuer: \"{}\"\n        client_id: \"{}\"\n        client_secret_file: \"@upstream@\"\n\
         \x20       claims: {{ email: email, email_verified: email_verified, name: name }}\n\
         \x20     - {{ name: down, issuer: \"http://{}\", client_id: x, client_secret_file: \"@upstream@\" }}\n",
        op.issuer,
        op.client.id,
        refused_address().await
    )
}

#[tokio::test]
async fn federated_login_through_a_second_portcullis_ends_with_our_tokens_and_mapped_claims() {
    let op = UpstreamOp::start().await;
    let (gw, c) = our_gateway(
        &upstream_login_yaml(&op).await,
        &[("upstream", &op.client.secret)],
    )
    .await;

    // Our login page offers the password form and both providers (escaped).
    let page = get(&authorize_url(&gw, &c), &[]).await;
    let body = text(&page);
    assert!(body.contains("name=\"password\""), "{body}");
    assert!(body.contains("Sign in with Upstream &lt;IdP&gt;"), "{body}");
    assert!(body.contains("value=\"down\""), "{body}");

    let leave = leave_for(&gw, &c, "upstream").await;
    assert_eq!(leave.status, 303, "{}", text(&leave));
    let to_upstream = leave.header("location").unwrap().to_owned();
    let q = query_of(&to_upstream);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], op.client.id);
    assert_eq!(q["redirect_uri"], CALLBACK);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["nonce"].len() >= 16 && q["code_challenge"].len() == 43);
    assert!(!q["state"].is_empty());

    let back = upstream_login(&op, &to_upstream, "approve").await;
    let bq = query_of(&back);
    assert_eq!(bq["iss"], op.issuer, "upstream sends RFC 9207 iss");
    let consent = get(&browser_url(&gw, &back), &[]).await;
    assert_eq!(consent.status, 200, "{}", text(&consent));
    assert!(
        text(&consent).contains("ann@upstream.example"),
        "{}",
        text(&consent)
    );

    // Replaying the provider's answer fails: its code is spent at the provider.
    let replay = get(&browser_url(&gw, &back), &[]).await;
    assert_client_error(&replay, "server_error");

    let done = approve_here(&gw, &consent).await;
    assert_eq!(done["state"], "st-1");
    let tokens = exchange(&gw, &c, &done["code"]).await;
    let id = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["aud"], c.id.as_str());
    assert_eq!(id["nonce"], "client-nonce");
    assert_eq!(id["email"], "ann@upstream.example");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Ann Upstream");
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert!(!sub.starts_with("usr_"));
    let info = get(
        &as_url(&gw, "/oauth2/userinfo"),
        &[(
            "authorization",
            &format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )],
    )
    .await;
    assert_eq!(info.status, 200, "{}", text(&info));
    assert_eq!(info.json()["email"], "ann@upstream.example");
    assert_eq!(info.json()["sub"], sub.as_str());

    // A second federated login is the same local user (same pairwise sub).
    let leave = leave_for(&gw, &c, "upstream").await;
    let back = upstream_login(&op, leave.header("location").unwrap(), "approve").await;
    let consent = get(&browser_url(&gw, &back), &[]).await;
    let done = approve_here(&gw, &consent).await;
    let again = claims_of(
        exchange(&gw, &c, &done["code"]).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(again["sub"], sub.as_str());

    // The user denies at the upstream consent page: access_denied to the client.
    let leave = leave_for(&gw, &c, "upstream").await;
    let back = upstream_login(&op, leave.header("location").unwrap(), "deny").await;
    assert_eq!(query_of(&back)["error"], "access_denied");
    assert_client_error(&get(&browser_url(&gw, &back), &[]).await, "access_denied");

    // A tampered state is an error page, never a redirect.
    let leave = leave_for(&gw, &c, "upstream").await;
    let back = upstream_login(&op, leave.header("location").unwrap(), "approve").await;
    let state = query_of(&back)["state"].clone();
    let (payload, mac) = state.split_once('.').unwrap();
    let mut flipped = payload.as_bytes().to_vec();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{mac}", String::from_utf8(flipped).unwrap());
    let code = &query_of(&back)["code"];
    let r = get(
        &as_url(
            &gw,
            &format!(
                "/oauth2/federation/callback?code={}&state={}&iss={}",
                enc(code),
                enc(&tampered),
                enc(&op.issuer)
            ),
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(r.header("location").is_none());

    // An expired state (sealed with the server's key, everything else intact) is refused too.
    let r = get(
        &as_url(
            &gw,
            &format!(
                "/oauth2/federation/callback?code={}&state={}&iss={}",
                enc(code),
                enc(&expired(&state)),
                enc(&op.issuer)
            ),
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("expired"));

    // A response claiming another issuer (mix-up, RFC 9207) is refused.
    let r = get(
        &as_url(
            &gw,
            &format!(
                "/oauth2/federation/callback?code={}&state={}&iss={}",
                enc(code),
                enc(&state),
                enc("https://evil.example")
            ),
        ),
        &[],
    )
    .await;
    assert_client_error(&r, "server_error");

    // The unreachable provider: the login page again, with a message, and no redirect.
    let r = leave_for(&gw, &c, "down").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert!(text(&r).contains("cannot be reached"), "{}", text(&r));
    assert!(r.header("location").is_none());
    // An unknown provider name is an error page.
    let r = leave_for(&gw, &c, "nobody").await;
    assert_eq!(r.status, 400);
}

/// `state` re-sealed with an expiry in the past (the ticket format of crates/oauth/src/ticket.rs,
/// MAC'd with the test gateways' master key).
fn expired(state: &str) -> String {
    let (payload, _) = state.split_once('.').unwrap();
    let mut env: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    env["exp"] = json!(now() - 1);
    let payload = URL_SAFE_NO_PAD.encode(env.to_string());
    let mac =
        test_keyring().hash_credential(&format!("portcullis/ticket\x00federation\x00{payload}"));
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.as_bytes()))
}

#[tokio::test]
async fn without_local_users_only_the_providers_are_offered() {
    let op = UpstreamOp::start().await;
    let yaml = format!("    local_users: false\n{}", upstream_login_yaml(&op).await);
    let (gw, c) = our_gateway(&yaml, &[("upstream", &op.client.secret)]).await;
    let page = get(&authorize_url(&gw, &c), &[]).await;
    assert_eq!(page.status, 200);
    let body = text(&page);
    assert!(!body.contains("name=\"password\""), "{body}");
    assert!(body.contains("Sign in with Upstream &lt;IdP&gt;"), "{body}");
    let r = post_form(
        &as_url(&gw, "/oauth2/authorize"),
        &format!(
            "step=login&ticket={}&username=ann&password={}",
            enc(&hidden(&page, "ticket")),
            enc(PASSWORD)
        ),
    )
    .await;
    assert_eq!(r.status, 400, "password login refused: {}", text(&r));
}

/// A provider we control for the forged cases: discovery, JWKS (ES256 and RS256 keys) and a
/// token endpoint answering with whatever ID token the test sets.
struct ForgedOp {
    issuer: String,
    es: Signer,
    rs: Signer,
    answer: Arc<Mutex<Value>>,
}

impl ForgedOp {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let es = Signer::generate("es-1", Algorithm::ES256).unwrap();
        let rs = Signer::generate("rs-1", Algorithm::RS256).unwrap();
        let jwks = serde_json::to_value(jwk_set([&es, &rs])).unwrap();
        let answer = Arc::new(Mutex::new(json!({})));
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256"],
        });
        let token_answer = answer.clone();
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                route_get(move || {
                    let d = discovery.clone();
                    async move { Json(d) }
                }),
            )
            .route(
                "/jwks",
                route_get(move || {
                    let j = jwks.clone();
                    async move { Json(j) }
                }),
            )
            .route(
                "/token",
                route_post(move || {
                    let a = token_answer.lock().clone();
                    async move { Json(a) }
                }),
            );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer,
            es,
            rs,
            answer,
        }
    }

    fn answer_with(&self, id_token: &str) {
        *self.answer.lock() = json!({"access_token": "at", "token_type": "Bearer",
            "id_token": id_token});
    }
}

#[tokio::test]
async fn forged_id_tokens_are_refused() {
    let op = ForgedOp::start().await;
    let yaml = format!(
        "    providers:\n\
         \x20     - {{ name: forged, issuer: \"{}\", client_id: our-client, \
         client_secret_file: \"@forged@\", algorithms: [ES256] }}\n",
        op.issuer
    );
    let (gw, c) = our_gateway(&yaml, &[("forged", "forged-secret")]).await;

    // One flow per case: our redirect gives the state and nonce; the provider's token endpoint
    // answers with the crafted ID token; the callback is what the browser would call.
    let attempt = |claims: Value, signer: &'static str| {
        let gw = &gw;
        let c = &c;
        let op = &op;
        async move {
            let leave = leave_for(gw, c, "forged").await;
            assert_eq!(leave.status, 303, "{}", text(&leave));
            let q = query_of(leave.header("location").unwrap());
            let mut claims = claims;
            if claims["nonce"] == "<ours>" {
                claims["nonce"] = json!(q["nonce"]);
            }
            let key = if signer == "rs" { &op.rs } else { &op.es };
            op.answer_with(&signed(key, &header_of(key, "JWT"), &claims));
            get(
                &as_url(
                    gw,
                    &format!(
                        "/oauth2/federation/callback?code=c0de&state={}",
                        enc(&q["state"])
                    ),
                ),
                &[],
            )
            .await
        }
    };
    let t = now();
    let good = json!({"iss": op.issuer, "sub": "f-1", "aud": "our-client", "iat": t,
        "exp": t + 300, "nonce": "<ours>", "email": "f@forged.example"});
    let with = |patch: Value| {
        let mut v = good.clone();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        v
    };

    // The control: a correct token passes, so each refusal below is about its one change.
    let ok = attempt(good.clone(), "es").await;
    assert_eq!(ok.status, 200, "{}", text(&ok));
    assert!(text(&ok).contains("f@forged.example"));
    let ok = attempt(
        with(json!({"aud": ["our-client", "other"], "azp": "our-client"})),
        "es",
    )
    .await;
    assert_eq!(ok.status, 200, "several audiences with azp: {}", text(&ok));

    let cases = [
        ("nonce mismatch", with(json!({"nonce": "not-ours"})), "es"),
        ("nonce missing", with(json!({"nonce": null})), "es"),
        (
            "wrong issuer",
            with(json!({"iss": "https://evil.example"})),
            "es",
        ),
        ("wrong audience", with(json!({"aud": "someone-else"})), "es"),
        (
            "expired",
            with(json!({"iat": t - 900, "exp": t - 600})),
            "es",
        ),
        ("alg not allowed", good.clone(), "rs"),
        (
            "several audiences, no azp",
            with(json!({"aud": ["our-client", "other"]})),
            "es",
        ),
        ("azp of another client", with(json!({"azp": "other"})), "es"),
        ("no sub", with(json!({"sub": null})), "es"),
    ];
    let refused = cases.len();
    for (i, (case, mut claims, signer)) in cases.into_iter().enumerate() {
        if claims.get("sub").is_some() {
            claims["sub"] = json!(format!("bad-{i}"));
        }
        let r = attempt(claims, signer).await;
        assert_eq!(r.status, 303, "{case}: {}", text(&r));
        assert_client_error(&r, "server_error");
    }

    // A token endpoint without an ID token, and one answering an error.
    let leave = leave_for(&gw, &c, "forged").await;
    let q = query_of(leave.header("location").unwrap());
    *op.answer.lock() = json!({"error": "invalid_grant"});
    let r = get(
        &as_url(
            &gw,
            &format!(
                "/oauth2/federation/callback?code=c0de&state={}",
                enc(&q["state"])
            ),
        ),
        &[],
    )
    .await;
    assert_client_error(&r, "server_error");

    // Nothing half-done: the refused subjects were never linked to a local user.
    let store = gw.store().await;
    assert!(
        store.get_oauth_user("forged/f-1").await.is_ok(),
        "the control linked"
    );
    for i in 0..refused {
        assert!(
            store
                .get_oauth_user(&format!("forged/bad-{i}"))
                .await
                .is_err(),
            "case {i} linked a user"
        );
    }
}
