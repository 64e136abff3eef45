//! Batch signing of gift receipts: one task owns a signer, takes every
//! receipt waiting in its bounded queue (up to [`MAX_TREE`] at a time), makes
//! them the leaves of one Merkle tree, signs the root once and answers each
//! request with its receipt and inclusion proof. Under load one ed25519
//! signature covers many gifts; a lone receipt is a tree of one.
use tokio::sync::{mpsc, oneshot};

use super::signer::Signer;
use crate::{
    metrics::Metrics,
    signed::{BatchLeaf, GiftReceipt, Signed, SignedReceipt, VerifyError},
};

/// Most receipts under one signature.
pub(crate) const MAX_TREE: usize = 256;

/// Why a receipt could not be signed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// The queue is full: too many receipts waiting.
    #[error("receipt signer overloaded")]
    Overloaded,
    /// The signing task has stopped.
    #[error("receipt signer stopped")]
    Closed,
    /// The receipt could not be encoded or the batch was refused.
    #[error("signing: {0}")]
    Sign(#[from] VerifyError),
}

type Reply = oneshot::Sender<Result<SignedReceipt, VerifyError>>;

/// Handle to the batch-signing task; the task ends when the handle is dropped.
#[derive(Debug)]
pub(crate) struct ReceiptBatcher {
    tx: mpsc::Sender<(BatchLeaf<GiftReceipt>, Reply)>,
}

impl ReceiptBatcher {
    /// Starts the task with `signer` and room for `queue` waiting receipts;
    /// each tree's size goes to `metrics`.
    pub(crate) fn start(signer: Signer, queue: usize, metrics: Metrics) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(run(signer, rx, metrics));
        ReceiptBatcher { tx }
    }

    /// Signs `body` in the next batch.
    pub(crate) async fn sign(&self, body: GiftReceipt) -> Result<SignedReceipt, BatchError> {
        // The leaf hash is computed here, on the caller's task, in parallel.
        let leaf = BatchLeaf::new(body)?;
        let (reply, answer) = oneshot::channel();
        self.tx.try_send((leaf, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => BatchError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => BatchError::Closed,
        })?;
        Ok(answer.await.map_err(|_| BatchError::Closed)??)
    }
}

async fn run(
    signer: Signer,
    mut rx: mpsc::Receiver<(BatchLeaf<GiftReceipt>, Reply)>,
    metrics: Metrics,
) {
    let mut jobs = Vec::with_capacity(MAX_TREE);
    while rx.recv_many(&mut jobs, MAX_TREE).await > 0 {
        // The first send woke this task straight after its sender (tokio's
        // LIFO slot), ahead of the other requests that the same ledger
        // commit woke: let them run and queue their receipts first.
        if jobs.len() < MAX_TREE {
            tokio::task::yield_now().await;
            while jobs.len() < MAX_TREE {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        let (leaves, replies): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
        match Signed::sign_batch(leaves, |m| signer.sign_bytes(m)) {
            Ok(signed) => {
                tracing::trace!(size = signed.len(), "receipt batch signed");
                metrics.receipt_batch(signed.len());
                for (r, reply) in signed.into_iter().zip(replies) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "receipt batch not signed");
                for reply in replies {
                    let _ = reply.send(Err(VerifyError::Encoding));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use rand::rngs::OsRng;

    use super::*;

    fn receipt(n: i64) -> GiftReceipt {
        GiftReceipt {
            v: 1,
            receipt_id: format!("s/{n}"),
            sender: "s".into(),
            receiver: "r".into(),
            room: "room".into(),
            gift: "rose".into(),
            animation: "anim.rose".into(),
            coins: n,
            diamonds: n / 2,
            ts_ms: n,
        }
    }

    #[tokio::test]
    async fn concurrent_receipts_share_a_signature_and_verify_alone(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let key = SigningKey::generate(&mut OsRng);
        let metrics = Metrics::new();
        let b = std::sync::Arc::new(ReceiptBatcher::start(
            Signer::new(&key),
            1024,
            metrics.clone(),
        ));
        // Queue all before the task runs: one current-thread runtime.
        let tasks: Vec<_> = (0..300)
            .map(|n| {
                let b = b.clone();
                tokio::spawn(async move { b.sign(receipt(n)).await })
            })
            .collect();
        let mut sizes = Vec::new();
        for (n, t) in (0i64..).zip(tasks) {
            let r = t.await??;
            assert_eq!(r.verify_signature(&key.verifying_key())?.coins, n);
            sizes.push(r.batch.ok_or("no batch proof")?.size);
        }
        assert!(sizes.iter().all(|s| *s as usize <= MAX_TREE));
        assert!(sizes.iter().any(|s| *s > 1), "no batching: {sizes:?}");
        // Every receipt is counted once in the batch-size histogram.
        let m = metrics.render();
        assert!(
            m.contains("aura_billing_receipts_per_signature_sum 300"),
            "{m}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn full_queue_is_an_overload_error() -> Result<(), Box<dyn std::error::Error>> {
        let key = SigningKey::generate(&mut OsRng);
        let b = ReceiptBatcher::start(Signer::new(&key), 1, Metrics::new());
        // The task has not run yet (current-thread runtime): the first job
        // fills the queue, the second is refused at once.
        let first = b.sign(receipt(1));
        let second = b.sign(receipt(2));
        let (first, second) = tokio::join!(first, second);
        assert!(matches!(second, Err(BatchError::Overloaded)));
        first?;
        Ok(())
    }
}
