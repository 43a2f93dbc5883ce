//! KVM values against the real binary: `portcullis serve` with `PORTCULLIS_LOG=trace` sends a
//! KVM value to the upstream through `kvm-lookup`, follows a change made by another process
//! within a second, and neither its standard output (the access log) nor its standard error
//! (every process log line, at TRACE level) ever contains a value.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_store::{Actor, Keyring, KvmRepository, SqliteStore};
use portcullis_test_support::{Recorder, get};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn authorization(up: &Recorder) -> Option<String> {
    let last = up.requests().pop()?;
    Some(last.headers.get("authorization")?.to_str().ok()?.to_owned())
}

#[tokio::test]
async fn kvm_values_never_reach_stdout_or_stderr() {
    let up = Recorder::start("up").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let cfg = dir.path().join("gw.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listeners: [ {{ name: p, address: \"127.0.0.1:{port}\", environment: prod }} ]\n\
             admin: {{ address: \"127.0.0.1:{admin}\" }}\n\
             store: {{ sqlite: gw.db }}\n\
             apis:\n  - name: x\n    base_path: /\n    upstream: {{ targets: [\"{}\"] }}\n    \
             policies: {{ request: [ {{ kvm-lookup: {{ map: backend, key: token, header: authorization }} }} ] }}\n",
            up.url()
        ),
    )
    .unwrap();
    let (stdout, stderr) = (dir.path().join("out.log"), dir.path().join("err.log"));
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["serve", "--watch-interval", "0", "--config"])
            .arg(&cfg)
            .env("PORTCULLIS_LOG", "trace")
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/x");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Another process's handle on the same store (as the admin API of another node would be):
    // the master key the binary created next to its database on first run.
    let keyring = Arc::new(Keyring::from_file(&dir.path().join("master.key")).unwrap());
    let store = SqliteStore::open(&dir.path().join("gw.db"), keyring)
        .await
        .unwrap();
    let values = ["first-7c1e5b9a-value", "second-7c1e5b9a-value"];
    for value in values {
        store
            .kvm_put(&Actor::system(), "prod", "backend", "token", value, None)
            .await
            .unwrap();
        let written = Instant::now();
        loop {
            // Until the gateway has the entry: 500 kvm.entry_missing (first value) or the
            // previous value.
            let status = get(&url, &[]).await.status;
            if status == 200 && authorization(&up).as_deref() == Some(value) {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "the gateway did not use the new value within a second"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(_server);
    let out = std::fs::read_to_string(&stdout).unwrap();
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert!(out.contains("\"status\":200"), "access log written: {out}");
    assert!(err.contains("kvm snapshot reloaded"), "trace logs written");
    for text in [&out, &err] {
        assert!(
            !text.contains("7c1e5b9a"),
            "a KVM value was printed:\n{text}"
        );
    }
}
