//! Encrypted key-value maps at the gateway: `kvm-lookup` puts the value of the listener's
//! environment into the upstream request; a value changed in the store is used within a second;
//! and the value appears nowhere else: not in the access log, not in anything the gateway logs
//! (every tracing event at TRACE level, i.e. what `PORTCULLIS_LOG=trace` would print to
//! stderr), not in `/admin/v1/status`, not in `Debug` output, not in the database file.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use portcullis_store::{Actor, KvmRepository};
use portcullis_test_support::{Recorder, TestGateway, get};

/// Everything the process logs, as the binary's stderr writer would receive it.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn config(up: &Recorder) -> String {
    format!(
        r#"
listeners:
  - {{ name: prod, address: "127.0.0.1:0", environment: prod }}
  - {{ name: test, address: "127.0.0.1:0", environment: test }}
apis:
  - name: orders
    base_path: /
    upstream: {{ targets: ["{}"] }}
    policies:
      request:
        - kvm-lookup: {{ map: backend, key: token, header: authorization, format: "Bearer {{value}}" }}
"#,
        up.url()
    )
}

/// The `authorization` header the upstream saw on its latest request.
fn last_authorization(up: &Recorder) -> Option<String> {
    up.requests()
        .last()?
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The SQLite file and its write-ahead log, as bytes rendered lossily.
fn database_files(db: &std::path::Path) -> String {
    let mut text = String::new();
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvm_values_reach_the_upstream_follow_changes_and_leak_nowhere() {
    let logs = captured_logs();
    let up = Recorder::start("up").await;
    let gw = TestGateway::start(&config(&up)).await;
    let prod = format!("http://{}/x", gw.running.addr("prod").unwrap());
    let test = format!("http://{}/x", gw.running.addr("test").unwrap());
    let store = gw.store().await;
    let actor = Actor::system();
    let values: Vec<String> = (0..6).map(|i| format!("kvm-secret-{i}-9f2c71d4")).collect();

    store
        .kvm_put(&actor, "prod", "backend", "token", &values[0], None)
        .await
        .unwrap();
    store
        .kvm_put(&actor, "test", "backend", "token", &values[1], None)
        .await
        .unwrap();
    gw.caught_up(&store).await;

    // Each environment's own value; what the client sent is replaced.
    let reply = get(&prod, &[("authorization", "Bearer forged")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        last_authorization(&up).unwrap(),
        format!("Bearer {}", values[0])
    );
    assert_eq!(
        up.requests()
            .last()
            .unwrap()
            .headers
            .get_all("authorization")
            .iter()
            .count(),
        1
    );
    get(&test, &[]).await;
    assert_eq!(
        last_authorization(&up).unwrap(),
        format!("Bearer {}", values[1])
    );

    // A value changed through another store handle (another process or node) is used within
    // a second, without waiting for anything but the gateway's own sync.
    let mut delays = Vec::new();
    for value in &values[2..] {
        store
            .kvm_put(&actor, "prod", "backend", "token", value, None)
            .await
            .unwrap();
        let started = Instant::now();
        let want = format!("Bearer {value}");
        loop {
            assert_eq!(get(&prod, &[]).await.status, 200);
            if last_authorization(&up).as_deref() == Some(want.as_str()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "value never arrived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        delays.push(started.elapsed());
    }
    let worst = delays.iter().max().unwrap();
    eprintln!("kvm change → upstream: {delays:?} (worst {worst:?})");
    assert!(*worst < Duration::from_secs(1), "a change took {worst:?}");

    // A deleted entry: 500 with a stable code and nothing about the value.
    store
        .kvm_delete(&actor, "prod", "backend", "token", None)
        .await
        .unwrap();
    gw.caught_up(&store).await;
    let before = up.count();
    let reply = get(&prod, &[]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["code"], "kvm.entry_missing");
    assert_eq!(up.count(), before, "no upstream call without the secret");

    // Nowhere else.
    let status = get(
        &gw.admin_url("/admin/v1/status"),
        &[("authorization", &gw.admin_auth().await)],
    )
    .await;
    assert_eq!(status.status, 200);
    let deps = gw.running.app.deps();
    let places = [
        ("access log", format!("{:?}", gw.log_lines())),
        (
            "process log",
            String::from_utf8_lossy(&logs.lock().unwrap()).into_owned(),
        ),
        (
            "admin status",
            String::from_utf8_lossy(&status.body).into_owned(),
        ),
        (
            "problem body",
            String::from_utf8_lossy(&reply.body).into_owned(),
        ),
        ("debug output", format!("{:?} {:?}", deps.kvm, deps.keys)),
        ("database files", database_files(&gw.db_path)),
    ];
    assert!(
        places[1].1.contains("kvm snapshot reloaded"),
        "the capture sees the gateway's own log lines"
    );
    for (place, text) in &places {
        for value in &values {
            assert!(
                !text.contains(value.as_str()),
                "{value} found in the {place}"
            );
        }
        // Not even the distinctive part.
        assert!(!text.contains("9f2c71d4"), "a value found in the {place}");
    }
    gw.stop().await;
}
