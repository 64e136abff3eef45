//! The SQL both backends run, written once over `sqlx::Database`. What one
//! database does its own way (how a list of ids is bound, how a transaction
//! starts, how a ledger batch is applied, its own connection state) is its
//! [`Dialect`], implemented in `sqlite.rs` and `postgres.rs`.
//!
//! Placeholders are `$N` in every statement: PostgreSQL's syntax, which sqlx
//! also binds by number on SQLite.
use std::{fmt, future::Future};

use sqlx::{
    query::Query, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
};

use super::{
    decode_account, decode_transfer, report, Storage, StoreError, SubscriptionEvent, ACCOUNT_COLS,
    HAS_PURCHASE_SQL, MISMATCH_SQL, OVERDRAWN_SQL, TOTALS_SQL, TRANSFER_COLS,
};
use crate::{
    api::{GiftItem, Subscription},
    ids::Currency,
    ledger::{Account, ChainOutcome, CurrencyTotals, InvariantReport, StoredTransfer, Transfer},
};

/// A database through a sqlx pool, plus what its [`Dialect`] keeps of its own.
pub struct SqlStore<D: Dialect> {
    /// Reads and the writes other than ledger batches (all of them on PostgreSQL).
    pub(crate) pool: Pool<D>,
    /// The backend's own state (SQLite: its ledger connection and WAL file).
    pub(crate) own: D::Own,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            own: self.own.clone(),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("pool", &self.pool)
            .field("own", &self.own)
            .finish()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// The pool, for diagnostics (e.g. reading a query's plan in a test).
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }
}

/// What one database does its own way; everything else is [`SqlStore`]'s.
pub trait Dialect: Database {
    /// State the backend keeps next to its pool.
    type Own: Clone + fmt::Debug + Send + Sync + 'static;
    /// Starts a transaction that writes (SQLite takes the write lock at once).
    const BEGIN_WRITE: &'static str;
    /// Starts a transaction whose reads see one snapshot.
    const BEGIN_SNAPSHOT: &'static str;
    /// Matches `id` against the id list bound as `$1`, e.g. `id = ANY($1)`.
    const ID_IN_LIST: &'static str;

    /// Binds a list of ids the way [`Dialect::ID_IN_LIST`] reads it.
    fn bind_ids<'q>(
        q: Query<'q, Self, <Self as Database>::Arguments<'q>>,
        ids: &'q [String],
    ) -> Query<'q, Self, <Self as Database>::Arguments<'q>>;

    /// Rows a statement changed.
    fn rows_affected(r: &Self::QueryResult) -> u64;

    /// Applies chains of linked transfers in one transaction (see
    /// [`Storage::apply_batch`]).
    fn apply_batch(
        store: &SqlStore<Self>,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> impl Future<Output = Result<Vec<ChainOutcome>, StoreError>> + Send;
}

/// Inserts a webhook event id unless present (`$1`..`$4`: id, kind, created, received).
const RECORD_EVENT_SQL: &str = "INSERT INTO webhook_events (id, kind, created, received_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";

/// Columns of `gifts`, in [`GiftItem`]'s order.
const GIFT_COLS: &str = "id, name, price_coins, diamond_value, region, animation_id";

/// Columns of `subscriptions`, in [`Subscription`]'s order.
const SUBSCRIPTION_COLS: &str = "account, plan, status, period_end, updated_at";

impl<D: Dialect> Storage for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    usize: ColumnIndex<D::Row>,
{
    async fn apply_batch(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        D::apply_batch(self, chains, now_us, sweep).await
    }

    async fn accounts(&self, ids: &[String]) -> Result<Vec<Account>, StoreError> {
        let q = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE id {}",
            D::ID_IN_LIST
        );
        let rows = D::bind_ids(sqlx::query(&q), ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| -> Result<Account, StoreError> { decode_account!(r, try_get) })
            .collect()
    }

    async fn transfers(&self, ids: &[String]) -> Result<Vec<StoredTransfer>, StoreError> {
        let q = format!(
            "SELECT {TRANSFER_COLS} FROM transfers WHERE id {}",
            D::ID_IN_LIST
        );
        let rows = D::bind_ids(sqlx::query(&q), ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| -> Result<StoredTransfer, StoreError> { decode_transfer!(r, try_get) })
            .collect()
    }

    /// Checks the ledger's invariants in one snapshot.
    async fn check_invariant(&self) -> Result<InvariantReport, StoreError> {
        let mut tx = self.pool.begin_with(D::BEGIN_SNAPSHOT).await?;
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

    async fn gifts(&self) -> Result<Vec<GiftItem>, StoreError> {
        let q = format!("SELECT {GIFT_COLS} FROM gifts ORDER BY id");
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
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

    async fn upsert_gift(&self, g: &GiftItem) -> Result<(), StoreError> {
        let q = format!(
            "INSERT INTO gifts ({GIFT_COLS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             price_coins = excluded.price_coins, diamond_value = excluded.diamond_value, \
             region = excluded.region, animation_id = excluded.animation_id"
        );
        sqlx::query(&q)
            .bind(g.id.as_str())
            .bind(g.name.as_str())
            .bind(g.price_coins)
            .bind(g.diamond_value)
            .bind(g.region.as_str())
            .bind(g.animation_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_gift(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM gifts WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&r) > 0)
    }

    async fn record_event(
        &self,
        id: &str,
        kind: &str,
        created: i64,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(RECORD_EVENT_SQL)
            .bind(id)
            .bind(kind)
            .bind(created)
            .bind(now_s)
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&r) > 0)
    }

    async fn apply_subscription_event(
        &self,
        e: &SubscriptionEvent,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        let r = sqlx::query(RECORD_EVENT_SQL)
            .bind(e.event_id.as_str())
            .bind(e.kind.as_str())
            .bind(e.created)
            .bind(now_s)
            .execute(&mut *tx)
            .await?;
        let new = D::rows_affected(&r) > 0;
        if new {
            let s = &e.subscription;
            let q = format!(
                "INSERT INTO subscriptions ({SUBSCRIPTION_COLS}) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account) DO UPDATE SET plan = excluded.plan, \
                 status = excluded.status, period_end = excluded.period_end, \
                 updated_at = excluded.updated_at \
                 WHERE subscriptions.updated_at <= excluded.updated_at"
            );
            sqlx::query(&q)
                .bind(s.account.as_str())
                .bind(s.plan.as_str())
                .bind(s.status.as_str())
                .bind(s.period_end)
                .bind(s.updated_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    async fn subscription(&self, account: &str) -> Result<Option<Subscription>, StoreError> {
        let q = format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE account = $1");
        let r = sqlx::query(&q)
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
        let r = sqlx::query(HAS_PURCHASE_SQL)
            .bind(wallet)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.is_some())
    }
}
