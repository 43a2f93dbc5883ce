//! Single use of client assertions (private_key_jwt, RFC 7523 §3 "jti"): the first use of a
//! (client, jti) pair records it until the assertion expires; a second use while the row is
//! live is a replay. The check and the insert are one statement under the backend's write
//! serialisation, so of concurrent uses on any number of nodes exactly one wins.

use std::time::SystemTime;

use super::super::backend::Backend;
use super::super::repo::commit;
use super::super::{Arg, SqlConn};
use crate::StoreError;
use crate::model::to_millis;
use crate::secret::KeyHash;

pub(crate) async fn use_assertion_jti<B: Backend>(
    b: &B,
    hash: &KeyHash,
    expires_at: SystemTime,
    now: SystemTime,
) -> Result<bool, StoreError> {
    let mut tx = b.begin_write().await?;
    // A row whose assertion has expired is dead (its assertion can no longer be accepted), so
    // it is taken over rather than blocking a legitimate reuse until the hourly purge.
    let changed = tx
        .exec(
            "INSERT INTO oauth_assertion_jtis (jti_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti_hash) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE oauth_assertion_jtis.expires_at <= $3",
            &[
                Arg::Bytes(hash.as_bytes()),
                Arg::Int(to_millis(expires_at)),
                Arg::Int(to_millis(now)),
            ],
        )
        .await?;
    commit(b, tx, None).await?;
    Ok(changed == 1)
}

/// Deletes the rows of assertions that expired before `before` (part of the hourly purge).
pub(crate) async fn purge<C: SqlConn + ?Sized>(
    conn: &mut C,
    before: SystemTime,
) -> Result<u64, StoreError> {
    conn.exec(
        "DELETE FROM oauth_assertion_jtis WHERE expires_at < $1",
        &[Arg::Int(to_millis(before))],
    )
    .await
}
