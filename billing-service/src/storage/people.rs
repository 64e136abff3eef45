//! Reads and writes behind levels, medals, referrals and leaderboards,
//! written once over both databases (like [`super::sql`]). Every read is an
//! index range or a primary-key lookup bounded by its `limit`.
use std::future::Future;

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::{
    derived::StatsDelta,
    postgres,
    sql::{Dialect, SqlStore},
    AnyStore, StoreError,
};

/// A medal as stored: an award transfer credited to its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedalRow {
    /// The award's transfer id (`m:<medal>:<account>[:<day>]`).
    pub id: String,
    /// Coins it paid.
    pub coins: i64,
    /// Its JSON data (medal name, item, day).
    pub data: String,
    /// When it was granted (unix microseconds).
    pub ts_us: i64,
}

/// What the service needs for people's levels, medals, referrals and
/// leaderboards.
pub trait PeopleStore: Send + Sync + 'static {
    /// A member's counters (zero when it never sent or received a gift).
    fn member_stats(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<StatsDelta, StoreError>> + Send;
    /// One page of a leaderboard in rank order (score, then account,
    /// descending), after `after` (the last row of the previous page).
    fn board_page(
        &self,
        board: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
    /// One page of the medals credited to `wallet`, in id order after `after`.
    fn medals(
        &self,
        wallet: &str,
        after: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MedalRow>, StoreError>> + Send;
    /// Stores `code` as `account`'s referral code unless either already has
    /// one; returns the account that owns `code` afterwards.
    fn claim_referral_code(
        &self,
        code: &str,
        account: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The account a referral code belongs to.
    fn referral_code_owner(
        &self,
        code: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Records that `referrer` referred `account` unless `account` already
    /// has a referrer; returns the referrer it has afterwards.
    fn add_referral(
        &self,
        account: &str,
        referrer: &str,
        now_s: i64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Who referred `account`.
    fn referrer_of(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// One page of the accounts `referrer` referred, in account order after
    /// `after`, with when they redeemed the code.
    fn referrals(
        &self,
        referrer: &str,
        after: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
}

const MEDALS_SQL: &str = "SELECT id, amount, user_data, ts_us FROM transfers \
    WHERE credit_account = $1 AND code = 5 AND id > $2 ORDER BY id LIMIT $3";

/// Rank order, read backwards along `leaderboard_rank` from the cursor.
const BOARD_FIRST_SQL: &str = "SELECT account, score FROM leaderboard WHERE board = $1 \
    ORDER BY score DESC, account DESC LIMIT $2";
const BOARD_AFTER_SQL: &str = "SELECT account, score FROM leaderboard WHERE board = $1 \
    AND (score, account) < ($2, $3) ORDER BY score DESC, account DESC LIMIT $4";

impl<D: Dialect> PeopleStore for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    usize: ColumnIndex<D::Row>,
{
    async fn member_stats(&self, account: &str) -> Result<StatsDelta, StoreError> {
        let r = sqlx::query(
            "SELECT coins_spent, coins_received, gifts_sent, gifts_received \
             FROM member_stats WHERE account = $1",
        )
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = r else {
            return Ok(StatsDelta::default());
        };
        Ok(StatsDelta {
            coins_spent: r.try_get(0)?,
            coins_received: r.try_get(1)?,
            gifts_sent: r.try_get(2)?,
            gifts_received: r.try_get(3)?,
        })
    }

    async fn board_page(
        &self,
        board: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let q = match &after {
            None => sqlx::query(BOARD_FIRST_SQL).bind(board),
            Some((score, account)) => sqlx::query(BOARD_AFTER_SQL)
                .bind(board)
                .bind(*score)
                .bind(account.as_str()),
        };
        let rows = q.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn medals(
        &self,
        wallet: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<MedalRow>, StoreError> {
        let rows = sqlx::query(MEDALS_SQL)
            .bind(wallet)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MedalRow {
                    id: r.try_get(0)?,
                    coins: r.try_get(1)?,
                    data: r.try_get(2)?,
                    ts_us: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn claim_referral_code(
        &self,
        code: &str,
        account: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query(
            "INSERT INTO referral_codes (code, account) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(account)
        .execute(&self.pool)
        .await?;
        self.referral_code_owner(code).await
    }

    async fn referral_code_owner(&self, code: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT account FROM referral_codes WHERE code = $1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn add_referral(
        &self,
        account: &str,
        referrer: &str,
        now_s: i64,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query(
            "INSERT INTO referrals (account, referrer, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account) DO NOTHING",
        )
        .bind(account)
        .bind(referrer)
        .bind(now_s)
        .execute(&self.pool)
        .await?;
        self.referrer_of(account).await
    }

    async fn referrer_of(&self, account: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT referrer FROM referrals WHERE account = $1")
                .bind(account)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn referrals(
        &self,
        referrer: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, created_at FROM referrals WHERE referrer = $1 AND account > $2 \
             ORDER BY account LIMIT $3",
        )
        .bind(referrer)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

impl AnyStore {
    /// Folds the aggregate journal into the derived tables (member
    /// statistics, leaderboards), a transaction of up to
    /// [`super::derived::FOLD_ROWS`] journal rows at a time, until it is empty or
    /// `max_rounds` transactions ran; returns the rows folded.
    pub async fn fold_aggregates(&self, max_rounds: usize) -> Result<usize, StoreError> {
        let mut total = 0;
        for _ in 0..max_rounds {
            let n = match self {
                AnyStore::Sqlite(s) => {
                    let s = s.clone();
                    tokio::task::spawn_blocking(move || s.fold_blocking())
                        .await
                        .map_err(|e| StoreError::Thread(e.to_string()))??
                }
                AnyStore::Postgres(s) => postgres::fold(s).await?,
            };
            total += n;
            if n == 0 {
                break;
            }
        }
        Ok(total)
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

impl PeopleStore for AnyStore {
    async fn member_stats(&self, account: &str) -> Result<StatsDelta, StoreError> {
        delegate!(self, s => s.member_stats(account))
    }
    async fn board_page(
        &self,
        board: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        delegate!(self, s => s.board_page(board, after, limit))
    }
    async fn medals(
        &self,
        wallet: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<MedalRow>, StoreError> {
        delegate!(self, s => s.medals(wallet, after, limit))
    }
    async fn claim_referral_code(
        &self,
        code: &str,
        account: &str,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.claim_referral_code(code, account))
    }
    async fn referral_code_owner(&self, code: &str) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.referral_code_owner(code))
    }
    async fn add_referral(
        &self,
        account: &str,
        referrer: &str,
        now_s: i64,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.add_referral(account, referrer, now_s))
    }
    async fn referrer_of(&self, account: &str) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.referrer_of(account))
    }
    async fn referrals(
        &self,
        referrer: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        delegate!(self, s => s.referrals(referrer, after, limit))
    }
}
