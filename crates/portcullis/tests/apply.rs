//! `portcullis apply`/`diff`/`export` and the management commands as a user runs them: the
//! real binary against a running gateway (`portcullis serve`), through the admin API with an
//! operator token bootstrapped by `portcullis admin`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portcullis_test_support::{Recorder, get};

const PASSWORD: &str = "a long admin password";

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

/// A running gateway with an `orders` API behind `verify-api-key`, and an operator token.
struct Gateway {
    _server: Server,
    dir: tempfile::TempDir,
    admin_url: String,
    public: String,
    token: String,
    _upstream: std::sync::Arc<Recorder>,
}

impl Gateway {
    async fn start() -> Self {
        let upstream = Recorder::start("orders").await;
        let dir = tempfile::tempdir().unwrap();
        let (port, admin) = (free_port(), free_port());
        let config = format!(
            "listeners: [ {{ name: public, address: \"127.0.0.1:{port}\" }} ]\n\
             admin: {{ address: \"127.0.0.1:{admin}\" }}\n\
             store: {{ sqlite: gw.db }}\n\
             apis:\n  - name: orders\n    base_path: /orders\n    upstream: {{ targets: [\"{}\"] }}\n    \
             policies: {{ request: [ {{ verify-api-key: {{ header: x-api-key }} }} ] }}\n",
            upstream.url()
        );
        let cfg = dir.path().join("gw.yaml");
        std::fs::write(&cfg, config).unwrap();
        let ok = |out: Output| {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        ok(bin()
            .args([
                "admin",
                "create-user",
                "--username",
                "root",
                "--role",
                "admin",
            ])
            .args(["--password-env", "PW", "--config"])
            .arg(&cfg)
            .env("PW", PASSWORD)
            .output()
            .unwrap());
        let token = ok(bin()
            .args([
                "admin",
                "create-token",
                "--username",
                "root",
                "--name",
                "ci",
            ])
            .args(["--role", "operator", "--config"])
            .arg(&cfg)
            .output()
            .unwrap());
        let child = bin()
            .args(["serve", "--watch-interval", "0", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let gw = Gateway {
            _server: Server(child),
            dir,
            admin_url: format!("http://127.0.0.1:{admin}"),
            public: format!("http://127.0.0.1:{port}"),
            token,
            _upstream: upstream,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let admin_addr = format!("127.0.0.1:{admin}");
        loop {
            // `get` panics on a refused connection: dial first.
            if tokio::net::TcpStream::connect(&admin_addr).await.is_ok()
                && get(&format!("{}/readyz", gw.admin_url), &[]).await.status == 200
            {
                break gw;
            }
            assert!(Instant::now() < deadline, "gateway did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `portcullis ARGS` against this gateway's admin API with the operator token.
    fn run(&self, args: &[&str]) -> Output {
        bin()
            .args(args)
            .args(["--admin-url", &self.admin_url])
            .env("PORTCULLIS_ADMIN_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

const PROGRAMME: &str = "\
environments:
  - name: default
  - name: prod
    description: production
products:
  - name: orders
    display_name: Orders
    apis: [orders]
    paths: [\"/**\"]
    methods: [GET]
  - name: orders-admin
    apis: [orders]
    paths: [\"/admin/**\"]
    approval: manual
developers:
  - email: ann@example.com
    name: Ann
    apps:
      - name: shop
        callback_urls: [\"https://shop.example/cb\"]
";

#[tokio::test]
async fn apply_diff_export_round_trip_through_the_admin_api() {
    let gw = Gateway::start().await;
    let prog = gw.file("programme.yaml", PROGRAMME);

    let out = gw.run(&["apply", "-f", path(&prog)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // `default` exists already: the listener's environment is provisioned at boot.
    assert_eq!(
        stdout(&out),
        "+ environment prod\n+ product orders\n+ product orders-admin\n\
         + developer ann@example.com\n+ app ann@example.com/shop\n"
    );

    let out = gw.run(&["diff", "-f", path(&prog)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");

    // Edit the file: diff shows exactly the change (exit 2) and writes nothing.
    let edited = PROGRAMME.replace("methods: [GET]", "methods: [GET, POST]");
    let prog = gw.file("programme.yaml", &edited);
    for _ in 0..2 {
        let out = gw.run(&["diff", "-f", path(&prog)]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(stdout(&out), "~ product orders: methods\n");
    }
    let out = gw.run(&["apply", "-f", path(&prog)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "~ product orders: methods\n");
    assert_eq!(gw.run(&["diff", "-f", path(&prog)]).status.code(), Some(0));

    // Export round-trips: applying it (even with prune) changes nothing, and a second export
    // is byte-identical.
    let exported = gw.dir.path().join("export.yaml");
    let out = gw.run(&["export", "-o", path(&exported)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(
        text.contains("orders-admin") && text.contains("ann@example.com"),
        "{text}"
    );
    assert!(
        text.contains("approval: manual") && text.contains("status: approved"),
        "{text}"
    );
    let out = gw.run(&["apply", "--prune", "-f", path(&exported)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "export then apply changes nothing");
    let again = gw.run(&["export"]);
    assert_eq!(stdout(&again), text);

    // Prune through the CLI: the file without orders-admin and the shop app.
    let smaller = edited
        .replace(
            "  - name: orders-admin\n    apis: [orders]\n    paths: [\"/admin/**\"]\n    approval: manual\n",
            "",
        )
        .replace(
            "    apps:\n      - name: shop\n        callback_urls: [\"https://shop.example/cb\"]\n",
            "",
        );
    let small = gw.file("small.yaml", &smaller);
    let out = gw.run(&["diff", "-f", path(&small)]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), String::new()),
        "without --prune nothing is deleted"
    );
    let out = gw.run(&["apply", "--prune", "--dry-run", "-f", path(&small)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "- app ann@example.com/shop\n- product orders-admin\n"
    );
    assert_eq!(
        stdout(&gw.run(&["export"])),
        text,
        "a dry run changes nothing"
    );
}

#[tokio::test]
async fn an_invalid_document_is_refused_with_its_line_and_changes_nothing() {
    let gw = Gateway::start().await;
    let before = stdout(&gw.run(&["export"]));
    let bad = PROGRAMME
        .replace(
            "paths: [\"/admin/**\"]",
            "paths: [\"/admin/**\", \"admin\"]",
        )
        .replace("name: Ann", "name: Ann\n    colour: blue");
    let prog = gw.file("bad.yaml", &bad);
    let out = gw.run(&["apply", "-f", path(&prog)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:line 18: developers[0].colour: unknown field",
            path(&prog)
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    // Shape fixed, one semantic problem left: reported at its line, nothing written.
    let bad = bad.replace("\n    colour: blue", "");
    let prog = gw.file("bad.yaml", &bad);
    let out = gw.run(&["apply", "-f", path(&prog)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:line 13: products[1].paths[1]: invalid resource path 'admin': must start with '/'",
            path(&prog)
        )),
        "{err}"
    );
    assert_eq!(stdout(&gw.run(&["export"])), before);
    let out = gw.run(&["diff", "-f", path(&prog)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "diff fails on an invalid file too"
    );

    // YAML syntax errors never reach the API.
    let prog = gw.file("broken.yaml", "products:\n  - name: [x\n");
    let out = gw.run(&["apply", "-f", path(&prog)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("broken.yaml:line "),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn management_commands_issue_approve_rotate_and_revoke_credentials() {
    let gw = Gateway::start().await;
    let prog = gw.file("programme.yaml", PROGRAMME);
    assert!(gw.run(&["apply", "-f", path(&prog)]).status.success());

    let out = gw.run(&[
        "developers",
        "create",
        "--email",
        "bob@example.com",
        "--name",
        "Bob",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("+ developer bob@example.com (dev_"),
        "{}",
        stdout(&out)
    );
    let out = gw.run(&[
        "developers",
        "create",
        "--email",
        "not-an-email",
        "--name",
        "X",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/email"), "{}", stderr(&out));
    let list = stdout(&gw.run(&["developers", "list"]));
    assert!(
        list.contains("ann@example.com") && list.contains("bob@example.com"),
        "{list}"
    );

    let out = gw.run(&[
        "apps",
        "create",
        "--developer",
        "bob@example.com",
        "--name",
        "cli",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let apps = stdout(&gw.run(&["apps", "list", "--developer", "ann@example.com"]));
    let app_id = apps
        .lines()
        .find(|l| l.contains(" shop "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{apps}"))
        .to_owned();
    assert!(app_id.starts_with("app_"), "{apps}");
    let products = stdout(&gw.run(&["products", "list"]));
    assert!(
        products.contains("orders-admin") && products.contains("manual"),
        "{products}"
    );

    // Issue a key for `orders`, call the API with it, then rotate and revoke.
    let out = gw.run(&[
        "credentials",
        "create",
        "--app",
        &app_id,
        "--product",
        "orders",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let issued = stdout(&out);
    let key = issued
        .lines()
        .find_map(|l| l.strip_prefix("consumer_key: "))
        .unwrap_or_else(|| panic!("{issued}"))
        .to_owned();
    assert!(issued.contains("consumer_secret: pcs_"), "{issued}");
    let prefix = &key[..12];
    let url = format!("{}/orders/items", gw.public);
    eventually_status(&url, &key, 200).await;

    let out = gw.run(&[
        "credentials",
        "approve",
        prefix,
        "--product",
        "orders-admin",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "+ credential {prefix}: product orders-admin\n~ credential {prefix}: orders-admin approved\n"
        )
    );

    let out = gw.run(&["credentials", "rotate", prefix, "--overlap", "1h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let new_key = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("consumer_key: "))
        .unwrap()
        .to_owned();
    assert_ne!(new_key, key);
    eventually_status(&url, &new_key, 200).await;
    eventually_status(&url, &key, 200).await;

    let out = gw.run(&["credentials", "revoke", prefix]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("~ credential {prefix}: status revoked\n")
    );
    eventually_status(&url, &key, 401).await;
    eventually_status(&url, &new_key, 200).await;

    let out = gw.run(&["credentials", "revoke", "pcl_nosuchkey"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));

    // Without a token nothing is sent.
    let out = bin()
        .args(["products", "list", "--admin-url", &gw.admin_url])
        .env_remove("PORTCULLIS_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("PORTCULLIS_ADMIN_TOKEN"),
        "{}",
        stderr(&out)
    );
}

/// Waits (up to the propagation bound and some) until `key` gets `status` at `url`.
async fn eventually_status(url: &str, key: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = get(url, &[("x-api-key", key)]).await.status;
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} with {}… answers {got}, not {status}",
            &key[..12]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
