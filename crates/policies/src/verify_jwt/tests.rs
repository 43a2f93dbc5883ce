use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_jose::{Algorithm, Signer, jwk_set};
use portcullis_policy::{Phase, RequestOutcome};
use serde_json::{Value, json};

use super::*;
use crate::test_util::{
    assert_schema_documented, compile_errors, compile_in, entry, err, exchange, request_pipeline,
    run,
};

const ISS: &str = "https://idp.example.com/";
const AUD: &str = "api://orders";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "client_id": "shop", "exp": now() + 300,
           "scope": "orders:read orders:write", "email": "alice@example.com",
           "realm_access": {"roles": ["admin", "ops"]}})
}

fn config(signer: &Signer, extra: Value) -> Value {
    let mut c = json!({
        "issuer": ISS,
        "audiences": [AUD],
        "algorithms": ["ES256"],
        "jwks": jwk_set([signer]),
    });
    let Value::Object(extra) = extra else {
        panic!("extra config is an object")
    };
    for (k, v) in extra {
        c[k] = v;
    }
    c
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn valid_token_attaches_identity_principal_and_claim_headers() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let p = request_pipeline(vec![entry(
        "verify-jwt",
        config(
            &signer,
            json!({"claims_to_headers": {"sub": "x-user", "email": "x-email",
                                         "realm_access.roles": "x-roles"}}),
        ),
    )]);
    let token = signer.sign(&claims()).unwrap();
    let auth = bearer(&token);
    let mut ex = exchange(
        "GET",
        "/x",
        &[
            ("authorization", &auth),
            ("x-user", "mallory"),
            ("x-roles", "root"),
        ],
    );
    let done = run(&p, &mut ex, 200).await;
    assert_eq!(done.code(), None, "{:?}", done.outcome);
    let id = ex.ctx.identity.as_ref().unwrap();
    assert_eq!(&*id.app_id, "shop");
    assert_eq!(&*id.credential, "jwt:alice");
    let principal = ex.request.extensions.get::<JwtPrincipal>().unwrap();
    assert_eq!(principal.subject.as_deref(), Some("alice"));
    assert_eq!(principal.client_id.as_deref(), Some("shop"));
    assert_eq!(&*principal.scopes, ["orders:read", "orders:write"]);
    assert_eq!(&*principal.issuer, ISS);
    let headers = &ex.request.headers;
    assert_eq!(headers["x-user"], "alice", "client-supplied value replaced");
    assert_eq!(headers["x-email"], "alice@example.com");
    assert_eq!(headers["x-roles"], "admin,ops");
    assert_eq!(headers.get_all("x-user").iter().count(), 1);
    assert!(headers.contains_key("authorization"), "kept by default");
}

#[tokio::test]
async fn refusals_carry_codes_reasons_and_bearer_challenges() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let other = Signer::generate("k1", Algorithm::ES256).unwrap();
    let p = request_pipeline(vec![entry(
        "verify-jwt",
        config(
            &signer,
            json!({"realm": "orders", "claims_to_headers": {"sub": "x-user"}}),
        ),
    )]);
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("api://other");
    /// Request headers, expected code, expected `reason` (none for a missing token).
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![], "token.missing", None),
        (
            vec![("authorization", "Basic dXNlcjpwYXNz".into())],
            "token.missing",
            None,
        ),
        (
            vec![("authorization", "Bearer".into())],
            "token.missing",
            None,
        ),
        (
            vec![("authorization", bearer("abc"))],
            "token.invalid",
            Some("malformed"),
        ),
        (
            vec![("authorization", bearer(&signer.sign(&expired).unwrap()))],
            "token.expired",
            Some("expired"),
        ),
        (
            vec![("authorization", bearer(&signer.sign(&wrong_aud).unwrap()))],
            "token.invalid",
            Some("wrong_audience"),
        ),
        (
            vec![("authorization", bearer(&other.sign(&claims()).unwrap()))],
            "token.invalid",
            Some("bad_signature"),
        ),
        (
            vec![
                ("authorization", bearer("a.b.c")),
                ("authorization", bearer("d.e.f")),
            ],
            "token.invalid",
            Some("malformed"),
        ),
    ];
    for (headers, code, reason) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut spoofed = headers.clone();
        spoofed.push(("x-user", "mallory"));
        let mut ex = exchange("GET", "/x", &spoofed);
        let done = run(&p, &mut ex, 200).await;
        assert_eq!(done.code(), Some(code), "{headers:?}");
        assert_eq!(done.response.status, 401);
        let challenge = done.header("www-authenticate");
        match reason {
            None => assert_eq!(challenge, "Bearer realm=\"orders\""),
            Some(reason) => {
                assert!(
                    challenge.starts_with("Bearer realm=\"orders\", error=\"invalid_token\""),
                    "{challenge}"
                );
                if code == "token.expired" {
                    assert_eq!(
                        challenge,
                        "Bearer realm=\"orders\", error=\"invalid_token\", \
                         error_description=\"token expired\""
                    );
                }
                let RequestOutcome::Fail(e) = &done.outcome else {
                    panic!()
                };
                assert_eq!(e.extra().unwrap()["reason"], reason);
            }
        }
        assert!(ex.ctx.identity.is_none());
        assert!(
            !ex.request.headers.contains_key("x-user"),
            "spoofed header removed"
        );
    }
}

#[tokio::test]
async fn token_from_header_or_query_and_hiding() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let token = signer.sign(&claims()).unwrap();
    let p = request_pipeline(vec![entry(
        "verify-jwt",
        config(
            &signer,
            json!({"token_from": "query:access_token", "hide_credentials": true}),
        ),
    )]);
    let mut ex = exchange("GET", &format!("/x?a=1&access_token={token}&b=2"), &[]);
    assert_eq!(run(&p, &mut ex, 200).await.code(), None);
    assert_eq!(ex.request.uri.to_string(), "/x?a=1&b=2");
    let mut ex = exchange("GET", "/x?access_token=a&access_token=b", &[]);
    assert_eq!(run(&p, &mut ex, 200).await.code(), Some("token.invalid"));

    let p = request_pipeline(vec![entry(
        "verify-jwt",
        config(
            &signer,
            json!({"token_from": "header:x-jwt", "hide_credentials": true}),
        ),
    )]);
    let mut ex = exchange("GET", "/x", &[("x-jwt", &token)]);
    assert_eq!(run(&p, &mut ex, 200).await.code(), None);
    assert!(!ex.request.headers.contains_key("x-jwt"));
    let mut ex = exchange("GET", "/x", &[("authorization", &bearer(&token))]);
    assert_eq!(run(&p, &mut ex, 200).await.code(), Some("token.missing"));
}

#[tokio::test]
async fn monitor_mode_records_and_lets_through_without_identity() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let mut c = config(&signer, json!({}));
    c["mode"] = json!("monitor");
    let p = request_pipeline(vec![entry("verify-jwt", c)]);
    let mut ex = exchange("GET", "/x", &[("authorization", "Bearer x.y.z")]);
    assert_eq!(run(&p, &mut ex, 200).await.code(), None);
    assert!(ex.ctx.identity.is_none());
    assert_eq!(ex.ctx.events[0].code, "token.invalid");
}

#[tokio::test]
async fn id_tokens_and_types() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    let mut id = claims();
    id["nonce"] = json!("n-0S6_WzA2Mj");
    let id_token = signer.sign(&id).unwrap();
    let p = request_pipeline(vec![entry("verify-jwt", config(&signer, json!({})))]);
    let mut ex = exchange("GET", "/x", &[("authorization", &bearer(&id_token))]);
    assert_eq!(
        run(&p, &mut ex, 200).await.code(),
        Some("token.invalid"),
        "nonce refused by default"
    );

    let p = request_pipeline(vec![entry(
        "verify-jwt",
        config(
            &signer,
            json!({"reject_id_tokens": false, "token_types": ["at+jwt"]}),
        ),
    )]);
    let mut ex = exchange("GET", "/x", &[("authorization", &bearer(&id_token))]);
    assert_eq!(
        run(&p, &mut ex, 200).await.code(),
        Some("token.invalid"),
        "typ JWT"
    );
    let at = signer.sign_with_type("at+jwt", &claims()).unwrap();
    let mut ex = exchange("GET", "/x", &[("authorization", &bearer(&at))]);
    assert_eq!(run(&p, &mut ex, 200).await.code(), None);
}

#[test]
fn config_errors_name_the_field() {
    let signer = Signer::generate("k1", Algorithm::ES256).unwrap();
    assert_schema_documented::<VerifyJwtConfig>();
    let c = |extra: Value| compile_errors("verify-jwt", config(&signer, extra));
    let e = c(json!({"algorithms": ["none"]}));
    assert_eq!(e[0].path, "algorithms[0]");
    assert!(
        e[0].message.contains("unknown variant `none`"),
        "{}",
        e[0].message
    );
    assert_eq!(
        c(json!({"algorithms": ["RS256", "HS256"]})),
        [err(
            "algorithms[1]",
            "HS256 needs shared_secret_env (a JWKS never supplies HMAC keys)"
        )]
    );
    assert_eq!(
        c(json!({"shared_secret_env": "PORTCULLIS_TEST_UNSET_SECRET_VAR"})),
        [err(
            "shared_secret_env",
            "environment variable $PORTCULLIS_TEST_UNSET_SECRET_VAR is not set"
        )]
    );
    assert_eq!(
        c(json!({"audiences": []})),
        [err("audiences", "at least one audience is required")]
    );
    assert_eq!(
        c(json!({"algorithms": []})),
        [err("algorithms", "at least one algorithm is required")]
    );
    assert_eq!(
        c(json!({"leeway": "10m"})),
        [err("leeway", "must be at most 5m")]
    );
    assert_eq!(
        c(json!({"token_from": "cookie:x"})),
        [err(
            "token_from",
            "'cookie:x' is not one of bearer, header:<name>, query:<name>"
        )]
    );
    assert_eq!(
        c(json!({"claims_to_headers": {"sub": "bad header"}})),
        [err(
            "claims_to_headers.sub",
            "invalid header name 'bad header'"
        )]
    );
    assert_eq!(
        c(json!({"realm": "a\"b"})),
        [err(
            "realm",
            "must be printable ASCII without quotes or backslashes"
        )]
    );
    assert_eq!(
        c(json!({"jwks_url": "https://idp.example.com/jwks"})),
        [err(
            "",
            "exactly one of jwks_url, jwks_file and jwks is required"
        )]
    );
    assert_eq!(
        c(json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
        [err("jwks", "the JWKS holds no usable signing key")]
    );
    let e = c(json!({"jwks": null, "jwks_file": "does/not/exist.json"}));
    assert_eq!(e[0].path, "jwks_file");
    let no_inline = |extra: Value| {
        let mut cfg = config(&signer, extra);
        cfg.as_object_mut().unwrap().remove("jwks");
        compile_errors("verify-jwt", cfg)
    };
    assert_eq!(
        no_inline(json!({"jwks_url": "http://idp.example.com/jwks"})),
        [err(
            "jwks_url",
            "'http://idp.example.com/jwks' must use https (or set allow_http)"
        )]
    );
    assert_eq!(
        no_inline(json!({"jwks_url": "https://idp.example.com/jwks",
                         "jwks_cache": {"refresh_interval": "100ms"}})),
        [err("jwks_cache.refresh_interval", "must be at least 1s")]
    );
    let mut ok = config(&signer, json!({"jwks_url": "http://127.0.0.1:9/jwks"}));
    ok.as_object_mut().unwrap().remove("jwks");
    compile_in("verify-jwt", ok.clone(), Phase::Request).expect("loopback http is allowed");
    assert_eq!(
        compile_in("verify-jwt", ok, Phase::Response).unwrap_err(),
        [err(
            "",
            "verify-jwt guards requests; place it in a request list"
        )]
    );
}
