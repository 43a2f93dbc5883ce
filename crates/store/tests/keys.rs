//! SQLite-only storage checks against real files: what reaches the disk. Backend-neutral
//! repository behaviour lives in the contract suite (`tests/contract.rs`).

use std::path::Path;

use portcullis_store::{KeyRepository, SqliteStore};
use sqlx::Row;

/// One fixed master key for every handle in this test binary, so handles agree on hashes.
fn test_keyring() -> std::sync::Arc<portcullis_store::Keyring> {
    std::sync::Arc::new(portcullis_store::Keyring::from_master(&[5; 32]))
}

async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("keys.db"), test_keyring())
        .await
        .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn db_files(dir: &Path) -> Vec<Vec<u8>> {
    ["keys.db", "keys.db-wal", "keys.db-shm"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .collect()
}

#[tokio::test]
async fn only_the_hash_of_a_key_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let mut secrets = Vec::new();
    for _ in 0..3 {
        secrets.push(store.create_key(&app.id, None).await.unwrap().1);
    }

    // Row level: the hash column is SHA-256 of the key and no column holds the plaintext.
    let raw = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("keys.db").display()
    ))
    .await
    .unwrap();
    for secret in &secrets {
        let row = sqlx::query("SELECT * FROM api_keys WHERE prefix = $1")
            .bind(secret.prefix())
            .fetch_one(&raw)
            .await
            .unwrap();
        let hash: Vec<u8> = row.try_get("key_hash").unwrap();
        assert_eq!(
            hash,
            test_keyring()
                .hash_credential(secret.expose())
                .as_bytes()
                .to_vec()
        );
        for col in ["id", "app_id", "prefix", "status"] {
            let v: String = row.try_get(col).unwrap();
            assert!(
                !v.contains(&secret.expose()[12..]),
                "column {col} leaks the key"
            );
        }
    }
    raw.close().await;

    // File level, WAL included, while open and after close (checkpointed into the main file).
    let mut hash_seen = false;
    for phase in ["open", "closed"] {
        if phase == "closed" {
            store.close().await;
        }
        for bytes in db_files(dir.path()) {
            for secret in &secrets {
                let tail = &secret.expose().as_bytes()[12..];
                assert!(
                    !contains(&bytes, tail),
                    "plaintext key found in a db file ({phase})"
                );
                hash_seen |= contains(
                    &bytes,
                    test_keyring().hash_credential(secret.expose()).as_bytes(),
                );
            }
        }
    }
    assert!(
        hash_seen,
        "the scan must be able to see stored values at all"
    );
}
