//! The PostgreSQL backend (production): its [`Dialect`], how it opens, and
//! its ledger batches (array binds through `UNNEST`). Batches lock the
//! accounts they touch (`FOR UPDATE`, in id order) so several service
//! instances may share one database; conflicting transactions are retried by
//! the caller. The statements it shares with SQLite live in [`super::sql`].
use std::{str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgQueryResult, PgRow},
    query::Query,
    Connection, PgConnection, Postgres, Row,
};

use super::{
    decode_account, decode_transfer, derived,
    sql::{Dialect, SqlStore},
    StoreError, ACCOUNT_COLS, TRANSFER_COLS,
};
use crate::{
    ids::parse_account,
    ledger::{engine, Account, ChainOutcome, StoredTransfer, Transfer, TransferKind},
};

/// A PostgreSQL database.
pub type PgStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    type Own = ();
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// The invariant check's queries see one snapshot and write nothing.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    const ID_IN_LIST: &'static str = "= ANY($1)";

    fn bind_ids<'q>(
        q: Query<'q, Postgres, PgArguments>,
        ids: &'q [String],
    ) -> Query<'q, Postgres, PgArguments> {
        q.bind(ids)
    }

    fn rows_affected(r: &PgQueryResult) -> u64 {
        r.rows_affected()
    }

    /// Applies a batch in one transaction.
    async fn apply_batch(
        store: &PgStore,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let mut tx = store.pool.begin().await?;
        let out = batch_in_tx(&mut tx, chains, now_us, sweep).await?;
        tx.commit().await?;
        Ok(out)
    }
}

fn transfer_row(r: &PgRow) -> Result<StoredTransfer, StoreError> {
    decode_transfer!(r, try_get)
}

fn account_row(r: &PgRow) -> Result<Account, StoreError> {
    decode_account!(r, try_get)
}

/// Whether `s` is a safe schema name (`[a-z_][a-z0-9_]*`, at most 48 bytes).
pub fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl PgStore {
    /// Connects, creates `schema` if given (and uses it), and migrates.
    pub async fn open(url: &str, schema: Option<&str>, max_conns: u32) -> Result<Self, StoreError> {
        let mut opts = PgConnectOptions::from_str(url)?;
        if let Some(s) = schema {
            if !valid_schema(s) {
                return Err(StoreError::Corrupt(format!("bad schema name {s:?}")));
            }
            let mut c = PgConnection::connect_with(&opts).await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                .execute(&mut c)
                .await?;
            c.close().await?;
            opts = opts.options([("search_path", s)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_conns.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(SqlStore { pool, own: () })
    }
}

/// One batch inside the caller's transaction.
async fn batch_in_tx(
    c: &mut PgConnection,
    chains: &[Vec<Transfer>],
    now_us: i64,
    sweep: bool,
) -> Result<Vec<ChainOutcome>, StoreError> {
    let mut st = engine::Loaded::default();
    let q = format!("SELECT {TRANSFER_COLS} FROM transfers WHERE id = ANY($1)");
    for r in sqlx::query(&q)
        .bind(engine::transfer_ids(chains))
        .fetch_all(&mut *c)
        .await?
    {
        let t = transfer_row(&r)?;
        st.transfers.insert(t.transfer.id.clone(), t);
    }
    let mut expire = Vec::new();
    if sweep {
        let q = format!(
            "SELECT {TRANSFER_COLS} FROM transfers WHERE pending_state = 1 AND expires_at_us > 0 \
                 AND expires_at_us <= $1 ORDER BY id LIMIT 1000 FOR UPDATE"
        );
        for r in sqlx::query(&q).bind(now_us).fetch_all(&mut *c).await? {
            expire.push(transfer_row(&r)?);
        }
    }
    // Create missing accounts first so that every touched row can be locked.
    let ids = engine::account_ids(chains, &st.transfers, &expire);
    let (mut new_ids, mut curs, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        if let Ok((c, no_overdraft)) = parse_account(id) {
            new_ids.push(id.clone());
            curs.push(c.as_str().to_string());
            flags.push(i64::from(no_overdraft));
        }
    }
    sqlx::query(
        "INSERT INTO accounts (id, currency, no_overdraft) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[]) ORDER BY 1 \
             ON CONFLICT (id) DO NOTHING",
    )
    .bind(&new_ids)
    .bind(&curs)
    .bind(&flags)
    .execute(&mut *c)
    .await?;
    let q =
        format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE");
    for r in sqlx::query(&q).bind(&ids).fetch_all(&mut *c).await? {
        let a = account_row(&r)?;
        st.accounts.insert(a.id.clone(), a);
    }
    let out = engine::apply(st, chains, &expire, now_us);
    if !out.new_transfers.is_empty() {
        let n = out.new_transfers.len();
        let mut texts: [Vec<String>; 4] = Default::default();
        let mut amounts = Vec::with_capacity(n);
        let mut ints: [Vec<i64>; 6] = Default::default();
        let (mut pids, mut datas) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for t in &out.new_transfers {
            let tr = &t.transfer;
            texts[0].push(tr.id.clone());
            texts[1].push(tr.debit_account.clone());
            texts[2].push(tr.credit_account.clone());
            amounts.push(tr.amount);
            texts[3].push(tr.currency.as_str().to_string());
            pids.push(tr.kind.pending_id().unwrap_or("").to_string());
            datas.push(tr.user_data.clone());
            let timeout = match tr.kind {
                TransferKind::Pending { timeout_s } => timeout_s,
                _ => 0,
            };
            ints[0].push(i64::from(tr.kind.as_i32()));
            ints[1].push(timeout);
            ints[2].push(i64::from(tr.code));
            ints[3].push(t.ts_us);
            ints[4].push(t.expires_at_us);
            ints[5].push(i64::from(t.pending_state.as_i32()));
        }
        let q = format!(
            "INSERT INTO transfers ({TRANSFER_COLS}) SELECT * FROM UNNEST($1::text[], \
                 $2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::text[], \
                 $8::int8[], $9::int8[], $10::text[], $11::int8[], $12::int8[], $13::int8[])"
        );
        let [kind, timeout, code, ts, exp, state] = ints;
        let [ids, debits, credits, currencies] = texts;
        sqlx::query(&q)
            .bind(ids)
            .bind(debits)
            .bind(credits)
            .bind(amounts)
            .bind(currencies)
            .bind(kind)
            .bind(pids)
            .bind(timeout)
            .bind(code)
            .bind(datas)
            .bind(ts)
            .bind(exp)
            .bind(state)
            .execute(&mut *c)
            .await?;
    }
    let facts = derived::facts(&out.new_transfers);
    if !facts.is_empty() {
        let json = serde_json::to_string(&facts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(derived::JOURNAL_INSERT_SQL)
            .bind(json)
            .execute(&mut *c)
            .await?;
    }
    if !out.accounts.is_empty() {
        let a = &out.accounts;
        sqlx::query(
            "UPDATE accounts a SET debits_pending = u.dp, debits_posted = u.dpo, \
                 credits_pending = u.cp, credits_posted = u.cpo \
                 FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) \
                 AS u(id, dp, dpo, cp, cpo) WHERE a.id = u.id",
        )
        .bind(a.iter().map(|x| x.id.clone()).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.debits_pending).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.debits_posted).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.credits_pending).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.credits_posted).collect::<Vec<_>>())
        .execute(&mut *c)
        .await?;
    }
    if !out.pending_updates.is_empty() {
        let p = &out.pending_updates;
        sqlx::query(
            "UPDATE transfers t SET pending_state = u.s \
                 FROM UNNEST($1::text[], $2::int8[]) AS u(id, s) WHERE t.id = u.id",
        )
        .bind(p.iter().map(|x| x.0.clone()).collect::<Vec<_>>())
        .bind(
            p.iter()
                .map(|x| i64::from(x.1.as_i32()))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *c)
        .await?;
    }
    Ok(out.outcomes)
}

/// Folds up to [`derived::FOLD_ROWS`] journal rows into the derived tables
/// in one transaction; returns how many. Folders of instances sharing the
/// database wait for each other (`FOR UPDATE`, in id order), so a fold
/// that returns has seen every row committed before it began.
pub(crate) async fn fold(store: &PgStore) -> Result<usize, StoreError> {
    let mut tx = store.pool.begin().await?;
    let rows =
        sqlx::query("SELECT id, facts FROM aggregate_journal ORDER BY id LIMIT $1 FOR UPDATE")
            .bind(derived::FOLD_ROWS)
            .fetch_all(&mut *tx)
            .await?;
    let mut d = derived::Derived::default();
    let mut ids = Vec::with_capacity(rows.len());
    for r in &rows {
        let (id, json): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
        let facts: Vec<derived::GiftFact> = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("journal row {id}: {e}")))?;
        d.add(&facts);
        ids.push(id);
    }
    if !ids.is_empty() {
        write_derived(&mut tx, &d).await?;
        sqlx::query("DELETE FROM aggregate_journal WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ids.len())
}

/// Adds `d` to the derived tables (member statistics, leaderboards): one
/// statement per table, rows in key order (instances sharing the database
/// lock them in the same order).
async fn write_derived(c: &mut PgConnection, d: &derived::Derived) -> Result<(), StoreError> {
    if !d.stats.is_empty() {
        let s = &d.stats;
        sqlx::query(&format!(
            "INSERT INTO member_stats ({}) SELECT * FROM UNNEST($1::text[], $2::int8[], \
             $3::int8[], $4::int8[], $5::int8[]) ON CONFLICT (account) DO UPDATE SET \
             coins_spent = member_stats.coins_spent + excluded.coins_spent, \
             coins_received = member_stats.coins_received + excluded.coins_received, \
             gifts_sent = member_stats.gifts_sent + excluded.gifts_sent, \
             gifts_received = member_stats.gifts_received + excluded.gifts_received",
            derived::STATS_COLS
        ))
        .bind(s.keys().cloned().collect::<Vec<_>>())
        .bind(s.values().map(|v| v.coins_spent).collect::<Vec<_>>())
        .bind(s.values().map(|v| v.coins_received).collect::<Vec<_>>())
        .bind(s.values().map(|v| v.gifts_sent).collect::<Vec<_>>())
        .bind(s.values().map(|v| v.gifts_received).collect::<Vec<_>>())
        .execute(&mut *c)
        .await?;
    }
    if !d.boards.is_empty() {
        let b = &d.boards;
        sqlx::query(
            "INSERT INTO leaderboard (board, account, score) SELECT * FROM \
             UNNEST($1::text[], $2::text[], $3::int8[]) ON CONFLICT (board, account) \
             DO UPDATE SET score = leaderboard.score + excluded.score",
        )
        .bind(b.keys().map(|k| k.0.clone()).collect::<Vec<_>>())
        .bind(b.keys().map(|k| k.1.clone()).collect::<Vec<_>>())
        .bind(b.values().copied().collect::<Vec<_>>())
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}
