//! Every assertion rule, each against a real SQLite store with a real client whose app carries
//! the registered keys: one valid assertion passes, and each variation that breaks one rule is
//! `invalid_client`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jose::{Algorithm, Signer};
use portcullis_store::{
    Actor, AppSpec, Attributes, CatalogRepository, CredentialSpec, DeveloperSpec, Keyring,
    SqliteStore,
};
use serde_json::{Map, Value, json};

use super::*;

const ISSUER: &str = "https://as.example";
const TOKEN_ENDPOINT: &str = "https://as.example/oauth2/token";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    assertions: Assertions,
    client_id: String,
    signer: Signer,
}

async fn fixture_with(signer: Signer, extra: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Arc::new(Keyring::ephemeral());
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("t.db"), keyring.clone())
            .await
            .unwrap(),
    );
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
    let jwks = portcullis_jose::jwk_set([&signer]);
    let mut attributes = Attributes::new();
    attributes.insert("jwks".into(), serde_json::to_string(&jwks).unwrap());
    // private_key_jwt is opt-in per client.
    attributes.insert(
        "token_endpoint_auth_method".into(),
        "private_key_jwt".into(),
    );
    for (k, v) in extra {
        attributes.insert((*k).into(), (*v).into());
    }
    let app = store
        .create_app(
            &actor,
            "dev@example.com",
            &AppSpec {
                name: "svc".into(),
                callback_urls: vec![],
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
                products: vec![],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        assertions: Assertions::new(keyring, ISSUER, TOKEN_ENDPOINT),
        client_id: issued.consumer_key.expose().to_owned(),
        signer,
    }
}

async fn fixture() -> Fixture {
    fixture_with(Signer::generate("k1", Algorithm::ES256).unwrap(), &[]).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

static NEXT_JTI: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Valid claims for `client_id`, with a fresh jti.
fn claims(client_id: &str) -> Map<String, Value> {
    let n = NEXT_JTI.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": now(),
        "exp": now() + 60,
        "jti": format!("jti-{n}"),
    })
    .as_object()
    .unwrap()
    .clone()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Signs `claims` under `header` with `signer`'s key (whatever the header says).
fn sign_raw(signer: &Signer, header: &Value, claims: &Map<String, Value>) -> String {
    let input = format!("{}.{}", b64(header), b64(&Value::Object(claims.clone())));
    let sig = signer.sign_message(input.as_bytes()).unwrap();
    format!("{input}.{sig}")
}

fn sign(f: &Fixture, claims: &Map<String, Value>) -> String {
    let alg = portcullis_jose::alg_name_of(f.signer.alg());
    sign_raw(
        &f.signer,
        &json!({"alg": alg, "kid": f.signer.kid(), "typ": "JWT"}),
        claims,
    )
}

fn form(jwt: &str, client_id: Option<&str>) -> Params {
    let mut body = format!("client_assertion_type={ASSERTION_TYPE}&client_assertion={jwt}");
    if let Some(id) = client_id {
        body.push_str(&format!("&client_id={id}"));
    }
    Params::parse(body.as_bytes()).unwrap()
}

/// The outcome of presenting `jwt` (with an optional `client_id` parameter).
async fn try_auth(f: &Fixture, jwt: &str, client_id: Option<&str>) -> Result<String, OAuthError> {
    let p = presented(&form(jwt, client_id))?.expect("an assertion");
    let client = f.assertions.authenticate(f.store.as_ref(), &p).await?;
    Ok(client.credential_id)
}

async fn assert_refused(f: &Fixture, jwt: &str, what: &str) {
    let err = try_auth(f, jwt, None).await.err().unwrap_or_else(|| {
        panic!("{what}: accepted");
    });
    assert_eq!(err.code, "invalid_client", "{what}");
    assert_eq!(err.status, http::StatusCode::UNAUTHORIZED, "{what}");
}

#[tokio::test]
async fn a_valid_assertion_authenticates_once() {
    let f = fixture().await;
    let jwt = sign(&f, &claims(&f.client_id));
    let id = try_auth(&f, &jwt, Some(&f.client_id)).await.unwrap();
    assert!(id.starts_with("key_"));
    assert_refused(&f, &jwt, "replayed jti").await;
    // The same jti in a new assertion is still a replay.
    let mut again = claims(&f.client_id);
    let first: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    again.insert("jti".into(), first["jti"].clone());
    assert_refused(&f, &sign(&f, &again), "same jti, new assertion").await;
}

#[tokio::test]
async fn audience_must_be_this_server() {
    let f = fixture().await;
    for (aud, ok) in [
        (json!(ISSUER), true),
        (json!(TOKEN_ENDPOINT), true),
        (json!([ISSUER]), true),
        (json!([ISSUER, TOKEN_ENDPOINT]), true),
        (json!("https://other.example"), false),
        (json!(format!("{ISSUER}/")), false),
        (json!("https://as.example/oauth2/introspect"), false),
        (json!([ISSUER, "https://other.example"]), false),
        (json!([]), false),
        (json!(42), false),
    ] {
        let mut c = claims(&f.client_id);
        c.insert("aud".into(), aud.clone());
        let jwt = sign(&f, &c);
        if ok {
            try_auth(&f, &jwt, None)
                .await
                .unwrap_or_else(|e| panic!("{aud}: {e:?}"));
        } else {
            assert_refused(&f, &jwt, &format!("aud {aud}")).await;
        }
    }
    let mut c = claims(&f.client_id);
    c.remove("aud");
    assert_refused(&f, &sign(&f, &c), "no aud").await;
}

#[tokio::test]
async fn times_are_checked_with_leeway() {
    let f = fixture().await;
    let n = now();
    let cases: Vec<(&str, Value, bool)> = vec![
        ("exp", json!(n + 290), true),
        ("exp", json!(n + 600), false),
        ("exp", json!(n - 120), false),
        ("exp", json!((n + 60).to_string()), false),
        ("iat", json!(n + 300), false),
        ("iat", json!(n + 10), true),
        ("nbf", json!(n + 300), false),
        ("nbf", json!(n - 10), true),
    ];
    for (claim, value, ok) in cases {
        let mut c = claims(&f.client_id);
        c.insert(claim.into(), value.clone());
        let jwt = sign(&f, &c);
        if ok {
            try_auth(&f, &jwt, None)
                .await
                .unwrap_or_else(|e| panic!("{claim}={value}: {e:?}"));
        } else {
            assert_refused(&f, &jwt, &format!("{claim}={value}")).await;
        }
    }
    let mut c = claims(&f.client_id);
    c.remove("exp");
    assert_refused(&f, &sign(&f, &c), "no exp").await;
}

#[tokio::test]
async fn iss_sub_jti_and_client_id_are_required_and_consistent() {
    let f = fixture().await;
    let id = f.client_id.clone();
    type Mutation = Box<dyn Fn(&mut Map<String, Value>)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("no jti", Box::new(|c| drop(c.remove("jti")))),
        (
            "empty jti",
            Box::new(|c| drop(c.insert("jti".into(), json!("")))),
        ),
        (
            "numeric jti",
            Box::new(|c| drop(c.insert("jti".into(), json!(7)))),
        ),
        (
            "long jti",
            Box::new(|c| drop(c.insert("jti".into(), json!("j".repeat(300))))),
        ),
        (
            "iss != sub",
            Box::new(|c| drop(c.insert("sub".into(), json!("pcl_other")))),
        ),
        ("no sub", Box::new(|c| drop(c.remove("sub")))),
        ("no iss", Box::new(|c| drop(c.remove("iss")))),
        (
            "unknown client",
            Box::new(|c| {
                c.insert("iss".into(), json!("pcl_unknown"));
                c.insert("sub".into(), json!("pcl_unknown"));
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut c = claims(&id);
        mutate(&mut c);
        assert_refused(&f, &sign(&f, &c), what).await;
    }
    // A client_id parameter must name the same client.
    let jwt = sign(&f, &claims(&id));
    let err = try_auth(&f, &jwt, Some("pcl_other")).await.unwrap_err();
    assert_eq!(err.code, "invalid_client");
}

#[tokio::test]
async fn only_registered_asymmetric_keys_fitting_the_alg_verify() {
    let f = fixture().await;
    let c = claims(&f.client_id);
    // alg none, in any spelling, without a signature.
    for alg in ["none", "None", "NONE"] {
        let jwt = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "JWT"})),
            b64(&Value::Object(c.clone()))
        );
        assert_refused(&f, &jwt, alg).await;
    }
    // HS256 with the client's public key (as published) as the HMAC secret.
    let public = serde_json::to_vec(f.signer.public_jwk()).unwrap();
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": "k1"})),
        b64(&Value::Object(c.clone()))
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    let jwt = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert_refused(&f, &jwt, "HS256 with the public key").await;
    // A key the client did not register (same kid, other key).
    let stranger = Signer::generate("k1", Algorithm::ES256).unwrap();
    let jwt = sign_raw(&stranger, &json!({"alg": "ES256", "kid": "k1"}), &c);
    assert_refused(&f, &jwt, "unregistered key").await;
    let jwt = sign_raw(&stranger, &json!({"alg": "ES256", "kid": "k2"}), &c);
    assert_refused(&f, &jwt, "unknown kid").await;
    // A flipped signature bit.
    let mut jwt = sign(&f, &claims(&f.client_id));
    let last = jwt.pop().unwrap();
    jwt.push(if last == 'A' { 'B' } else { 'A' });
    assert_refused(&f, &jwt, "bad signature").await;
    // Header types other than JWT / client-authentication+jwt.
    for (typ, ok) in [
        ("client-authentication+jwt", true),
        ("application/jwt", true),
        ("dpop+jwt", false),
        ("at+jwt", false),
    ] {
        let jwt = sign_raw(
            &f.signer,
            &json!({"alg": "ES256", "kid": "k1", "typ": typ}),
            &claims(&f.client_id),
        );
        if ok {
            try_auth(&f, &jwt, None)
                .await
                .unwrap_or_else(|e| panic!("{typ}: {e:?}"));
        } else {
            assert_refused(&f, &jwt, typ).await;
        }
    }
}

#[tokio::test]
async fn rsa_pss_and_eddsa_keys_verify_only_their_algorithm() {
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA] {
        let f = fixture_with(Signer::generate("k", alg).unwrap(), &[]).await;
        let jwt = sign(&f, &claims(&f.client_id));
        try_auth(&f, &jwt, None)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
    }
    // The RS256 key (its JWK says alg RS256) cannot verify a PS256 signature by the same key.
    let f = fixture_with(Signer::generate("k", Algorithm::RS256).unwrap(), &[]).await;
    let pss = Signer::from_pkcs8_der("k", Algorithm::PS256, f.signer.pkcs8_der()).unwrap();
    let jwt = sign_raw(
        &pss,
        &json!({"alg": "PS256", "kid": "k"}),
        &claims(&f.client_id),
    );
    assert_refused(&f, &jwt, "PS256 with an RS256 key").await;
}

#[tokio::test]
async fn the_registered_method_and_client_state_apply() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let f = fixture_with(
        signer,
        &[("token_endpoint_auth_method", "client_secret_basic")],
    )
    .await;
    assert_refused(
        &f,
        &sign(&f, &claims(&f.client_id)),
        "method is client_secret_basic",
    )
    .await;

    let f = fixture().await;
    let jwt = sign(&f, &claims(&f.client_id));
    let key = f
        .store
        .oauth_client(&f.client_id)
        .await
        .unwrap()
        .credential_id;
    f.store
        .revoke_credential(&Actor::system(), &key, None)
        .await
        .unwrap();
    assert_refused(&f, &jwt, "revoked credential").await;
}

#[test]
fn presentation_errors() {
    let missing = Params::parse(b"client_assertion=abc").unwrap();
    assert_eq!(presented(&missing).err().unwrap().code, "invalid_client");
    let wrong_type = Params::parse(
        b"client_assertion_type=urn:ietf:params:oauth:client-assertion-type:saml2-bearer&client_assertion=a.b.c",
    )
    .unwrap();
    assert_eq!(presented(&wrong_type).err().unwrap().code, "invalid_client");
    assert!(presented(&Params::default()).unwrap().is_none());
    let garbage = form("not-a-jwt", None);
    assert_eq!(presented(&garbage).err().unwrap().code, "invalid_client");
}
