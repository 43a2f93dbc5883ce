//! Group commit for issued tokens: the token endpoint's hot path is one database write per
//! token, and on SQLite each commit waits for the disk. Concurrent issuances are therefore
//! queued to one writer task that stores everything waiting in a single transaction and then
//! answers every caller. A token is only handed to its client after its batch committed, so
//! batching never returns a token the store does not know. Batches are capped so one commit
//! stays short.

use std::sync::Arc;

use portcullis_store::{NewToken, OAuthRepository, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most issuances stored in one transaction.
const MAX_BATCH: usize = 256;
/// Queued issuances before callers wait for room.
const QUEUE: usize = 4096;

type Job = (Vec<NewToken>, oneshot::Sender<Result<(), String>>);

/// Handle to the writer task. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct TokenWriter {
    tx: mpsc::Sender<Job>,
}

impl TokenWriter {
    /// Starts the writer task on the current runtime.
    pub(crate) fn spawn(store: Arc<dyn OAuthRepository>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
                let tokens: Vec<NewToken> =
                    jobs.iter().flat_map(|(t, _)| t.iter().cloned()).collect();
                let result = store.store_tokens(&tokens).await.map_err(|e| {
                    tracing::warn!(error = %e, batch = jobs.len(), "storing issued tokens failed");
                    e.to_string()
                });
                for (_, done) in jobs.drain(..) {
                    let _ = done.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// Stores `tokens` (in some batch) and returns once they are committed.
    pub(crate) async fn store(&self, tokens: Vec<NewToken>) -> Result<(), StoreError> {
        let gone = || StoreError::Unavailable("token writer stopped".into());
        let (done, wait) = oneshot::channel();
        self.tx.send((tokens, done)).await.map_err(|_| gone())?;
        match wait.await.map_err(|_| gone())? {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(e.into())),
        }
    }
}
