//! The `portcullis` binary as a user runs it: validate, keys, serve with SIGHUP reload and
//! graceful SIGTERM shutdown.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_test_support::{Recorder, get};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn validate_accepts_the_quickstart_example() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart.yaml"
    );
    let out = bin()
        .args(["validate", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (1 listeners, 2 APIs)"));
}

#[test]
fn validate_prints_every_error_with_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "bad.yaml",
        "listeners:\n  - { name: a, address: \"127.0.0.1:x\" }\napis:\n  - name: o\n    base_path: /o\n    upstream: { targets: [\"http://127.0.0.1:1\"] }\n    policies:\n      request:\n        - spike-arrest: { rate: 10/fortnight }\n        - access-control: { allow: [\"nonsense\"] }\n",
    );
    let out = bin()
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = cfg.display().to_string();
    for want in [
        format!(
            "{file}:line 2: listeners[0].address: invalid address '127.0.0.1:x': expected IP:port"
        ),
        format!(
            "{file}:line 9: apis[0].policies.request[0].spike-arrest.rate: invalid rate '10/fortnight'"
        ),
        format!(
            "{file}:line 10: apis[0].policies.request[1].access-control.allow[0]: invalid IP or CIDR 'nonsense'"
        ),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("3 error(s)"), "{err}");
}

#[test]
fn keys_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let create = bin()
        .args([
            "keys",
            "create",
            "--app",
            "shop",
            "--developer",
            "ann@example.com",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    let key = String::from_utf8(create.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("pcl_") && key.len() == 36, "{key}");
    let list = bin()
        .args(["keys", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains(&key[..12]), "{text}");
    assert!(!text.contains(&key), "list must show prefixes only");
    assert!(text.contains("active"));
    // Only the hash is stored.
    let raw = std::fs::read(&db).unwrap();
    assert!(!raw.windows(key.len()).any(|w| w == key.as_bytes()));
    let revoke = bin()
        .args(["keys", "revoke", &key[..12], "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let list = bin()
        .args(["keys", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("revoked"));
    let unknown = bin()
        .args(["keys", "revoke", "pcl_nonexist0", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn config(port: u16, admin: u16, upstream: &str, generation: u32) -> String {
    format!(
        "listeners: [ {{ name: public, address: \"127.0.0.1:{port}\" }} ]\nadmin: {{ address: \"127.0.0.1:{admin}\" }}\nstore: {{ sqlite: gw.db }}\napis:\n  - name: x\n    base_path: /\n    upstream: {{ targets: [\"{upstream}\"] }}\n    policies: {{ response: [ {{ set-headers: {{ set: {{ x-gen: \"{generation}\" }} }} }} ] }}\n"
    )
}

async fn wait_until_serving(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let addr = url.trim_start_matches("http://").split('/').next().unwrap();
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gateway did not start serving {url}");
}

#[tokio::test]
async fn serve_reloads_on_sighup_and_drains_on_sigterm() {
    let up = Recorder::start("up").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let cfg = write(dir.path(), "gw.yaml", &config(port, admin, &up.url(), 1));
    let child = bin()
        .args(["serve", "--watch-interval", "0", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let url = format!("http://127.0.0.1:{port}/a");
    wait_until_serving(&url).await;
    assert_eq!(get(&url, &[]).await.header("x-gen"), Some("1"));
    assert!(
        dir.path().join("gw.db").exists(),
        "SQLite file created on first run"
    );

    // The watcher is off: only SIGHUP applies the change.
    write(dir.path(), "gw.yaml", &config(port, admin, &up.url(), 2));
    signal(&server.0, "-HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&url, &[]).await.header("x-gen") != Some("2") {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An in-flight slow request finishes although SIGTERM arrives meanwhile.
    let slow = tokio::spawn({
        let url = url.clone();
        async move { get(&url, &[("x-test-delay-ms", "700")]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(&server.0, "-TERM");
    let reply = slow.await.unwrap();
    assert_eq!(
        reply.status, 200,
        "in-flight request was dropped on SIGTERM"
    );
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stopped accepting.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
