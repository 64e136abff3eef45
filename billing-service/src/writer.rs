//! The group-commit writer: one task owns all ledger writes and commits many
//! requests' transfers in one transaction, replying to each request only
//! after its batch is durable. `PerRequest` mode (one transaction per request,
//! run concurrently) is kept for comparison.
use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, oneshot};

use crate::{
    clock::Clock,
    durability::{self, WalSyncer},
    ledger::{ChainOutcome, Transfer},
    metrics::Metrics,
    storage::{AnyStore, Storage, StoreError},
};

/// How ledger writes reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CommitMode {
    /// One writer task, many requests per transaction (group commit).
    #[default]
    Batched,
    /// One transaction per request, concurrently.
    PerRequest,
}

impl std::str::FromStr for CommitMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "batched" => Ok(CommitMode::Batched),
            "per-request" => Ok(CommitMode::PerRequest),
            _ => Err(format!("commit mode {s:?}: use batched or per-request")),
        }
    }
}

/// A ledger write failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer task stopped (shutting down).
    #[error("ledger writer stopped")]
    Closed,
    /// Too many writes are queued.
    #[error("ledger overloaded")]
    Overloaded,
    /// The batch committed but flushing it to disk failed, so it may not
    /// survive a power loss; retrying the same ids is safe.
    #[error("ledger commit not flushed to disk")]
    NotDurable,
}

/// What a request is answered.
type Answer = Result<ChainOutcome, LedgerError>;

struct Job {
    chain: Vec<Transfer>,
    reply: oneshot::Sender<Answer>,
}

/// Handle to submit transfers; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Job>,
    store: Arc<AnyStore>,
    mode: CommitMode,
    clock: Clock,
}

const QUEUE: usize = 65_536;

/// Where a batch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The writer's own thread: SQLite is called directly, blocking it.
    OwnThread,
    /// A shared runtime worker: through the async storage API.
    Runtime,
}

async fn apply_once(
    store: &AnyStore,
    chains: &[Vec<Transfer>],
    now_us: i64,
    sweep: bool,
    caller: Caller,
) -> Result<Vec<ChainOutcome>, StoreError> {
    match store {
        AnyStore::Sqlite(s) if caller == Caller::OwnThread => {
            s.apply_batch_blocking(chains, now_us, sweep)
        }
        _ => store.apply_batch(chains, now_us, sweep).await,
    }
}

async fn apply_retrying(
    store: &AnyStore,
    chains: &[Vec<Transfer>],
    clock: &Clock,
    sweep: bool,
    caller: Caller,
) -> Result<Vec<ChainOutcome>, StoreError> {
    let mut attempt = 0;
    loop {
        match apply_once(store, chains, clock.now_us(), sweep, caller).await {
            Err(e) if e.is_retryable() && attempt < 8 => {
                attempt += 1;
                tracing::debug!(attempt, error = %e, "retrying ledger transaction");
                tokio::time::sleep(Duration::from_millis(1 << attempt.min(6))).await;
            }
            r => return r,
        }
    }
}

impl Ledger {
    /// Starts the writer task (in `Batched` mode) and returns the handle;
    /// fails only if the writer's thread cannot be started.
    pub fn start(
        store: Arc<AnyStore>,
        mode: CommitMode,
        max_batch: usize,
        clock: Clock,
        metrics: Metrics,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        // SQLite commits without waiting for the disk; a thread fsyncs the
        // WAL and answers (see `durability`).
        let syncer = match store.wal_file() {
            Some(wal) if mode == CommitMode::Batched => {
                Some(WalSyncer::start(wal, |_| Err(LedgerError::NotDurable))?)
            }
            _ => None,
        };
        let caller = match &*store {
            // SQLite is a library call: the writer gets a thread of its own
            // and runs each batch straight through on it, never waiting
            // behind HTTP requests for a runtime worker.
            AnyStore::Sqlite(_) => Caller::OwnThread,
            // PostgreSQL connections are sockets of the runtime that opened them.
            AnyStore::Postgres(_) => Caller::Runtime,
        };
        let writer = run(
            store.clone(),
            rx,
            max_batch.max(1),
            clock.clone(),
            metrics,
            syncer,
            caller,
        );
        match caller {
            Caller::OwnThread => spawn_on_own_thread(writer)?,
            Caller::Runtime => {
                tokio::spawn(writer);
            }
        }
        Ok(Ledger {
            tx,
            store,
            mode,
            clock,
        })
    }

    /// Commits one chain of linked transfers (all or nothing) and returns its
    /// outcome once durable.
    pub async fn submit(&self, chain: Vec<Transfer>) -> Result<ChainOutcome, LedgerError> {
        if self.mode == CommitMode::PerRequest {
            let chains = [chain];
            let mut out =
                apply_retrying(&self.store, &chains, &self.clock, false, Caller::Runtime).await?;
            if let Some(wal) = self.store.wal_file() {
                tokio::task::spawn_blocking(move || durability::fsync(&wal))
                    .await
                    .map_err(|_| LedgerError::NotDurable)?
                    .map_err(|_| LedgerError::NotDurable)?;
            }
            return out.pop().ok_or(LedgerError::Closed);
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Job { chain, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => LedgerError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => LedgerError::Closed,
            })?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    /// The store behind this ledger (for reads).
    pub fn store(&self) -> &Arc<AnyStore> {
        &self.store
    }
}

/// Runs the writer on a thread of its own with a single-threaded runtime.
fn spawn_on_own_thread(
    writer: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Timers only: SQLite needs no sockets, and without an I/O driver the
    // idle thread parks on a futex instead of `epoll_wait`.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || rt.block_on(writer))?;
    Ok(())
}

/// Answers requests whose batch committed: through the fsync thread when
/// commits do not wait for the disk themselves.
fn answer(syncer: Option<&WalSyncer<Answer>>, answers: Vec<(oneshot::Sender<Answer>, Answer)>) {
    match syncer {
        Some(s) => s.answer_when_durable(answers),
        None => {
            for (reply, a) in answers {
                let _ = reply.send(a);
            }
        }
    }
}

async fn run(
    store: Arc<AnyStore>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    clock: Clock,
    metrics: Metrics,
    syncer: Option<WalSyncer<Answer>>,
    caller: Caller,
) {
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let do_sweep = tokio::select! {
            n = rx.recv_many(&mut jobs, max_batch) => {
                if n == 0 {
                    break;
                }
                false
            }
            _ = sweep.tick() => true,
        };
        let started = std::time::Instant::now();
        let chains: Vec<Vec<Transfer>> = jobs
            .iter_mut()
            .map(|j| std::mem::take(&mut j.chain))
            .collect();
        let result = apply_retrying(&store, &chains, &clock, do_sweep, caller).await;
        metrics.batch(chains.len(), started.elapsed());
        match result {
            Ok(outcomes) => {
                let answers = jobs.drain(..).zip(outcomes);
                answer(
                    syncer.as_ref(),
                    answers.map(|(j, o)| (j.reply, Ok(o))).collect(),
                );
            }
            Err(e) if chains.len() > 1 => {
                // Isolate the request that broke the batch: commit one by one.
                tracing::warn!(error = %e, size = chains.len(), "batch failed; retrying singly");
                let mut answers = Vec::with_capacity(chains.len());
                for (job, chain) in jobs.drain(..).zip(chains) {
                    let one = std::slice::from_ref(&chain);
                    let r = apply_retrying(&store, one, &clock, false, caller).await;
                    match r.map(|mut v| v.pop()) {
                        Ok(Some(o)) => answers.push((job.reply, Ok(o))),
                        Ok(None) => drop(job.reply.send(Err(LedgerError::Closed))),
                        Err(e) => drop(job.reply.send(Err(e.into()))),
                    }
                }
                answer(syncer.as_ref(), answers);
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger transaction failed");
                for job in jobs.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(LedgerError::Store(StoreError::Corrupt(e.to_string()))));
                }
            }
        }
    }
    tracing::info!("ledger writer stopped");
}
