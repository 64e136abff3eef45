//! The SQLite ledger writer: one connection that applies batches of transfer
//! chains, driven synchronously by the thread that calls it.
//!
//! The ledger writer owns a thread of its own, so it talks to SQLite directly
//! (prepared statements, one call per row) instead of through a connection
//! thread it must hand every statement to and wait for. Everything else
//! (migrations, reads, webhooks) goes through the sqlx pool of
//! [`super::sqlite::SqliteStore`] on the same database file. Both link the
//! one copy of libsqlite3 in the process (`libsqlite3-sys` can only be linked
//! once), which SQLite needs for connections of one process to see each
//! other's file locks.
use std::{collections::HashSet, path::Path, time::Duration};

use rusqlite::{params, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use super::{
    account_cache::{AccountCache, DEFAULT_CAPACITY},
    decode_account, decode_transfer, derived, sqlite_fold, StoreError, ACCOUNT_COLS, TRANSFER_COLS,
};
use crate::ledger::{engine, Account, ChainOutcome, StoredTransfer, Transfer, TransferKind};

/// Whether a batch looks its own transfer ids up before applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// Assume every id is new (only the holds it names are loaded).
    AssumeNew,
    /// Load the transfers with the batch's ids (retries get their original).
    Look,
}

/// One attempt at a batch: its chains, the time, whether to expire due
/// holds first, and whether its own ids are looked up.
#[derive(Debug, Clone, Copy)]
struct Attempt<'a> {
    chains: &'a [Vec<Transfer>],
    now_us: i64,
    sweep: bool,
    ids: Ids,
}

/// Prepared statements the connection keeps (the batch's handful, warm).
const STATEMENTS: usize = 16;

/// The ledger writer's connection and the accounts it last read or wrote.
#[derive(Debug)]
pub struct SqliteLedger {
    conn: rusqlite::Connection,
    /// Accounts as committed, so a batch reads only the ones it has not seen.
    accounts: AccountCache,
    /// `PRAGMA data_version` at the last batch: it moves when another
    /// connection commits, and then the cache may be stale.
    data_version: Option<i64>,
}

/// Whether a failure is a transfer id that already exists (SQLite's
/// primary-key and unique constraint codes).
fn is_duplicate_id(e: &StoreError) -> bool {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            matches!(f.extended_code, 1555 | 2067)
        }
        _ => false,
    }
}

/// Whether retrying the transaction may succeed (another connection holds the lock).
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn transfer_row(r: &rusqlite::Row<'_>) -> Result<StoredTransfer, StoreError> {
    decode_transfer!(r, get)
}

fn account_row(r: &rusqlite::Row<'_>) -> Result<Account, StoreError> {
    decode_account!(r, get)
}

impl SqliteLedger {
    /// Opens the (already created and migrated) database `file`. `durable`:
    /// commits wait for the disk (`synchronous=FULL`); otherwise (`NORMAL`)
    /// the caller fsyncs the WAL before it answers anyone.
    pub fn open(file: &Path, in_memory: bool, durable: bool) -> Result<Self, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if in_memory {
            // The pool's shared in-memory database (same name, shared cache).
            flags |= OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE;
        }
        let conn = rusqlite::Connection::open_with_flags(file, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        if !in_memory {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        // 8 MB of page cache: the hot pages (the right edge of `transfers`,
        // the busy accounts) fit, and SQLite scans the whole cache hash at
        // every commit when it is large (6 % of all CPU at 64 MB).
        conn.pragma_update(None, "cache_size", -8192)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoint the WAL every 10,000 pages (~40 MB) instead of 1,000:
        // batches of gifts rewrite the same index and account pages, which a
        // checkpoint copies back once however often they were rewritten.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        Ok(SqliteLedger {
            conn,
            accounts: AccountCache::new(DEFAULT_CAPACITY),
            data_version: None,
        })
    }

    /// Drops every cached account (after a batch panicked).
    pub fn forget_accounts(&mut self) {
        self.accounts.clear();
    }

    /// Folds up to [`derived::FOLD_ROWS`] journal rows into the derived
    /// tables in one transaction; returns the rows folded.
    pub fn fold(&mut self) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = sqlite_fold::fold_in_tx(&tx)?;
        tx.commit()?;
        Ok(n)
    }

    /// Applies a batch in one `BEGIN IMMEDIATE` transaction.
    ///
    /// Fresh client ids are the rule and retries the exception: the batch
    /// first runs as if none of its ids existed (no lookup). A retried id
    /// then hits the primary key (or a chain is refused, which a retry can
    /// look like), the transaction rolls back whole, and the batch runs again
    /// with its ids looked up.
    pub fn apply_batch(
        &mut self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let SqliteLedger {
            conn,
            accounts,
            data_version,
        } = self;
        for ids in [Ids::AssumeNew, Ids::Look] {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Holding the write lock: nobody else commits until we are done.
            let version: i64 = tx
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?;
            if *data_version != Some(version) {
                accounts.clear();
                *data_version = Some(version);
            }
            let attempt = Attempt {
                chains,
                now_us,
                sweep,
                ids,
            };
            match batch_in_tx(&tx, accounts, attempt) {
                Ok(Some(applied)) => {
                    if let Err(e) = tx.commit() {
                        // Committed or not: unknown, so trust nothing held.
                        accounts.clear();
                        return Err(e.into());
                    }
                    accounts.store(&applied.accounts);
                    return Ok(applied.outcomes);
                }
                Ok(None) => tx.rollback()?,
                Err(e) if ids == Ids::AssumeNew && is_duplicate_id(&e) => tx.rollback()?,
                Err(e) => {
                    // Whatever broke may have been a cached account: forget them.
                    accounts.clear();
                    return Err(e);
                }
            }
        }
        Err(StoreError::Corrupt(
            "batch neither new nor looked up".into(),
        ))
    }
}

/// Loads what a batch needs; accounts come from `cache` when it has them.
/// Returns the state, the expired holds to void, and the accounts read from
/// the database.
fn load(
    tx: &Transaction<'_>,
    cache: &mut AccountCache,
    attempt: Attempt<'_>,
) -> Result<(engine::Loaded, Vec<StoredTransfer>, Vec<Account>), StoreError> {
    let Attempt {
        chains,
        now_us,
        sweep,
        ids,
    } = attempt;
    let mut st = engine::Loaded::default();
    let ids = match ids {
        Ids::Look => engine::transfer_ids(chains),
        Ids::AssumeNew => engine::pending_ids(chains),
    };
    if !ids.is_empty() {
        let mut q = tx.prepare_cached(&format!(
            "SELECT {TRANSFER_COLS} FROM transfers WHERE id = ?1"
        ))?;
        for id in &ids {
            if let Some(t) = q.query_row([id], |r| Ok(transfer_row(r))).optional()? {
                let t = t?;
                st.transfers.insert(t.transfer.id.clone(), t);
            }
        }
    }
    let mut expire = Vec::new();
    if sweep {
        let mut q = tx.prepare_cached(&format!(
            "SELECT {TRANSFER_COLS} FROM transfers WHERE pending_state = 1 \
             AND expires_at_us > 0 AND expires_at_us <= ?1 LIMIT 1000"
        ))?;
        let mut rows = q.query([now_us])?;
        while let Some(r) = rows.next()? {
            expire.push(transfer_row(r)?);
        }
    }
    let (cached, missing) = cache.lookup(engine::account_ids(chains, &st.transfers, &expire));
    let mut read = Vec::with_capacity(missing.len());
    if !missing.is_empty() {
        let mut q = tx.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ?1"
        ))?;
        for id in &missing {
            if let Some(a) = q.query_row([id], |r| Ok(account_row(r))).optional()? {
                read.push(a?);
            }
        }
    }
    for a in cached.into_iter().chain(read.iter().cloned()) {
        st.accounts.insert(a.id.clone(), a);
    }
    Ok((st, expire, read))
}

/// A batch applied inside its transaction, not yet committed.
struct Applied {
    /// One outcome per chain.
    outcomes: Vec<ChainOutcome>,
    /// The accounts it read or wrote, as they will be once it commits.
    accounts: Vec<Account>,
}

/// Runs a batch inside the caller's transaction (`None`: rerun with the ids
/// looked up).
fn batch_in_tx(
    tx: &Transaction<'_>,
    cache: &mut AccountCache,
    attempt: Attempt<'_>,
) -> Result<Option<Applied>, StoreError> {
    let (st, expire, mut accounts) = load(tx, cache, attempt)?;
    let out = engine::apply(st, attempt.chains, &expire, attempt.now_us);
    // A refusal may be a retry in disguise (a post of a hold it already
    // posted): only a lookup can tell.
    let refused = |o: &ChainOutcome| matches!(o, ChainOutcome::Failed { .. });
    if attempt.ids == Ids::AssumeNew && out.outcomes.iter().any(refused) {
        return Ok(None);
    }
    let mut insert_transfer = tx.prepare_cached(&format!(
        "INSERT INTO transfers ({TRANSFER_COLS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?;
    for t in &out.new_transfers {
        let tr = &t.transfer;
        let timeout = match tr.kind {
            TransferKind::Pending { timeout_s } => timeout_s,
            _ => 0,
        };
        insert_transfer.execute(params![
            tr.id,
            tr.debit_account,
            tr.credit_account,
            tr.amount,
            tr.currency.as_str(),
            tr.kind.as_i32(),
            tr.kind.pending_id().unwrap_or(""),
            timeout,
            tr.code,
            tr.user_data,
            t.ts_us,
            t.expires_at_us,
            t.pending_state.as_i32(),
        ])?;
    }
    let facts = derived::facts(&out.new_transfers);
    if !facts.is_empty() {
        let json = serde_json::to_string(&facts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.prepare_cached(derived::JOURNAL_INSERT_SQL)?
            .execute([json])?;
    }
    // Accounts held in the cache or just read exist: update those in
    // place; the rest are new.
    let read: HashSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let mut update = tx.prepare_cached(
        "UPDATE accounts SET debits_pending = ?2, debits_posted = ?3, credits_pending = ?4, \
         credits_posted = ?5 WHERE id = ?1",
    )?;
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO accounts ({ACCOUNT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?;
    for a in &out.accounts {
        let (dp, dpo, cp, cpo) = (
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        );
        if cache.contains(&a.id) || read.contains(a.id.as_str()) {
            if update.execute(params![a.id, dp, dpo, cp, cpo])? != 1 {
                return Err(StoreError::Corrupt(format!("account {} vanished", a.id)));
            }
        } else {
            let (currency, no_overdraft) = (a.currency.as_str(), i64::from(a.no_overdraft));
            insert.execute(params![a.id, currency, no_overdraft, dp, dpo, cp, cpo])?;
        }
    }
    drop(read);
    if !out.pending_updates.is_empty() {
        let mut update =
            tx.prepare_cached("UPDATE transfers SET pending_state = ?2 WHERE id = ?1")?;
        for (id, s) in &out.pending_updates {
            update.execute(params![id, s.as_i32()])?;
        }
    }
    accounts.extend(out.accounts);
    Ok(Some(Applied {
        outcomes: out.outcomes,
        accounts,
    }))
}
