//! The embedded SQLite backend (the default: nothing to install): its
//! [`Dialect`] and how it opens. The statements it shares with PostgreSQL
//! live in [`super::sql`].
//!
//! Durability: WAL journal. The pool's commits are fsynced before they return
//! (`synchronous=FULL`); ledger batches commit with `NORMAL` on the writer's
//! connection and the writer answers them only after fsyncing the WAL on
//! another thread (`durability`), so every answered gift survives a power
//! loss, not only a process crash, and the disk flush of one batch overlaps
//! the next batch.
//!
//! Ledger batches run on one connection of their own ([`SqliteLedger`]),
//! called directly by the ledger writer's thread; everything else goes
//! through a sqlx pool.
use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use sqlx::{
    query::Query,
    sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
        SqliteQueryResult, SqliteSynchronous,
    },
    Sqlite,
};

use super::{
    sql::{Dialect, SqlStore},
    sqlite_ledger::SqliteLedger,
    StoreError,
};
use crate::ledger::{ChainOutcome, Transfer};

/// A SQLite database.
pub type SqliteStore = SqlStore<Sqlite>;

/// What a SQLite store keeps next to its pool.
#[derive(Debug, Clone)]
pub struct SqliteOwn {
    /// Ledger batches always run on this one connection, so its page cache,
    /// prepared statements and account cache stay warm (a pool hands out its
    /// connections in turn, and a SQLite connection drops its page cache
    /// whenever another connection wrote since its last transaction).
    ledger: Arc<Mutex<SqliteLedger>>,
    /// The database's WAL file; `None` for an in-memory database.
    wal: Option<PathBuf>,
}

impl Dialect for Sqlite {
    type Own = SqliteOwn;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    /// The ids are bound as one JSON array.
    const ID_IN_LIST: &'static str = "IN (SELECT value FROM json_each($1))";

    fn bind_ids<'q>(
        q: Query<'q, Sqlite, SqliteArguments<'q>>,
        ids: &'q [String],
    ) -> Query<'q, Sqlite, SqliteArguments<'q>> {
        q.bind(Value::from(ids.to_vec()).to_string())
    }

    fn rows_affected(r: &SqliteQueryResult) -> u64 {
        r.rows_affected()
    }

    /// Applies a batch in one `BEGIN IMMEDIATE` transaction, on a blocking
    /// thread (the ledger writer calls [`SqliteStore::apply_batch_blocking`]).
    async fn apply_batch(
        store: &SqliteStore,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let store = store.clone();
        let chains = chains.to_vec();
        tokio::task::spawn_blocking(move || store.apply_batch_blocking(&chains, now_us, sweep))
            .await
            .map_err(|e| StoreError::Thread(e.to_string()))?
    }
}

impl SqliteStore {
    /// Opens (creating) and migrates the database, e.g. `sqlite://data/billing.db`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // 8 MB of page cache: the hot pages (the right edge of `transfers`,
            // the busy accounts) fit, and SQLite scans the whole cache hash at
            // every commit when it is large (6 % of all CPU at 64 MB).
            .pragma("cache_size", "-8192")
            // Statement journals stay in memory, not temp files.
            .pragma("temp_store", "memory")
            // Checkpoint the WAL every 10,000 pages (~40 MB) instead of 1,000:
            // batches of gifts rewrite the same index and account pages, which
            // a checkpoint copies back once however often they were rewritten
            // (-10% CPU per gift in the ledger bench).
            .pragma("wal_autocheckpoint", "10000");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let file = opts.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty()
            || file == Path::new(":memory:")
            || file.to_string_lossy().starts_with("file:sqlx-in-memory-");
        let wal = (!in_memory).then(|| PathBuf::from(format!("{}-wal", file.display())));
        // Ledger commits write their WAL frames without waiting for the disk
        // (`NORMAL`); the writer answers a batch only after
        // `durability::fsync` of the WAL, off its path. The pool's rare
        // writes (webhook events, subscriptions) stay `FULL`.
        let ledger = SqliteLedger::open(&file, in_memory, in_memory)?;
        let ledger = Arc::new(Mutex::new(ledger));
        Ok(SqlStore {
            pool,
            own: SqliteOwn { ledger, wal },
        })
    }

    /// The WAL file ledger commits must be fsynced through before they are
    /// answered (`None`: an in-memory database).
    pub fn wal_file(&self) -> Option<PathBuf> {
        self.own.wal.clone()
    }

    /// Folds journal rows into the derived tables on the ledger connection,
    /// blocking the calling thread (see [`super::derived`]).
    pub fn fold_blocking(&self) -> Result<usize, StoreError> {
        self.ledger()?.fold()
    }

    /// The ledger connection, recovered (and its account cache dropped) if a
    /// batch panicked while holding it.
    fn ledger(&self) -> Result<std::sync::MutexGuard<'_, SqliteLedger>, StoreError> {
        let ledger = &self.own.ledger;
        Ok(match ledger.lock() {
            Ok(l) => l,
            Err(poisoned) => {
                // A batch panicked: its transaction rolled back as it
                // unwound, but what it held of the accounts is suspect.
                ledger.clear_poison();
                let mut l = poisoned.into_inner();
                l.forget_accounts();
                l
            }
        })
    }

    /// Applies a batch on the calling thread, which it blocks (the ledger
    /// writer's own thread).
    pub fn apply_batch_blocking(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        self.ledger()?.apply_batch(chains, now_us, sweep)
    }
}
