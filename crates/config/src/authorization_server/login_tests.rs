//! `authorization_server.login`: defaults, a valid provider, and every refusal by field path.

use std::path::Path;

use portcullis_policies::PolicyDeps;

use crate::{ConfigErrors, Snapshot, compile_str};

fn config(login: &str) -> String {
    format!(
        "listeners: [ {{ name: public, address: \"127.0.0.1:0\" }} ]\n\
         authorization_server:\n  address: \"127.0.0.1:0\"\n  issuer: \"https://auth.example.com\"\n\
         {login}\napis: []\n"
    )
}

fn compile_in(text: &str, base: &Path) -> Result<Snapshot, ConfigErrors> {
    compile_str(text, base, &PolicyDeps::default())
}

/// Every error as `path: message`.
fn errors(login: &str, base: &Path) -> Vec<String> {
    match compile_in(&config(login), base) {
        Ok(_) => panic!("accepted: {login}"),
        Err(e) => {
            e.0.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect()
        }
    }
}

fn has(errs: &[String], path: &str, fragment: &str) -> bool {
    errs.iter()
        .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(fragment))
}

fn secret_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("corp.secret"), "s3cret-value\n").unwrap();
    std::fs::write(dir.path().join("empty.secret"), "\n").unwrap();
    dir
}

#[test]
fn without_a_login_block_only_local_users_sign_in() {
    let snap = compile_in(&config(""), Path::new(".")).unwrap();
    let login = &snap.server.authorization_server.as_ref().unwrap().login;
    assert!(login.local_users);
    assert!(login.providers.is_empty());
}

#[test]
fn a_provider_compiles_with_defaults_and_a_hidden_secret() {
    let dir = secret_dir();
    let snap = compile_in(
        &config(
            "  login:\n    local_users: false\n    providers:\n\
             \x20     - { name: corp, issuer: \"https://idp.example.com/realms/corp/\", \
             client_id: portcullis, client_secret_file: corp.secret }\n",
        ),
        dir.path(),
    )
    .unwrap();
    let login = &snap.server.authorization_server.as_ref().unwrap().login;
    assert!(!login.local_users);
    let p = &login.providers[0];
    assert_eq!(p.display_name, "corp");
    assert_eq!(p.issuer, "https://idp.example.com/realms/corp");
    assert_eq!(p.client_secret.expose(), "s3cret-value");
    assert_eq!(p.scopes, ["openid", "email", "profile"]);
    assert_eq!(p.claims["email"], "email");
    assert!(p.algorithms.is_empty(), "from discovery");
    assert!(
        !format!("{p:?}").contains("s3cret"),
        "Debug hides the secret"
    );
}

#[test]
fn every_provider_error_names_its_field() {
    let dir = secret_dir();
    let errs = errors(
        "  login:\n    providers:\n\
         \x20     - name: Corp!\n        issuer: \"http://idp.example.com\"\n        client_id: \"\"\n\
         \x20       client_secret_file: missing.secret\n        scopes: [email, \"a b\"]\n\
         \x20       claims: { sub: email, \"bad claim\": x }\n        algorithms: [HS256, none]\n\
         \x20       display_name: \" \"\n\
         \x20     - { name: corp, issuer: \"https://idp.example.com?x=1\", client_id: c, \
         client_secret_env: PORTCULLIS_TEST_UNSET_SECRET_VAR }\n\
         \x20     - { name: corp, issuer: \"https://idp.example.com\", client_id: c }\n\
         \x20     - { name: other, issuer: \"https://idp.example.com\", client_id: c, \
         client_secret_file: empty.secret }\n",
        dir.path(),
    );
    let p = "authorization_server.login.providers";
    for (path, fragment) in [
        (format!("{p}[0].name"), "invalid name"),
        (format!("{p}[0].issuer"), "must use https"),
        (format!("{p}[0].client_id"), "must not be empty"),
        (format!("{p}[0].client_secret_file"), "cannot read"),
        (format!("{p}[0].scopes"), "must contain openid"),
        (format!("{p}[0].scopes[1]"), "invalid scope"),
        (
            format!("{p}[0].claims.sub"),
            "set by the authorization server",
        ),
        (format!("{p}[0].claims.bad claim"), "invalid claim name"),
        (format!("{p}[0].algorithms[0]"), "'HS256' is not allowed"),
        (format!("{p}[0].algorithms[1]"), "'none' is not allowed"),
        (format!("{p}[0].display_name"), "must not be empty"),
        (format!("{p}[1].issuer"), "without query"),
        (format!("{p}[1].client_secret_env"), "is not set"),
        (format!("{p}[2].name"), "duplicate provider name"),
        (format!("{p}[2]"), "exactly one of client_secret_env"),
        (format!("{p}[3].client_secret_file"), "is empty"),
    ] {
        assert!(
            has(&errs, &path, fragment),
            "{path} ~ {fragment} in {errs:#?}"
        );
    }
}

#[test]
fn turning_local_users_off_needs_a_provider() {
    let errs = errors("  login: { local_users: false }\n", Path::new("."));
    assert!(
        has(
            &errs,
            "authorization_server.login.providers",
            "at least one provider"
        ),
        "{errs:?}"
    );
}

#[test]
fn loopback_issuers_may_use_http_and_secrets_come_from_the_environment() {
    // PATH is set in every environment this runs in (setting a variable needs `unsafe`).
    let var = "PATH";
    let snap = compile_in(
        &config(&format!(
            "  login:\n    providers:\n\
             \x20     - {{ name: dev, issuer: \"http://127.0.0.1:8081\", client_id: c, \
             client_secret_env: {var}, algorithms: [ES256] }}\n"
        )),
        Path::new("."),
    )
    .unwrap();
    let p = &snap
        .server
        .authorization_server
        .as_ref()
        .unwrap()
        .login
        .providers[0];
    assert_eq!(p.client_secret.expose(), std::env::var(var).unwrap());
    assert_eq!(p.algorithms, ["ES256"]);
}
