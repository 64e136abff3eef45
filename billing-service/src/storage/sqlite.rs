//! The embedded SQLite backend (the default: nothing to install).
//!
//! Durability: WAL journal. The pool's commits are fsynced before they return
//! (`synchronous=FULL`); ledger batches commit with `NORMAL` on the writer's
//! connection and the writer answers them only after fsyncing the WAL on
//! another thread (`durability`), so every answered gift survives a power
//! loss, not only a process crash, and the disk flush of one batch overlaps
//! the next batch.
use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use serde_json::Value;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    ConnectOptions, Connection, Row, SqliteConnection, SqlitePool,
};
use tokio::sync::Mutex;

use super::{
    account_cache::{AccountCache, DEFAULT_CAPACITY},
    account_from, report, Storage, StoreError, SubscriptionEvent, TransferRow, ACCOUNT_COLS,
    MISMATCH_SQL, OVERDRAWN_SQL, TOTALS_SQL, TRANSFER_COLS,
};
use crate::{
    api::{GiftItem, Subscription},
    ids::Currency,
    ledger::{
        engine, Account, ChainOutcome, CurrencyTotals, InvariantReport, StoredTransfer, Transfer,
        TransferKind,
    },
};

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads and the rare non-ledger writes.
    pool: SqlitePool,
    /// Ledger batches always run on this one connection, so its page cache
    /// and prepared statements stay warm (a pool hands out its connections in
    /// turn, and a SQLite connection drops its page cache whenever another
    /// connection wrote since its last transaction).
    writer: Arc<Mutex<LedgerConn>>,
    /// The database's WAL file; `None` for an in-memory database.
    wal: Option<PathBuf>,
}

/// The ledger writer's connection and the accounts it last read or wrote.
#[derive(Debug)]
struct LedgerConn {
    conn: SqliteConnection,
    /// Accounts as committed, so a batch reads only the ones it has not seen.
    accounts: AccountCache,
    /// `PRAGMA data_version` at this connection's last batch: it moves when
    /// another connection commits, and then the cache may be stale.
    data_version: Option<i64>,
}

fn transfer_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredTransfer, StoreError> {
    TransferRow {
        id: r.try_get(0)?,
        debit: r.try_get(1)?,
        credit: r.try_get(2)?,
        amount: r.try_get(3)?,
        currency: r.try_get(4)?,
        kind: r.try_get(5)?,
        pending_id: r.try_get(6)?,
        timeout_s: r.try_get(7)?,
        code: r.try_get(8)?,
        user_data: r.try_get(9)?,
        ts_us: r.try_get(10)?,
        expires_at_us: r.try_get(11)?,
        pending_state: r.try_get(12)?,
    }
    .into_stored()
}

fn account_row(r: &sqlx::sqlite::SqliteRow) -> Result<Account, StoreError> {
    let cur: String = r.try_get(1)?;
    account_from(
        r.try_get(0)?,
        &cur,
        r.try_get(2)?,
        [r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?],
    )
}

/// Whether a batch looks its own transfer ids up before applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// Assume every id is new (only the holds it names are loaded).
    AssumeNew,
    /// Load the transfers with the batch's ids (retries get their original).
    Look,
}

/// A transfer id that already exists (SQLite's extended primary-key and
/// unique constraint codes).
fn is_duplicate_id(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(d)) => {
            matches!(d.code().as_deref(), Some("1555" | "2067"))
        }
        _ => false,
    }
}

/// Rows per multi-row statement.
const CHUNK: usize = 128;

/// Prepared statements the writer connection keeps: one per chunk length of
/// the two multi-row statements, so after warm-up no batch prepares anything.
const WRITER_STATEMENTS: usize = 2 * CHUNK + 16;

/// `head (?, ?, ..), (..) tail` for `rows` rows of `cols` parameters.
fn values_sql(head: &str, cols: usize, rows: usize, tail: &str) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    let mut s = String::with_capacity(head.len() + rows * (row.len() + 2) + tail.len());
    s.push_str(head);
    for i in 0..rows {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&row);
    }
    s.push_str(tail);
    s
}

/// Sets the state of a batch's posted, voided or expired holds in one statement.
const UPDATE_PENDING_SQL: &str = "UPDATE transfers SET pending_state = j.value->>1 \
    FROM json_each(?1) AS j WHERE transfers.id = j.value->>0";

/// Rows as one JSON array of arrays (the statements' single parameter).
fn json<T: serde::Serialize>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(format!("encoding rows: {e}")))
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
            // Statement journals (multi-row inserts) stay in memory, not temp files.
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
        let file = opts.get_filename();
        let wal = (!file.as_os_str().is_empty() && file != Path::new(":memory:"))
            .then(|| PathBuf::from(format!("{}-wal", file.display())));
        // Ledger commits write their WAL frames without waiting for the disk
        // (`NORMAL`); the writer answers a batch only after
        // `durability::fsync` of the WAL, off its path. The pool's rare
        // writes (webhook events, subscriptions) stay `FULL`.
        let writer = opts
            .synchronous(if wal.is_some() {
                SqliteSynchronous::Normal
            } else {
                SqliteSynchronous::Full
            })
            .statement_cache_capacity(WRITER_STATEMENTS);
        let writer = Arc::new(Mutex::new(LedgerConn {
            conn: writer.connect().await?,
            accounts: AccountCache::new(DEFAULT_CAPACITY),
            data_version: None,
        }));
        Ok(SqliteStore { pool, writer, wal })
    }

    /// The WAL file ledger commits must be fsynced through before they are
    /// answered (`None`: an in-memory database).
    pub fn wal_file(&self) -> Option<PathBuf> {
        self.wal.clone()
    }

    /// Loads what a batch needs; accounts come from `cache` when it has them.
    /// Returns the state, the expired holds to void, and the accounts read
    /// from the database.
    async fn load(
        &self,
        c: &mut SqliteConnection,
        cache: &mut AccountCache,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
        ids: Ids,
    ) -> Result<(engine::Loaded, Vec<StoredTransfer>, Vec<Account>), StoreError> {
        let mut st = engine::Loaded::default();
        let ids = match ids {
            Ids::Look => engine::transfer_ids(chains),
            Ids::AssumeNew => engine::pending_ids(chains),
        };
        if !ids.is_empty() {
            let q = format!(
                "SELECT {TRANSFER_COLS} FROM transfers WHERE id IN (SELECT value FROM json_each(?1))"
            );
            let ids = Value::from(ids).to_string();
            for r in sqlx::query(&q).bind(ids).fetch_all(&mut *c).await? {
                let t = transfer_row(&r)?;
                st.transfers.insert(t.transfer.id.clone(), t);
            }
        }
        let mut expire = Vec::new();
        if sweep {
            let q = format!(
                "SELECT {TRANSFER_COLS} FROM transfers WHERE pending_state = 1 \
                 AND expires_at_us > 0 AND expires_at_us <= ?1 LIMIT 1000"
            );
            for r in sqlx::query(&q).bind(now_us).fetch_all(&mut *c).await? {
                expire.push(transfer_row(&r)?);
            }
        }
        let (cached, missing) =
            cache.lookup(engine::account_ids(chains, &st.transfers, &expire));
        let mut read = Vec::with_capacity(missing.len());
        if !missing.is_empty() {
            let q = format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE id IN (SELECT value FROM json_each(?1))"
            );
            for r in sqlx::query(&q)
                .bind(Value::from(missing).to_string())
                .fetch_all(&mut *c)
                .await?
            {
                read.push(account_row(&r)?);
            }
        }
        for a in cached.into_iter().chain(read.iter().cloned()) {
            st.accounts.insert(a.id.clone(), a);
        }
        Ok((st, expire, read))
    }

    /// Runs a batch inside the caller's transaction. Returns the outcomes and
    /// the accounts as they will be once it commits (`None`: rerun with the
    /// ids looked up).
    async fn batch_in_tx(
        &self,
        c: &mut SqliteConnection,
        cache: &mut AccountCache,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
        ids: Ids,
    ) -> Result<Option<(Vec<ChainOutcome>, Vec<Account>)>, StoreError> {
        let (st, expire, mut accounts) = self.load(c, cache, chains, now_us, sweep, ids).await?;
        let out = engine::apply(st, chains, &expire, now_us);
        // A refusal may be a retry in disguise (a post of a hold it already
        // posted): only a lookup can tell.
        let refused = |o: &ChainOutcome| matches!(o, ChainOutcome::Failed { .. });
        if ids == Ids::AssumeNew && out.outcomes.iter().any(refused) {
            return Ok(None);
        }
        // Multi-row VALUES with bound parameters, in chunks (SQLite's limit is
        // 32766 parameters per statement).
        for chunk in out.new_transfers.chunks(CHUNK) {
            let sql = values_sql(
                &format!("INSERT INTO transfers ({TRANSFER_COLS}) VALUES "),
                13,
                chunk.len(),
                "",
            );
            let mut q = sqlx::query(&sql);
            for t in chunk {
                let tr = &t.transfer;
                let timeout = match tr.kind {
                    TransferKind::Pending { timeout_s } => timeout_s,
                    _ => 0,
                };
                q = q
                    .bind(&tr.id)
                    .bind(&tr.debit_account)
                    .bind(&tr.credit_account)
                    .bind(tr.amount)
                    .bind(tr.currency.as_str())
                    .bind(tr.kind.as_i32())
                    .bind(tr.kind.pending_id().unwrap_or(""))
                    .bind(timeout)
                    .bind(tr.code)
                    .bind(&tr.user_data)
                    .bind(t.ts_us)
                    .bind(t.expires_at_us)
                    .bind(t.pending_state.as_i32());
            }
            q.execute(&mut *c).await?;
        }
        for chunk in out.accounts.chunks(CHUNK) {
            let sql = values_sql(
                &format!("INSERT INTO accounts ({ACCOUNT_COLS}) VALUES "),
                7,
                chunk.len(),
                " ON CONFLICT(id) DO UPDATE SET debits_pending = excluded.debits_pending, \
                 debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending, \
                 credits_posted = excluded.credits_posted",
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q
                    .bind(&a.id)
                    .bind(a.currency.as_str())
                    .bind(i64::from(a.no_overdraft))
                    .bind(a.debits_pending)
                    .bind(a.debits_posted)
                    .bind(a.credits_pending)
                    .bind(a.credits_posted);
            }
            q.execute(&mut *c).await?;
        }
        if !out.pending_updates.is_empty() {
            let rows: Vec<_> = out
                .pending_updates
                .iter()
                .map(|(id, s)| (id, s.as_i32()))
                .collect();
            sqlx::query(UPDATE_PENDING_SQL)
                .bind(json(&rows)?)
                .execute(&mut *c)
                .await?;
        }
        accounts.extend(out.accounts);
        Ok(Some((out.outcomes, accounts)))
    }
}

impl Storage for SqliteStore {
    /// Applies a batch in one `BEGIN IMMEDIATE` transaction.
    async fn apply_batch(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let mut guard = self.writer.lock().await;
        let w = &mut *guard;
        // Fresh client ids are the rule and retries the exception: try the
        // batch as if none of its ids existed (no lookup). A retried id then
        // hits the primary key (or a chain is refused, which a retry can look
        // like), the transaction rolls back whole, and the batch runs again
        // with its ids looked up.
        for ids in [Ids::AssumeNew, Ids::Look] {
            let mut tx = w.conn.begin_with("BEGIN IMMEDIATE").await?;
            // Holding the write lock: nobody else commits until we are done.
            let version: i64 = sqlx::query_scalar("PRAGMA data_version")
                .fetch_one(&mut *tx)
                .await?;
            if w.data_version != Some(version) {
                w.accounts.clear();
                w.data_version = Some(version);
            }
            match self
                .batch_in_tx(&mut tx, &mut w.accounts, chains, now_us, sweep, ids)
                .await
            {
                Ok(Some((out, accounts))) => {
                    if let Err(e) = tx.commit().await {
                        // Committed or not: unknown, so trust nothing held.
                        w.accounts.clear();
                        return Err(e.into());
                    }
                    w.accounts.store(&accounts);
                    return Ok(out);
                }
                Ok(None) => tx.rollback().await?,
                Err(e) if ids == Ids::AssumeNew && is_duplicate_id(&e) => {
                    tx.rollback().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Corrupt(
            "batch neither new nor looked up".into(),
        ))
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
}
