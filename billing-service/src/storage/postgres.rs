//! The PostgreSQL backend (production). Batches lock the accounts they touch
//! (`FOR UPDATE`, in id order) so several service instances may share one
//! database; conflicting transactions are retried by the caller.
use std::{str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
    Connection, PgConnection, PgPool, Row,
};

use super::{
    decode_account, decode_transfer, report, Storage, StoreError, SubscriptionEvent, ACCOUNT_COLS,
    MISMATCH_SQL, OVERDRAWN_SQL, TOTALS_SQL, TRANSFER_COLS,
};
use crate::{
    api::{GiftItem, Subscription},
    ids::{parse_account, Currency},
    ledger::{
        engine, Account, ChainOutcome, CurrencyTotals, InvariantReport, StoredTransfer, Transfer,
        TransferKind,
    },
};

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
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
        Ok(PgStore { pool })
    }

    async fn batch_in_tx(
        &self,
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
        let q = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        );
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
}

impl Storage for PgStore {
    /// Applies a batch in one transaction.
    async fn apply_batch(
        &self,
        chains: &[Vec<Transfer>],
        now_us: i64,
        sweep: bool,
    ) -> Result<Vec<ChainOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let out = self.batch_in_tx(&mut tx, chains, now_us, sweep).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Accounts by id.
    async fn accounts(&self, ids: &[String]) -> Result<Vec<Account>, StoreError> {
        let q = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ANY($1)");
        let rows = sqlx::query(&q).bind(ids).fetch_all(&self.pool).await?;
        rows.iter().map(account_row).collect()
    }

    /// Committed transfers by id.
    async fn transfers(&self, ids: &[String]) -> Result<Vec<StoredTransfer>, StoreError> {
        let q = format!("SELECT {TRANSFER_COLS} FROM transfers WHERE id = ANY($1)");
        let rows = sqlx::query(&q).bind(ids).fetch_all(&self.pool).await?;
        rows.iter().map(transfer_row).collect()
    }

    /// Checks the ledger's invariants in one repeatable-read snapshot.
    async fn check_invariant(&self) -> Result<InvariantReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
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
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
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
        let r = sqlx::query("DELETE FROM gifts WHERE id = $1")
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
            "INSERT INTO webhook_events (id, kind, created, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
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
        let mut tx = self.pool.begin().await?;
        let new = sqlx::query(
            "INSERT INTO webhook_events (id, kind, created, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
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
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account) DO UPDATE SET \
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
            "SELECT account, plan, status, period_end, updated_at FROM subscriptions WHERE account = $1",
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
