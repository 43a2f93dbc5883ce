//! RFC 8705 mutual TLS end to end, over real TLS with rcgen certificates: `tls_client_auth` at
//! the built-in authorization server (subject DN and SAN registrations, wrong CA / DN / no
//! certificate / secret refused), certificate-bound access tokens (`cnf.x5t#S256` in opaque
//! token introspection and in JWT access tokens, also for secret-authenticated clients that
//! present a certificate), discovery metadata, and `verify-oauth-token` at a mutual-TLS gateway
//! listener: the bound token works only with the same certificate (not with another one,
//! without one, or over plain HTTP). Also: config errors of `authorization_server.tls.client_ca`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use portcullis_store::{
    Actor, AppSpec, Attributes, CatalogRepository, CredentialSpec, DeveloperSpec, OAuthRepository,
};
use portcullis_test_support::mtls::{ClientIdentity, TestCa, TestCert, send_tls};
use portcullis_test_support::oauth::{OAuthClient, oauth_product};
use portcullis_test_support::{Recorder, Reply, TestGateway, get};

const REDIRECT: &str = "https://client.example/cb";

struct Pki {
    dir: tempfile::TempDir,
    server_ca: TestCa,
    client_ca: TestCa,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    server_ca.server_cert().write(dir.path(), "server");
    client_ca.write(dir.path(), "clients.pem");
    Pki {
        dir,
        server_ca,
        client_ca,
    }
}

fn config(p: &Pki, upstream: &str) -> String {
    let d = p.dir.path().display();
    format!(
        r#"
listeners:
  - {{ name: mtls, address: "127.0.0.1:0", tls: {{ cert: "{d}/server.crt", key: "{d}/server.key", client_ca: "{d}/clients.pem" }} }}
  - {{ name: plain, address: "127.0.0.1:0" }}
authorization_server:
  address: "127.0.0.1:0"
  issuer: "https://localhost:1"
  tls: {{ cert: "{d}/server.crt", key: "{d}/server.key", client_ca: "{d}/clients.pem" }}
  signing: {{ algorithm: ES256 }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{}} }} ]
"#
    )
}

/// An app with `attributes` and a credential approved for `product`.
async fn client(
    gw: &TestGateway,
    name: &str,
    product: &str,
    attrs: &[(&str, &str)],
) -> OAuthClient {
    let store = gw.store().await;
    let actor = Actor::system();
    let attributes: Attributes = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let app = store
        .create_app(
            &actor,
            "dev@example.com",
            &AppSpec {
                name: name.into(),
                callback_urls: vec![REDIRECT.into()],
                attributes,
            },
        )
        .await
        .unwrap();
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec![product.into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    OAuthClient {
        id: issued.consumer_key.expose().to_owned(),
        secret: issued.consumer_secret.expose().to_owned(),
    }
}

async fn catalog(gw: &TestGateway) {
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
    for (name, format) in [("orders", "opaque"), ("orders-jwt", "jwt")] {
        store
            .create_product(&actor, name, &oauth_product(&["orders.read"], Some(format)))
            .await
            .unwrap();
    }
}

fn form(path: &str, body: &str, basic: Option<&OAuthClient>) -> Request<Full<Bytes>> {
    let mut b = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = basic {
        b = b.header("authorization", c.basic());
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

fn bearer(token: &str) -> Request<Full<Bytes>> {
    Request::get("/orders/1")
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn as_addr(gw: &TestGateway) -> std::net::SocketAddr {
    gw.running
        .authorization_server
        .expect("authorization server")
}

/// `client_credentials` with `tls_client_auth` (client_id only) and `cert`.
async fn mtls_token(gw: &TestGateway, p: &Pki, c: &OAuthClient, cert: Option<&TestCert>) -> Reply {
    let body = format!("grant_type=client_credentials&client_id={}", c.id);
    send_tls(
        as_addr(gw),
        &p.server_ca,
        cert,
        form("/oauth2/token", &body, None),
    )
    .await
    .unwrap()
}

fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn identity(subject: &[(&'static str, &str)], dns: &[&str]) -> ClientIdentity {
    ClientIdentity {
        subject: subject.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        dns: dns.iter().map(|d| (*d).to_owned()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn tls_client_auth_and_certificate_bound_tokens_end_to_end() {
    let up = Recorder::start("up").await;
    let p = pki();
    let gw = TestGateway::start(&config(&p, &up.url())).await;
    catalog(&gw).await;
    let dn_client = client(
        &gw,
        "payments",
        "orders",
        &[
            ("token_endpoint_auth_method", "tls_client_auth"),
            ("tls_client_auth_subject_dn", "CN=payments,O=Example,C=DE"),
        ],
    )
    .await;
    let san_client = client(
        &gw,
        "billing",
        "orders-jwt",
        &[
            ("token_endpoint_auth_method", "tls_client_auth"),
            ("tls_client_auth_san_dns", "billing.example.com"),
        ],
    )
    .await;
    let secret_client = client(&gw, "shop", "orders", &[]).await;
    let payments = p.client_ca.client_cert(&identity(
        &[("C", "DE"), ("O", "Example"), ("CN", "payments")],
        &[],
    ));
    let billing = p
        .client_ca
        .client_cert(&identity(&[("CN", "billing")], &["billing.example.com"]));
    let wrong_dn = p.client_ca.client_cert(&identity(
        &[("C", "DE"), ("O", "Example"), ("CN", "payment")],
        &[],
    ));
    let foreign = TestCa::new("foreign CA").client_cert(&identity(
        &[("C", "DE"), ("O", "Example"), ("CN", "payments")],
        &[],
    ));

    // Discovery advertises the method and bound tokens.
    let meta = send_tls(
        as_addr(&gw),
        &p.server_ca,
        None,
        Request::get("/.well-known/oauth-authorization-server")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap()
    .json();
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
    for list in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        let methods = meta[list].as_array().unwrap();
        assert!(methods.iter().any(|m| m == "tls_client_auth"), "{list}");
    }

    // tls_client_auth by subject DN: an opaque token bound to the certificate.
    let r = mtls_token(&gw, &p, &dn_client, Some(&payments)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let opaque = r.json()["access_token"].as_str().unwrap().to_owned();
    let introspected = send_tls(
        as_addr(&gw),
        &p.server_ca,
        Some(&payments),
        form(
            "/oauth2/introspect",
            &format!("client_id={}&token={opaque}", dn_client.id),
            None,
        ),
    )
    .await
    .unwrap()
    .json();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["cnf"]["x5t#S256"], payments.thumbprint());

    // Refusals: no certificate, the wrong subject, the secret of a tls_client_auth client,
    // and a certificate of a CA the server does not trust (the handshake fails).
    for cert in [None, Some(&wrong_dn)] {
        let r = mtls_token(&gw, &p, &dn_client, cert).await;
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["error"], "invalid_client");
    }
    let r = send_tls(
        as_addr(&gw),
        &p.server_ca,
        Some(&payments),
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&dn_client),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(
        mtls_token_result(&gw, &p, &dn_client, &foreign)
            .await
            .is_err()
    );
    // A client not registered for tls_client_auth cannot use it, even with a valid certificate.
    let r = mtls_token(&gw, &p, &secret_client, Some(&payments)).await;
    assert_eq!(r.status, 401);

    // tls_client_auth by DNS SAN, JWT access token with the cnf claim.
    let r = mtls_token(&gw, &p, &san_client, Some(&payments)).await;
    assert_eq!(r.status, 401, "another client's certificate");
    let r = mtls_token(&gw, &p, &san_client, Some(&billing)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let jwt = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&jwt)["cnf"]["x5t#S256"], billing.thumbprint());

    // A secret client that presents a certificate gets a bound token; without one, an
    // unbound token.
    let r = send_tls(
        as_addr(&gw),
        &p.server_ca,
        Some(&billing),
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&secret_client),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let secret_bound = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = send_tls(
        as_addr(&gw),
        &p.server_ca,
        None,
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&secret_client),
        ),
    )
    .await
    .unwrap();
    let unbound = r.json()["access_token"].as_str().unwrap().to_owned();
    let introspected = send_tls(
        as_addr(&gw),
        &p.server_ca,
        None,
        form(
            "/oauth2/introspect",
            &format!("token={unbound}"),
            Some(&secret_client),
        ),
    )
    .await
    .unwrap()
    .json();
    assert_eq!(introspected["active"], true);
    assert!(introspected.get("cnf").is_none(), "{introspected}");

    // At the gateway: a bound token needs its own certificate on the mutual-TLS listener.
    let gw_addr = gw.addr();
    let plain = gw.running.listeners[1].1;
    let other = p
        .client_ca
        .client_cert(&identity(&[("CN", "someone")], &[]));
    for (token, holder) in [
        (&opaque, &payments),
        (&jwt, &billing),
        (&secret_bound, &billing),
    ] {
        let ok = send_tls(gw_addr, &p.server_ca, Some(holder), bearer(token))
            .await
            .unwrap();
        assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
        for cert in [Some(&other), None] {
            let r = send_tls(gw_addr, &p.server_ca, cert, bearer(token))
                .await
                .unwrap();
            assert_refused(&r);
        }
        let auth = format!("Bearer {token}");
        let r = get(
            &format!("http://{plain}/orders/1"),
            &[("authorization", auth.as_str())],
        )
        .await;
        assert_refused(&r);
    }
    // An unbound token works with or without a certificate, over TLS or not.
    let r = send_tls(gw_addr, &p.server_ca, Some(&other), bearer(&unbound))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let auth = format!("Bearer {unbound}");
    let r = get(
        &format!("http://{plain}/orders/1"),
        &[("authorization", auth.as_str())],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.count(), 5);
    gw.stop().await;
}

async fn mtls_token_result(
    gw: &TestGateway,
    p: &Pki,
    c: &OAuthClient,
    cert: &TestCert,
) -> Result<Reply, String> {
    let body = format!("grant_type=client_credentials&client_id={}", c.id);
    send_tls(
        as_addr(gw),
        &p.server_ca,
        Some(cert),
        form("/oauth2/token", &body, None),
    )
    .await
}

fn assert_refused(r: &Reply) {
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["code"], "token.invalid", "{body}");
    assert_eq!(body["reason"], "certificate_mismatch", "{body}");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn authorization_server_client_ca_errors_name_the_field() {
    let p = pki();
    let yaml = config(&p, "http://127.0.0.1:9");
    let d = p.dir.path().display().to_string();
    std::fs::write(p.dir.path().join("junk.pem"), STANDARD.encode("junk")).unwrap();
    for (file, want) in [
        ("missing.pem", "cannot read CA bundle"),
        ("junk.pem", "no PEM certificate"),
    ] {
        // Only the authorization server's bundle is broken (its line is the second client_ca).
        let (head, tail) = yaml.rsplit_once(&format!("{d}/clients.pem")).unwrap();
        let broken = format!("{head}{d}/{file}{tail}");
        let err = TestGateway::start_with(&broken, None).await.err().unwrap();
        assert!(err.contains("authorization_server.tls.client_ca"), "{err}");
        assert!(err.contains(want), "{err}");
    }
}

/// An RFC 7662 endpoint of "another" authorization server that says every token is active
/// and bound to `x5t` (a real HTTP server on an ephemeral port).
async fn bound_introspection_endpoint(x5t: String) -> std::net::SocketAddr {
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let x5t = x5t.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let exp = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        + 300;
                    let body = serde_json::json!({
                        "active": true, "client_id": "partner", "scope": "orders.read",
                        "exp": exp, "cnf": {"x5t#S256": x5t.clone()},
                    });
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn introspected_tokens_with_cnf_are_bound_too() {
    let up = Recorder::start("up").await;
    let p = pki();
    let holder = p
        .client_ca
        .client_cert(&identity(&[("CN", "partner")], &[]));
    let other = p.client_ca.client_cert(&identity(&[("CN", "other")], &[]));
    let introspection = bound_introspection_endpoint(holder.thumbprint()).await;
    let d = p.dir.path().display();
    std::fs::write(p.dir.path().join("secret.txt"), "s3cret").unwrap();
    let yaml = format!(
        r#"
listeners:
  - {{ name: mtls, address: "127.0.0.1:0", tls: {{ cert: "{d}/server.crt", key: "{d}/server.key", client_ca: "{d}/clients.pem" }} }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{}"] }}
    policies:
      request:
        - verify-oauth-token:
            introspection: {{ url: "http://{introspection}/introspect", client_id: gw, client_secret_file: "{d}/secret.txt" }}
"#,
        up.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let ok = send_tls(
        gw.addr(),
        &p.server_ca,
        Some(&holder),
        bearer("opaque-partner-token"),
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    for cert in [Some(&other), None] {
        let r = send_tls(
            gw.addr(),
            &p.server_ca,
            cert,
            bearer("opaque-partner-token"),
        )
        .await
        .unwrap();
        assert_refused(&r);
    }
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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

/// The `cnf.x5t#S256` of an access token, by introspection (`None`: unbound).
async fn bound_to(gw: &TestGateway, p: &Pki, c: &OAuthClient, token: &str) -> Option<String> {
    let r = send_tls(
        as_addr(gw),
        &p.server_ca,
        None,
        form("/oauth2/introspect", &format!("token={token}"), Some(c)),
    )
    .await
    .unwrap()
    .json();
    assert_eq!(r["active"], true, "{r}");
    r["cnf"]["x5t#S256"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn code_and_refresh_grants_bind_to_the_certificate_of_each_token_request() {
    use sha2::Digest;
    let up = Recorder::start("up").await;
    let p = pki();
    let gw = TestGateway::start(&config(&p, &up.url())).await;
    catalog(&gw).await;
    let c = client(&gw, "shop", "orders", &[]).await;
    let store = gw.store().await;
    store
        .create_oauth_user(
            &Actor::system(),
            "ann",
            "correct horse battery",
            &serde_json::Map::new(),
        )
        .await
        .unwrap();
    let first = p.client_ca.client_cert(&identity(&[("CN", "first")], &[]));
    let second = p.client_ca.client_cert(&identity(&[("CN", "second")], &[]));
    let tls = |req| send_tls(as_addr(&gw), &p.server_ca, None, req);
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let page = tls(Request::get(format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&state=s&scope=orders.read&code_challenge={challenge}&code_challenge_method=S256",
        enc(&c.id),
        enc(REDIRECT)
    ))
    .header("host", "localhost")
    .body(Full::new(Bytes::new()))
    .unwrap())
    .await
    .unwrap();
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    let consent = tls(form(
        "/oauth2/authorize",
        &format!(
            "step=login&ticket={}&username=ann&password={}",
            enc(&hidden(&page, "ticket")),
            enc("correct horse battery")
        ),
        None,
    ))
    .await
    .unwrap();
    assert_eq!(
        consent.status,
        200,
        "{}",
        String::from_utf8_lossy(&consent.body)
    );
    let done = tls(form(
        "/oauth2/authorize",
        &format!(
            "step=consent&ticket={}&decision=approve",
            enc(&hidden(&consent, "ticket"))
        ),
        None,
    ))
    .await
    .unwrap();
    assert_eq!(done.status, 303);
    let location = done.header("location").unwrap();
    let code = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    // The code exchange with the first certificate binds to it.
    let r = send_tls(
        as_addr(&gw),
        &p.server_ca,
        Some(&first),
        form(
            "/oauth2/token",
            &format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
                enc(&code),
                enc(REDIRECT)
            ),
            Some(&c),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        bound_to(&gw, &p, &c, &access).await,
        Some(first.thumbprint())
    );
    let mut refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // Each refresh binds the new access token to the certificate of that refresh request.
    for (cert, want) in [(Some(&second), Some(second.thumbprint())), (None, None)] {
        let r = send_tls(
            as_addr(&gw),
            &p.server_ca,
            cert,
            form(
                "/oauth2/token",
                &format!("grant_type=refresh_token&refresh_token={}", enc(&refresh)),
                Some(&c),
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(bound_to(&gw, &p, &c, access).await, want);
        refresh = body["refresh_token"].as_str().unwrap().to_owned();
    }
    gw.stop().await;
}
