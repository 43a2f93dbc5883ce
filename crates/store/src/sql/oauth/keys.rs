//! Token-signing keys: private halves sealed with the master key's signing-key subkey (bound
//! to the kid, so a ciphertext moved to another row does not open), rotated atomically so two
//! nodes rotating at once produce one active key.

use std::time::SystemTime;

use super::super::backend::Backend;
use super::super::repo::commit;
use super::super::{Arg, SqlConn, SqlRow};
use super::clients::opt_time;
use crate::StoreError;
use crate::keyring::Purpose;
use crate::model::{from_millis, to_millis};
use crate::oauth::{NewSigningKey, SigningKeyRecord, SigningKeyState};

async fn insert<B: Backend, C: SqlConn + ?Sized>(
    b: &B,
    conn: &mut C,
    key: &NewSigningKey,
    now: SystemTime,
) -> Result<(), StoreError> {
    let sealed = b
        .keyring()
        .seal(Purpose::SigningKeys, key.kid.as_bytes(), &key.private_pkcs8)?;
    let activated = (key.state == SigningKeyState::Active).then(|| to_millis(now));
    conn.exec(
        "INSERT INTO oauth_signing_keys (kid, alg, private_key, public_jwk, state, created_at, \
         activated_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        &[
            Arg::Text(&key.kid),
            Arg::Text(&key.alg),
            Arg::Bytes(&sealed),
            Arg::Text(&key.public_jwk),
            Arg::Text(key.state.as_str()),
            Arg::Int(to_millis(now)),
            Arg::OptInt(activated),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn signing_keys<B: Backend>(b: &B) -> Result<Vec<SigningKeyRecord>, StoreError> {
    let mut conn = b.read_conn().await?;
    let rows = conn
        .fetch_all(
            "SELECT kid, alg, private_key, public_jwk, state, created_at, activated_at, \
             retired_at FROM oauth_signing_keys ORDER BY created_at, kid",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let kid = row.text("kid")?;
            let private_pkcs8 = b.keyring().open(
                Purpose::SigningKeys,
                kid.as_bytes(),
                &row.bytes("private_key")?,
            )?;
            Ok(SigningKeyRecord {
                alg: row.text("alg")?,
                private_pkcs8,
                public_jwk: row.text("public_jwk")?,
                state: SigningKeyState::parse(&row.text("state")?)?,
                created_at: from_millis(row.int("created_at")?),
                activated_at: opt_time(row.opt_int("activated_at")?),
                retired_at: opt_time(row.opt_int("retired_at")?),
                kid,
            })
        })
        .collect()
}

pub(crate) async fn add_signing_key<B: Backend>(
    b: &B,
    key: &NewSigningKey,
) -> Result<(), StoreError> {
    let mut tx = b.begin_write().await?;
    insert(b, &mut *tx, key, SystemTime::now()).await?;
    commit(b, tx, None).await
}

pub(crate) async fn rotate_signing_keys<B: Backend>(
    b: &B,
    promote: &str,
    new_next: &NewSigningKey,
) -> Result<bool, StoreError> {
    let now = SystemTime::now();
    let at = to_millis(now);
    let mut tx = b.begin_write().await?;
    let state = tx
        .fetch_opt(
            "SELECT state FROM oauth_signing_keys WHERE kid = $1",
            &[Arg::Text(promote)],
        )
        .await?
        .map(|r| r.text("state"))
        .transpose()?;
    if state.as_deref() != Some(SigningKeyState::Next.as_str()) {
        return Ok(false);
    }
    tx.exec(
        "UPDATE oauth_signing_keys SET state = 'retired', retired_at = $1 WHERE state = 'active'",
        &[Arg::Int(at)],
    )
    .await?;
    tx.exec(
        "UPDATE oauth_signing_keys SET state = 'active', activated_at = $2 WHERE kid = $1",
        &[Arg::Text(promote), Arg::Int(at)],
    )
    .await?;
    insert(b, &mut *tx, new_next, now).await?;
    commit(b, tx, None).await?;
    Ok(true)
}

pub(crate) async fn delete_retired_keys<B: Backend>(
    b: &B,
    before: SystemTime,
) -> Result<u64, StoreError> {
    let mut tx = b.begin_write().await?;
    let n = tx
        .exec(
            "DELETE FROM oauth_signing_keys WHERE state = 'retired' AND retired_at < $1",
            &[Arg::Int(to_millis(before))],
        )
        .await?;
    commit(b, tx, None).await?;
    Ok(n)
}
