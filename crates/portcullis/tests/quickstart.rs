//! The README's tour, run against the real binary and `examples/quickstart.yaml` (addresses,
//! store and backend moved to a temporary directory and free ports): a call without a key gets
//! 401; a key from `portcullis keys create` opens `/echo/v1` at once (`require_product: false`)
//! but not `/echo/v2`, which requires API products; a product created through the admin API and
//! a key from `keys create --product` open `/echo/v2` for what the product covers only.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portcullis_test_support::{Recorder, Reply, get, post};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The quickstart file with its addresses, store and backend replaced.
fn quickstart(dir: &Path, port: u16, admin: u16, backend: &str) -> std::path::PathBuf {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart.yaml"
    );
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:9080", &format!("127.0.0.1:{admin}"))
        .replace("../data/portcullis.db", "portcullis.db")
        .replace("http://127.0.0.1:9000", backend);
    assert!(text.contains(backend), "the example's backend moved");
    let path = dir.join("quickstart.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary; returns stdout (trimmed), failing the test with stderr on error.
fn run(cmd: &mut Command) -> String {
    let out: Output = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// GETs `url` with `key` until the status is `want` (the gateway picks up CLI writes within a
/// second); returns the last reply.
async fn eventually(want: u16, url: &str, key: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = get(url, &[("x-api-key", key)]).await;
        if reply.status.as_u16() == want || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until_ready(admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = admin.trim_start_matches("http://").to_owned();
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while get(&format!("{admin}/readyz"), &[]).await.status != 200 {
        assert!(Instant::now() < deadline, "gateway did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_readme_tour_works_on_the_quickstart_example() {
    let backend = Recorder::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let cfg = quickstart(dir.path(), port, admin_port, &backend.url());
    let _server = Server(
        bin()
            .args(["serve", "--watch-interval", "0", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let admin = format!("http://127.0.0.1:{admin_port}");
    wait_until_ready(&admin).await;
    let v1 = format!("http://127.0.0.1:{port}/echo/v1/items");
    let v2 = format!("http://127.0.0.1:{port}/echo/v2/items");

    // No key: 401 with a problem body and a challenge.
    let reply = get(&v1, &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["code"], "key.missing");
    assert!(reply.header("www-authenticate").is_some());

    // `keys create` as the README says: the key works on /echo/v1.
    let key = run(bin()
        .args(["keys", "create", "--config"])
        .arg(&cfg)
        .args(["--app", "my-app"]));
    assert!(key.starts_with("pcl_"), "{key}");
    let reply = eventually(200, &v1, &key).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // /echo/v2 requires API products: the same key has none.
    let reply = get(&v2, &[("x-api-key", &key)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["code"], "key.not_approved");

    // An admin token, a product through the admin API, a key approved for it.
    run(bin()
        .args([
            "admin",
            "create-user",
            "--username",
            "root",
            "--role",
            "admin",
        ])
        .args(["--password-env", "TOUR_PASSWORD", "--config"])
        .arg(&cfg)
        .env("TOUR_PASSWORD", "a long admin password"));
    let token = run(bin()
        .args([
            "admin",
            "create-token",
            "--username",
            "root",
            "--name",
            "tour",
        ])
        .args(["--config"])
        .arg(&cfg));
    let created = post(
        &format!("{admin}/admin/v1/products"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        r#"{"name":"echo-read","apis":["echo-products"],"paths":["/**"],"methods":["GET"]}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let out = bin()
        .args(["keys", "create", "--config"])
        .arg(&cfg)
        .args(["--app", "my-app", "--product", "echo-read"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("products: echo-read"), "{stderr}");
    let reader = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let reply = eventually(200, &v2, &reader).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let write = post(&v2, &[("x-api-key", &reader)], "{}").await;
    assert_eq!(write.json()["code"], "product.method_not_allowed");

    // An unknown product is refused and issues nothing.
    let out = bin()
        .args(["keys", "create", "--config"])
        .arg(&cfg)
        .args(["--app", "my-app", "--product", "no-such-product"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no key printed for a failed create");
}
