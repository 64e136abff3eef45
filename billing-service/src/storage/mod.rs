//! Storage: one trait, one backend per database, each owning its migrations.
//! Backends only load and persist; the ledger rules live in
//! [`crate::ledger::engine`]. The SQL the backends share is written once in
//! [`sql`], generic over the database; `sqlite.rs` and `postgres.rs` hold only
//! their [`sql::Dialect`] (what differs) and how they open.
use std::future::Future;

use crate::{
    api::{GiftItem, Subscription},
    ids::Currency,
    ledger::{
        Account, ChainOutcome, InvariantReport, PendingState, StoredTransfer, Transfer,
        TransferKind,
    },
};

pub mod account_cache;
pub mod derived;
pub mod people;
pub mod postgres;
pub mod sql;
pub mod sqlite;
mod sqlite_fold;
pub mod sqlite_ledger;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The SQLite ledger connection failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The thread running a ledger transaction failed.
    #[error("ledger thread: {0}")]
    Thread(String),
    /// The database URL names no supported backend.
    #[error("unsupported database url (use sqlite:// or postgres://)")]
    UnsupportedUrl,
}

impl StoreError {
    /// Whether retrying the whole transaction may succeed (lock conflicts,
    /// deadlocks, a concurrent insert of the same id).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                matches!(
                    e.code().as_deref(),
                    Some("40001" | "40P01" | "23505" | "5" | "6" | "517")
                )
            }
            StoreError::Sqlite(e) => sqlite_ledger::is_busy(e),
            _ => false,
        }
    }
}

/// A subscription webhook's effect.
#[derive(Debug, Clone)]
pub struct SubscriptionEvent {
    /// Provider event id (deduplicated).
    pub event_id: String,
    /// Event type.
    pub kind: String,
    /// Event creation time (unix s); older than the stored state = ignored.
    pub created: i64,
    /// The new subscription state.
    pub subscription: Subscription,
}

/// What the service needs from a database.
pub trait Storage: Send + Sync + 'static {
    /// Applies chains of linked transfers in one transaction (after expiring
    /// due holds when `sweep`), returning one outcome per chain.
    fn apply_batch(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> impl Future<Output = Result<Vec<ChainOutcome>, StoreError>> + Send;
    /// Accounts by id (missing ones are absent).
    fn accounts(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;
    /// Committed transfers by id (missing ones are absent).
    fn transfers(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<StoredTransfer>, StoreError>> + Send;
    /// Checks that debits equal credits per currency and balances match transfers.
    fn check_invariant(&self) -> impl Future<Output = Result<InvariantReport, StoreError>> + Send;
    /// The gift catalog.
    fn gifts(&self) -> impl Future<Output = Result<Vec<GiftItem>, StoreError>> + Send;
    /// Adds or replaces a gift.
    fn upsert_gift(&self, g: &GiftItem) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes a gift; false when absent.
    fn delete_gift(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a webhook event id; false when it was seen before.
    fn record_event(
        &self,
        id: &str,
        kind: &str,
        created: i64,
        now_s: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a subscription event and applies it unless seen or older than
    /// the stored state, in one transaction; false when deduplicated.
    fn apply_subscription_event(
        &self,
        e: &SubscriptionEvent,
        now_s: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// A subscriber's subscription.
    fn subscription(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Option<Subscription>, StoreError>> + Send;
    /// Whether a purchase ever credited `wallet` (a ledger account id).
    fn has_purchase(&self, wallet: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Finds one purchase credited to a wallet (`$1`: the wallet).
pub(crate) const HAS_PURCHASE_SQL: &str =
    "SELECT 1 FROM transfers WHERE credit_account = $1 AND code = 2 LIMIT 1";

/// Columns of `transfers` in the order backends select and insert them.
pub(crate) const TRANSFER_COLS: &str = "id, debit_account, credit_account, amount, currency, \
    kind, pending_id, timeout_s, code, user_data, ts_us, expires_at_us, pending_state";

/// Columns of `accounts`.
pub(crate) const ACCOUNT_COLS: &str = "id, currency, no_overdraft, debits_pending, \
    debits_posted, credits_pending, credits_posted";

/// Accounts whose balances differ from the sum of their transfers.
pub(crate) const MISMATCH_SQL: &str = "WITH mv AS (
    SELECT debit_account AS acct, amount AS dpo, 0 AS cpo, 0 AS dp, 0 AS cp
        FROM transfers WHERE kind IN (0, 2)
    UNION ALL SELECT credit_account, 0, amount, 0, 0 FROM transfers WHERE kind IN (0, 2)
    UNION ALL SELECT debit_account, 0, 0, amount, 0 FROM transfers WHERE kind = 1 AND pending_state = 1
    UNION ALL SELECT credit_account, 0, 0, 0, amount FROM transfers WHERE kind = 1 AND pending_state = 1
), sums AS (
    SELECT acct, SUM(dpo) AS dpo, SUM(cpo) AS cpo, SUM(dp) AS dp, SUM(cp) AS cp FROM mv GROUP BY acct
)
SELECT a.id FROM accounts a LEFT JOIN sums s ON s.acct = a.id
WHERE a.debits_posted <> COALESCE(s.dpo, 0) OR a.credits_posted <> COALESCE(s.cpo, 0)
   OR a.debits_pending <> COALESCE(s.dp, 0) OR a.credits_pending <> COALESCE(s.cp, 0)
ORDER BY a.id LIMIT 100";

/// Per-currency totals over accounts.
pub(crate) const TOTALS_SQL: &str = "SELECT currency,
    CAST(COALESCE(SUM(debits_posted), 0) AS BIGINT), CAST(COALESCE(SUM(credits_posted), 0) AS BIGINT),
    CAST(COALESCE(SUM(debits_pending), 0) AS BIGINT), CAST(COALESCE(SUM(credits_pending), 0) AS BIGINT)
    FROM accounts GROUP BY currency ORDER BY currency";

/// No-overdraft accounts below zero.
pub(crate) const OVERDRAWN_SQL: &str = "SELECT id FROM accounts WHERE no_overdraft = 1 \
    AND debits_posted + debits_pending > credits_posted ORDER BY id LIMIT 100";

/// Decodes a `TRANSFER_COLS` row into a [`StoredTransfer`] with the row
/// type's getter (`try_get` for sqlx, `get` for rusqlite).
macro_rules! decode_transfer {
    ($row:expr, $get:ident) => {
        $crate::storage::TransferRow {
            id: $row.$get(0)?,
            debit: $row.$get(1)?,
            credit: $row.$get(2)?,
            amount: $row.$get(3)?,
            currency: $row.$get(4)?,
            kind: $row.$get(5)?,
            pending_id: $row.$get(6)?,
            timeout_s: $row.$get(7)?,
            code: $row.$get(8)?,
            user_data: $row.$get(9)?,
            ts_us: $row.$get(10)?,
            expires_at_us: $row.$get(11)?,
            pending_state: $row.$get(12)?,
        }
        .into_stored()
    };
}

/// Decodes an `ACCOUNT_COLS` row into an [`Account`] with the row type's getter.
macro_rules! decode_account {
    ($row:expr, $get:ident) => {{
        let currency: String = $row.$get(1)?;
        $crate::storage::account_from(
            $row.$get(0)?,
            &currency,
            $row.$get(2)?,
            [$row.$get(3)?, $row.$get(4)?, $row.$get(5)?, $row.$get(6)?],
        )
    }};
}
pub(crate) use {decode_account, decode_transfer};

/// One stored transfer row, as decoded from either backend.
pub(crate) struct TransferRow {
    pub(crate) id: String,
    pub(crate) debit: String,
    pub(crate) credit: String,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) kind: i64,
    pub(crate) pending_id: String,
    pub(crate) timeout_s: i64,
    pub(crate) code: i64,
    pub(crate) user_data: String,
    pub(crate) ts_us: i64,
    pub(crate) expires_at_us: i64,
    pub(crate) pending_state: i64,
}

impl TransferRow {
    pub(crate) fn into_stored(self) -> Result<StoredTransfer, StoreError> {
        let currency = Currency::parse(&self.currency)
            .ok_or_else(|| StoreError::Corrupt(format!("currency of {}", self.id)))?;
        let kind = match self.kind {
            0 => TransferKind::Single,
            1 => TransferKind::Pending {
                timeout_s: self.timeout_s,
            },
            2 => TransferKind::PostPending {
                pending_id: self.pending_id,
            },
            3 => TransferKind::VoidPending {
                pending_id: self.pending_id,
            },
            _ => return Err(StoreError::Corrupt(format!("kind of {}", self.id))),
        };
        Ok(StoredTransfer {
            transfer: Transfer {
                id: self.id,
                debit_account: self.debit,
                credit_account: self.credit,
                amount: self.amount,
                currency,
                kind,
                code: i32::try_from(self.code).unwrap_or(-1),
                user_data: self.user_data,
            },
            ts_us: self.ts_us,
            expires_at_us: self.expires_at_us,
            pending_state: PendingState::from_i32(i32::try_from(self.pending_state).unwrap_or(0)),
        })
    }
}

/// Decodes an account row's parts.
pub(crate) fn account_from(
    id: String,
    currency: &str,
    no_overdraft: i64,
    b: [i64; 4],
) -> Result<Account, StoreError> {
    let currency = Currency::parse(currency)
        .ok_or_else(|| StoreError::Corrupt(format!("currency of {id}")))?;
    Ok(Account {
        id,
        currency,
        no_overdraft: no_overdraft != 0,
        debits_pending: b[0],
        debits_posted: b[1],
        credits_pending: b[2],
        credits_posted: b[3],
    })
}

/// Builds the invariant report from the three queries' results.
pub(crate) fn report(
    totals: Vec<crate::ledger::CurrencyTotals>,
    transfers: i64,
    mismatched_accounts: Vec<String>,
    overdrawn_accounts: Vec<String>,
) -> InvariantReport {
    let balanced = totals
        .iter()
        .all(|t| t.debits_posted == t.credits_posted && t.debits_pending == t.credits_pending);
    InvariantReport {
        ok: balanced && mismatched_accounts.is_empty() && overdrawn_accounts.is_empty(),
        totals,
        transfers,
        mismatched_accounts,
        overdrawn_accounts,
    }
}

/// Either backend, chosen by the database URL.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// Embedded SQLite.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL.
    Postgres(postgres::PgStore),
}

impl AnyStore {
    /// Opens (creating if needed) and migrates the database at `url`. For
    /// PostgreSQL, `schema` selects (and creates) a schema.
    pub async fn open(url: &str, schema: Option<&str>, max_conns: u32) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(AnyStore::Sqlite(sqlite::SqliteStore::open(url).await?))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(AnyStore::Postgres(
                postgres::PgStore::open(url, schema, max_conns).await?,
            ))
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// The file whose fsync makes committed ledger batches durable, when
    /// commits do not wait for the disk themselves (SQLite's WAL).
    pub fn wal_file(&self) -> Option<std::path::PathBuf> {
        match self {
            AnyStore::Sqlite(s) => s.wal_file(),
            AnyStore::Postgres(_) => None,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e.await,
            AnyStore::Postgres($s) => $e.await,
        }
    };
}

impl Storage for AnyStore {
    async fn apply_batch(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        delegate!(self, s => s.apply_batch(chains, now_us, sweep))
    }
    async fn accounts(&self, ids: &[String]) -> Result<Vec<Account>, StoreError> {
        delegate!(self, s => s.accounts(ids))
    }
    async fn transfers(&self, ids: &[String]) -> Result<Vec<StoredTransfer>, StoreError> {
        delegate!(self, s => s.transfers(ids))
    }
    async fn check_invariant(&self) -> Result<InvariantReport, StoreError> {
        delegate!(self, s => s.check_invariant())
    }
    async fn gifts(&self) -> Result<Vec<GiftItem>, StoreError> {
        delegate!(self, s => s.gifts())
    }
    async fn upsert_gift(&self, g: &GiftItem) -> Result<(), StoreError> {
        delegate!(self, s => s.upsert_gift(g))
    }
    async fn delete_gift(&self, id: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.delete_gift(id))
    }
    async fn record_event(
        &self,
        id: &str,
        kind: &str,
        created: i64,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.record_event(id, kind, created, now_s))
    }
    async fn apply_subscription_event(
        &self,
        e: &SubscriptionEvent,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.apply_subscription_event(e, now_s))
    }
    async fn subscription(&self, account: &str) -> Result<Option<Subscription>, StoreError> {
        delegate!(self, s => s.subscription(account))
    }
    async fn has_purchase(&self, wallet: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.has_purchase(wallet))
    }
}
