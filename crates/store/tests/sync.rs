//! SQLite-only IndexSync checks: changes made by another process or by hand reach the index.
//! Cross-handle behaviour shared with PostgreSQL lives in the contract suite.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use portcullis_store::{DEFAULT_POLL, IndexSync, KeyIndex, KeyLookup, KeyRepository, SqliteStore};

#[path = "contract/harness.rs"]
mod harness;

use harness::{eventually, start_index};

/// One fixed master key for every handle in this test binary, so handles agree on hashes.
fn test_keyring() -> std::sync::Arc<portcullis_store::Keyring> {
    std::sync::Arc::new(portcullis_store::Keyring::from_master(&[5; 32]))
}

async fn start_gateway(path: &Path, poll: Duration) -> (Arc<SqliteStore>, Arc<KeyIndex>) {
    let store = Arc::new(SqliteStore::open(path, test_keyring()).await.unwrap());
    let index = start_index(store.clone(), poll).await;
    (store, index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_that_bypasses_the_change_log_is_still_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let (gw, index) = start_gateway(&path, Duration::from_millis(100)).await;
    let app = gw.ensure_app("a@example.com", "shop").await.unwrap();
    let (_, secret) = gw.create_key(&app.id, None).await.unwrap();
    eventually(&index, secret.expose(), KeyLookup::is_valid).await;

    // An operator with the sqlite3 shell: no change_log row, so only data_version moves.
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE developers SET status = 'inactive'")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    eventually(&index, secret.expose(), |l| {
        matches!(l, KeyLookup::DeveloperInactive(_))
    })
    .await;
}

/// Child half of the cross-process test: runs only when the parent sets the variable.
#[tokio::test]
#[ignore = "spawned by cross_process_writer_is_seen"]
async fn child_writer() {
    let Ok(path) = std::env::var("PCL_STORE_CHILD_DB") else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path), test_keyring())
        .await
        .unwrap();
    let app = store
        .ensure_app("cli@example.com", "from-cli")
        .await
        .unwrap();
    let (_, secret) = store.create_key(&app.id, None).await.unwrap();
    let action = std::env::var("PCL_STORE_CHILD_REVOKE").ok();
    if let Some(prefix) = action {
        store.revoke_key(&prefix).await.unwrap();
    }
    println!("CHILD_KEY={}", secret.expose());
}

fn run_child(path: &Path, revoke: Option<&str>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_writer",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PCL_STORE_CHILD_DB", path);
    if let Some(prefix) = revoke {
        cmd.env("PCL_STORE_CHILD_REVOKE", prefix);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .lines()
        // libtest may print "test child_writer ... " on the same line first.
        .find_map(|l| l.split_once("CHILD_KEY=").map(|(_, k)| k.trim().to_owned()))
        .expect("child printed its key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_process_writer_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let (_gw, index) = start_gateway(&path, DEFAULT_POLL).await;

    let first = tokio::task::spawn_blocking({
        let path = path.clone();
        move || run_child(&path, None)
    })
    .await
    .unwrap();
    let took = eventually(&index, &first, KeyLookup::is_valid).await;
    // The second child revokes the first child's key (by prefix) from its own process.
    let second = tokio::task::spawn_blocking({
        let path = path.clone();
        let prefix = first[..12].to_owned();
        move || run_child(&path, Some(&prefix))
    })
    .await
    .unwrap();
    let took_revoke = eventually(&index, &first, |l| matches!(l, KeyLookup::Revoked(_))).await;
    eventually(&index, &second, KeyLookup::is_valid).await;
    eprintln!("cross-process propagation: create {took:?}, revoke {took_revoke:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keys_index_and_look_up() {
    let store = SqliteStore::open_in_memory(test_keyring()).await.unwrap();
    let app = store.ensure_app("bulk@example.com", "bulk").await.unwrap();
    let started = Instant::now();
    let mut secrets = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        secrets.push(store.create_key(&app.id, None).await.unwrap().1);
    }
    let created = started.elapsed();
    let index = KeyIndex::with_keyring(test_keyring());
    let started = Instant::now();
    IndexSync::refresh(&store, &index).await.unwrap();
    let loaded = started.elapsed();
    assert_eq!(index.len(), 10_000);

    let now = SystemTime::now();
    let started = Instant::now();
    for s in &secrets {
        assert!(index.lookup(s.expose(), now).is_valid());
    }
    let per_lookup = started.elapsed() / 10_000;
    for s in &secrets {
        // Same length and prefix, one character off: must not match.
        let mut wrong = s.expose().to_owned();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert!(matches!(index.lookup(&wrong, now), KeyLookup::Unknown));
    }
    let prefixes: std::collections::HashSet<_> = store
        .list_keys(None)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.prefix)
        .collect();
    assert_eq!(prefixes.len(), 10_000);
    eprintln!("10k keys: create {created:?}, load+index {loaded:?}, lookup {per_lookup:?}/key");
}
