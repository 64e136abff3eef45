//! The embedded SQLite backend (the default: nothing to install).
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
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Row, SqlitePool,
};

use super::{
    decode_account, decode_transfer, report, sqlite_ledger::SqliteLedger, Storage, StoreError,
    SubscriptionEvent, ACCOUNT_COLS, MISMATCH_SQL, OVERDRAWN_SQL, TOTALS_SQL, TRANSFER_COLS,
};
use crate::{
    api::{GiftItem, Subscription},
    ids::Currency,
    ledger::{Account, ChainOutcome, CurrencyTotals, InvariantReport, StoredTransfer, Transfer},
};

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads and the rare non-ledger writes.
    pool: SqlitePool,
    /// Ledger batches always run on this one connection, so its page cache,
    /// prepared statements and account cache stay warm (a pool hands out its
    /// connections in turn, and a SQLite connection drops its page cache
    /// whenever another connection wrote since its last transaction).
    ledger: Arc<Mutex<SqliteLedger>>,
    /// The database's WAL file; `None` for an in-memory database.
    wal: Option<PathBuf>,
}

fn transfer_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredTransfer, StoreError> {
    decode_transfer!(r, try_get)
}

fn account_row(r: &sqlx::sqlite::SqliteRow) -> Result<Account, StoreError> {
    decode_account!(r, try_get)
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
        Ok(SqliteStore { pool, ledger, wal })
    }

    /// The WAL file ledger commits must be fsynced through before they are
    /// answered (`None`: an in-memory database).
    pub fn wal_file(&self) -> Option<PathBuf> {
        self.wal.clone()
    }

    /// Applies a batch on the calling thread, which it blocks (the ledger
    /// writer's own thread).
    pub fn apply_batch_blocking(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let mut ledger = match self.ledger.lock() {
            Ok(l) => l,
            Err(poisoned) => {
                // A batch panicked: its transaction rolled back as it
                // unwound, but what it held of the accounts is suspect.
                self.ledger.clear_poison();
                let mut l = poisoned.into_inner();
                l.forget_accounts();
                l
            }
        };
        ledger.apply_batch(chains, now_us, sweep)
    }
}

impl Storage for SqliteStore {
    /// Applies a batch in one `BEGIN IMMEDIATE` transaction, on a blocking
    /// thread (the ledger writer calls [`SqliteStore::apply_batch_blocking`]).
    async fn apply_batch(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let store = self.clone();
        let chains = chains.to_vec();
        tokio::task::spawn_blocking(move || store.apply_batch_blocking(&chains, now_us, sweep))
            .await
            .map_err(|e| StoreError::Thread(e.to_string()))?
    }

    /// Accounts by id.
    async fn accounts(&self, ids: &[String]) -> Result<Vec<Account>, StoreError> {
        let q = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&q)
            .bind(Value::from(ids.to_vec()).to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_row).collect()
    }

    /// Committed transfers by id.
    async fn transfers(&self, ids: &[String]) -> Result<Vec<StoredTransfer>, StoreError> {
        let q = format!(
            "SELECT {TRANSFER_COLS} FROM transfers WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&q)
            .bind(Value::from(ids.to_vec()).to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(transfer_row).collect()
    }

    /// Checks the ledger's invariants.
    async fn check_invariant(&self) -> Result<InvariantReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut totals = Vec::new();
        for r in sqlx::query(TOTALS_SQL).fetch_all(&mut *tx).await? {
            let c: String = r.try_get(0)?;
            let currency = Currency::parse(&c).ok_or_else(|| StoreError::Corrupt(c.clone()))?;
            totals.push(CurrencyTotals {
                currency,
                debits_posted: r.try_get(1)?,
                credits_posted: r.try_get(2)?,
                debits_pending: r.try_get(3)?,
                credits_pending: r.try_get(4)?,
            });
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfers")
            .fetch_one(&mut *tx)
            .await?;
        let mism: Vec<String> = sqlx::query_scalar(MISMATCH_SQL).fetch_all(&mut *tx).await?;
        let over: Vec<String> = sqlx::query_scalar(OVERDRAWN_SQL)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(report(totals, n, mism, over))
    }

    /// The gift catalog.
    async fn gifts(&self) -> Result<Vec<GiftItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, price_coins, diamond_value, region, animation_id FROM gifts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GiftItem {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    price_coins: r.try_get(2)?,
                    diamond_value: r.try_get(3)?,
                    region: r.try_get(4)?,
                    animation_id: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Adds or replaces a gift.
    async fn upsert_gift(&self, g: &GiftItem) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO gifts (id, name, price_coins, diamond_value, region, animation_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET name = excluded.name, \
             price_coins = excluded.price_coins, diamond_value = excluded.diamond_value, \
             region = excluded.region, animation_id = excluded.animation_id",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(g.price_coins)
        .bind(g.diamond_value)
        .bind(&g.region)
        .bind(&g.animation_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a gift.
    async fn delete_gift(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM gifts WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Records a webhook event id.
    async fn record_event(
        &self,
        id: &str,
        kind: &str,
        created: i64,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO webhook_events (id, kind, created, received_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(created)
        .bind(now_s)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Applies a subscription event once.
    async fn apply_subscription_event(
        &self,
        e: &SubscriptionEvent,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let new = sqlx::query(
            "INSERT INTO webhook_events (id, kind, created, received_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(id) DO NOTHING",
        )
        .bind(&e.event_id)
        .bind(&e.kind)
        .bind(e.created)
        .bind(now_s)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if new {
            let s = &e.subscription;
            sqlx::query(
                "INSERT INTO subscriptions (account, plan, status, period_end, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(account) DO UPDATE SET \
                 plan = excluded.plan, status = excluded.status, period_end = excluded.period_end, \
                 updated_at = excluded.updated_at WHERE subscriptions.updated_at <= excluded.updated_at",
            )
            .bind(&s.account)
            .bind(&s.plan)
            .bind(&s.status)
            .bind(s.period_end)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// A subscriber's subscription.
    async fn subscription(&self, account: &str) -> Result<Option<Subscription>, StoreError> {
        let r = sqlx::query(
            "SELECT account, plan, status, period_end, updated_at FROM subscriptions WHERE account = ?1",
        )
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(Subscription {
                account: r.try_get(0)?,
                plan: r.try_get(1)?,
                status: r.try_get(2)?,
                period_end: r.try_get(3)?,
                updated_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    async fn has_purchase(&self, wallet: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(super::HAS_PURCHASE_SQL)
            .bind(wallet)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.is_some())
    }
}
