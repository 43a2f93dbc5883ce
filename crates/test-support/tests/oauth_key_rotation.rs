//! Signing-key rotation under load: the built-in server on the fastest schedule its config
//! allows (`rotate_every: 2s`, `publish_ahead: 1s`, both at or near the 1 s minimum) rotates
//! several times while concurrent clients keep obtaining JWT access tokens and calling an API
//! protected by `verify-oauth-token`, each with its new token and with its previous one (signed
//! by a key that may have retired meanwhile). Not one call may fail. RS256 and ES256.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use portcullis_test_support::forge::header_part;
use portcullis_test_support::oauth::{client_credentials, oauth_product, provision_client};
use portcullis_test_support::{Recorder, TestGateway, get};

/// Rotations every run must see (distinct signing kids in issued tokens, minus one).
const ROTATIONS: usize = 3;
const CLIENTS: usize = 6;
/// Generous: a debug build generates RSA keys slowly, and the machine is shared.
const DEADLINE: Duration = Duration::from_secs(120);

fn config(alg: &str, upstream: &str) -> String {
    format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
authorization_server:
  address: "127.0.0.1:0"
  issuer: "http://127.0.0.1:1"
  access_token: {{ format: jwt, lifetime: 10m }}
  signing: {{ algorithm: {alg}, rotate_every: 2s, publish_ahead: 1s }}
apis:
  - name: orders
    base_path: /orders
    upstream: {{ targets: ["{upstream}"] }}
    policies:
      request: [ {{ verify-oauth-token: {{}} }} ]
"#
    )
}

async fn rotation_under_load(alg: &str) {
    let upstream = Recorder::start("orders").await;
    let gw = Arc::new(TestGateway::start(&config(alg, &upstream.url())).await);
    let client = provision_client(&gw, &[("orders", oauth_product(&["orders.read"], None))]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let kids = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let (gw, client, stop, kids, failures, calls) = (
            gw.clone(),
            client.clone(),
            stop.clone(),
            kids.clone(),
            failures.clone(),
            calls.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut previous: Option<String> = None;
            while !stop.load(Ordering::SeqCst) {
                let token = client_credentials(&gw, &client, "orders.read").await;
                let kid = header_part(&token)["kid"].as_str().unwrap().to_owned();
                kids.lock().insert(kid.clone());
                for (which, t) in [("new", Some(&token)), ("previous", previous.as_ref())] {
                    let Some(t) = t else { continue };
                    let auth = format!("Bearer {t}");
                    let r = get(&gw.url("/orders/1"), &[("authorization", &auth)]).await;
                    calls.fetch_add(1, Ordering::SeqCst);
                    if r.status != 200 {
                        failures.lock().push(format!(
                            "{which} token (kid {kid}): {} {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ));
                    }
                }
                previous = Some(token);
            }
        }));
    }
    let started = Instant::now();
    while kids.lock().len() < ROTATIONS + 1 && started.elapsed() < DEADLINE {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let seen = kids.lock().len();
    eprintln!(
        "{alg}: {} calls, {} signing keys, {:?}",
        calls.load(Ordering::SeqCst),
        seen,
        started.elapsed()
    );
    assert!(
        seen > ROTATIONS,
        "{alg}: only {seen} signing keys seen in {DEADLINE:?}"
    );
    let failures = failures.lock().clone();
    assert!(
        failures.is_empty(),
        "{alg}: {} of {} calls failed during {} rotations: {:?}",
        failures.len(),
        calls.load(Ordering::SeqCst),
        seen - 1,
        &failures[..failures.len().min(5)]
    );
    assert_eq!(upstream.count(), calls.load(Ordering::SeqCst));
    assert!(calls.load(Ordering::SeqCst) >= 2 * CLIENTS);
    match Arc::try_unwrap(gw) {
        Ok(gw) => gw.stop().await,
        Err(_) => panic!("workers still hold the gateway"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_keys_rotate_under_load_without_a_failed_call() {
    rotation_under_load("ES256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_keys_rotate_under_load_without_a_failed_call() {
    rotation_under_load("RS256").await;
}
