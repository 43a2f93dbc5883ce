//! Mutual TLS on an API listener (`tls.client_ca`, `tls.client_auth`): real handshakes with
//! certificates from rcgen CAs; optional mode lets certificate-less clients in but still refuses
//! a certificate from an unknown CA, required mode refuses clients without one; config errors
//! name the field.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use portcullis_test_support::mtls::{ClientIdentity, TestCa, send_tls};
use portcullis_test_support::{Recorder, TestGateway};

struct Setup {
    _dir: tempfile::TempDir,
    server_ca: TestCa,
    client_ca: TestCa,
    yaml: String,
}

fn setup(upstream: &str, client_auth: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    let (cert, key) = server_ca.server_cert().write(dir.path(), "server");
    let ca = client_ca.write(dir.path(), "clients.pem");
    let mode = client_auth.map_or(String::new(), |m| format!(", client_auth: {m}"));
    let yaml = format!(
        "listeners: [ {{ name: tls, address: \"127.0.0.1:0\", tls: {{ cert: \"{}\", key: \"{}\", client_ca: \"{}\"{mode} }} }} ]\napis:\n  - {{ name: x, base_path: /, upstream: {{ targets: [\"{upstream}\"] }} }}\n",
        cert.display(),
        key.display(),
        ca.display(),
    );
    Setup {
        _dir: dir,
        server_ca,
        client_ca,
        yaml,
    }
}

fn get() -> Request<Full<Bytes>> {
    Request::get("/hello")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn client(cn: &str) -> ClientIdentity {
    ClientIdentity {
        subject: vec![("CN", cn.into())],
        ..Default::default()
    }
}

#[tokio::test]
async fn optional_client_certificates_admit_clients_without_one_but_not_unknown_cas() {
    let up = Recorder::start("up").await;
    let s = setup(&up.url(), None);
    let gw = TestGateway::start(&s.yaml).await;
    let good = s.client_ca.client_cert(&client("good"));
    let reply = send_tls(gw.addr(), &s.server_ca, Some(&good), get())
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let reply = send_tls(gw.addr(), &s.server_ca, None, get())
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let stranger = TestCa::new("other CA").client_cert(&client("good"));
    let refused = send_tls(gw.addr(), &s.server_ca, Some(&stranger), get()).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(up.count(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn required_client_certificates_refuse_clients_without_one() {
    let up = Recorder::start("up").await;
    let s = setup(&up.url(), Some("required"));
    let gw = TestGateway::start(&s.yaml).await;
    let good = s.client_ca.client_cert(&client("good"));
    let reply = send_tls(gw.addr(), &s.server_ca, Some(&good), get())
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let refused = send_tls(gw.addr(), &s.server_ca, None, get()).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(up.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn client_certificate_config_errors_name_the_field() {
    let s = setup("http://127.0.0.1:9", None);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "just text").unwrap();
    let with_key = dir.path().join("key.pem");
    let cert = s.client_ca.client_cert(&client("x"));
    std::fs::write(&with_key, format!("{}{}", s.client_ca.pem, cert.key_pem)).unwrap();
    let ca_path = s
        .yaml
        .split("client_ca: \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    for (bad, want) in [
        (missing.display().to_string(), "cannot read CA bundle"),
        (not_pem.display().to_string(), "holds no PEM certificate"),
        (with_key.display().to_string(), "holds a private key"),
    ] {
        let yaml = s.yaml.replace(&ca_path, &bad);
        let err = TestGateway::start_with(&yaml, None).await.err().unwrap();
        assert!(err.contains("listeners[0].tls.client_ca"), "{err}");
        assert!(err.contains(want), "{err}");
    }
    let yaml = s.yaml.replace(
        &format!(", client_ca: \"{ca_path}\""),
        ", client_auth: required",
    );
    let err = TestGateway::start_with(&yaml, None).await.err().unwrap();
    assert!(err.contains("listeners[0].tls.client_auth"), "{err}");
    assert!(err.contains("needs client_ca"), "{err}");
}
