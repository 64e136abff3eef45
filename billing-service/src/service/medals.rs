//! Levels and medals. Experience comes from the member counters the ledger
//! folds from the gifts committed (see `storage::derived`). A medal is an award transfer
//! (code [`code::MEDAL`]) from the rewards pool to its holder, with an id
//! that names it once (`m:<medal>:<account>`, or `m:top_gifter_day:<day>`),
//! riding in the chain of the event that earned it: granted in the same
//! transaction, never twice, and a retried event finds it already there.
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Weak},
};

use serde::{Deserialize, Serialize};

use super::{page::PageRequest, Service, ServiceError};
use crate::{
    api::{MedalEntry, MemberLevel, Page},
    config::MedalReward,
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{code, ChainOutcome, Transfer, TransferError, TransferKind},
    member::{MedalCount, MemberStatement, MAX_MEDAL_KINDS},
    storage::{derived, people::PeopleStore, Storage},
};

/// Medal names.
pub mod name {
    /// The first gift a member sends.
    pub const FIRST_GIFT: &str = "first_gift";
    /// The seventh day of a daily-reward streak.
    pub const STREAK_7: &str = "streak_7";
    /// Most coins spent on gifts in a UTC day.
    pub const TOP_GIFTER_DAY: &str = "top_gifter_day";
}

/// Seconds after a UTC day ends before its top gifter is settled (gifts are
/// dated by the writer's commit time; other instances' clocks may lag).
pub const SETTLE_GRACE_S: i64 = 300;

/// Medals read into one statement (a member earns at most one per day).
const STATEMENT_MEDAL_ROWS: u32 = 10_000;

/// Known `first_gift` holders kept in memory (cleared when full).
const MAX_KNOWN_HOLDERS: usize = 65_536;

/// What a medal transfer stores.
#[derive(Debug, Serialize, Deserialize)]
struct MedalData {
    medal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    item: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day: Option<i64>,
}

/// Known holders of `first_gift`, so repeat senders cost no lookup.
#[derive(Debug, Default)]
pub(crate) struct Holders(std::sync::Mutex<HashSet<DeviceKey>>);

impl Holders {
    fn contains(&self, k: &DeviceKey) -> bool {
        self.0.lock().map(|s| s.contains(k)).unwrap_or(false)
    }

    pub(crate) fn insert(&self, k: DeviceKey) {
        if let Ok(mut s) = self.0.lock() {
            if s.len() >= MAX_KNOWN_HOLDERS {
                s.clear();
            }
            s.insert(k);
        }
    }
}

impl Service {
    fn medal_reward(&self, medal: &str) -> &MedalReward {
        let p = &self.config.people;
        match medal {
            name::STREAK_7 => &p.streak_7,
            name::TOP_GIFTER_DAY => &p.top_gifter_day,
            _ => &p.first_gift,
        }
    }

    /// The award transfer of `medal` for `holder` (`day`: the day it is for,
    /// for medals earned once per day rather than once per member).
    pub(crate) fn medal_award(
        &self,
        medal: &str,
        holder: &DeviceKey,
        day: Option<i64>,
    ) -> Result<Transfer, ServiceError> {
        let r = self.medal_reward(medal);
        let id = match day {
            Some(d) => format!("m:{medal}:{d}"),
            None => format!("m:{medal}:{}", holder.to_hex()),
        };
        let data = MedalData {
            medal: medal.into(),
            item: r.item.clone(),
            day,
        };
        Ok(Transfer {
            id,
            debit_account: platform::REWARDS.into(),
            credit_account: user_account(holder, Currency::Coins),
            amount: r.coins,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::MEDAL,
            user_data: serde_json::to_string(&data).map_err(|_| ServiceError::Internal)?,
        })
    }

    /// The `first_gift` award to add to `sender`'s gift, unless it is known
    /// to hold it (one primary-key lookup the first time a sender is seen).
    pub(crate) async fn first_gift_award(
        &self,
        sender: &DeviceKey,
    ) -> Result<Option<Transfer>, ServiceError> {
        if self.first_gift_holders.contains(sender) {
            return Ok(None);
        }
        let t = self.medal_award(name::FIRST_GIFT, sender, None)?;
        if self
            .store
            .transfers(std::slice::from_ref(&t.id))
            .await?
            .is_empty()
        {
            return Ok(Some(t));
        }
        self.first_gift_holders.insert(*sender);
        Ok(None)
    }

    /// The caller's experience, level and medals, with the signed statement.
    pub async fn level(&self, key: &DeviceKey) -> Result<MemberLevel, ServiceError> {
        let s = self.store.member_stats(&key.to_hex()).await?;
        let p = &self.config.people;
        let xp = s
            .coins_spent
            .saturating_mul(p.xp_per_coin_spent)
            .saturating_add(s.coins_received.saturating_mul(p.xp_per_coin_received));
        let (level, next_level_xp) = p.level(xp);
        let wallet = user_account(key, Currency::Coins);
        let rows = self.store.medals(&wallet, "", STATEMENT_MEDAL_ROWS).await?;
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for r in &rows {
            if let Ok(d) = serde_json::from_str::<MedalData>(&r.data) {
                *counts.entry(d.medal).or_default() += 1;
            }
        }
        let medals: Vec<MedalCount> = counts
            .into_iter()
            .take(MAX_MEDAL_KINDS)
            .map(|(medal, count)| MedalCount { medal, count })
            .collect();
        let now = self.clock.now_s();
        let body = MemberStatement {
            v: 1,
            account: key.to_hex(),
            level,
            xp,
            medals,
            iat: now,
            exp: now.saturating_add(p.statement_ttl_s),
        };
        let statement = self.signer.sign(body).map_err(|_| ServiceError::Internal)?;
        Ok(MemberLevel {
            account: key.to_hex(),
            xp,
            level,
            next_level_xp,
            coins_spent: s.coins_spent,
            coins_received: s.coins_received,
            gifts_sent: s.gifts_sent,
            gifts_received: s.gifts_received,
            statement,
        })
    }

    /// One page of the caller's medals, in the order they are stored.
    pub async fn medals(
        &self,
        key: &DeviceKey,
        page: &PageRequest,
    ) -> Result<Page<MedalEntry>, ServiceError> {
        let wallet = user_account(key, Currency::Coins);
        let after = page.after.as_deref().unwrap_or("");
        let rows = self.store.medals(&wallet, after, page.fetch()).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let d: MedalData = serde_json::from_str(&r.data).map_err(|_| ServiceError::Internal)?;
            items.push((
                r.id,
                MedalEntry {
                    medal: d.medal,
                    coins: r.coins,
                    item: d.item,
                    day: d.day,
                    granted_ms: r.ts_us / 1000,
                },
            ));
        }
        let p = page.page(items, |(id, _)| id.clone());
        Ok(Page {
            items: p.items.into_iter().map(|(_, m)| m).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// Grants `top_gifter_day` for `day` (unix days) to whoever spent the
    /// most coins on gifts that day, once the day is over; returns the
    /// holder (`None`: nobody sent a gift). Settling again finds it granted.
    pub async fn settle_top_gifter(&self, day: i64) -> Result<Option<DeviceKey>, ServiceError> {
        let over = day
            .checked_add(1)
            .and_then(|d| d.checked_mul(86_400))
            .and_then(|s| s.checked_add(SETTLE_GRACE_S))
            .ok_or_else(|| ServiceError::BadRequest("day: out of range".into()))?;
        if self.clock.now_s() < over {
            return Err(ServiceError::Conflict("day_not_over"));
        }
        self.fold_aggregates().await?;
        let board = derived::board_key(false, false, day, None);
        let top = self.store.board_page(&board, None, 1).await?;
        let Some((account, _)) = top.first() else {
            return Ok(None);
        };
        let holder = DeviceKey::parse_hex_unchecked(account).map_err(|_| ServiceError::Internal)?;
        let award = self.medal_award(name::TOP_GIFTER_DAY, &holder, Some(day))?;
        match self.ledger.submit(vec![award]).await? {
            ChainOutcome::Created(_) | ChainOutcome::Exists(_) => Ok(Some(holder)),
            ChainOutcome::Failed {
                error: TransferError::ExistsWithDifferentFields,
                ..
            } => Err(ServiceError::Conflict("already_settled")),
            ChainOutcome::Failed { error, .. } => Err(ServiceError::Refused(error)),
        }
    }
}

impl Service {
    /// Folds the gifts committed so far into member statistics and
    /// leaderboards (the folder does it every second); returns the journal
    /// rows folded.
    pub async fn fold_aggregates(&self) -> Result<usize, ServiceError> {
        let r = self.store.fold_aggregates(FOLD_ROUNDS).await;
        self.metrics.fold(r.as_ref().ok().copied());
        Ok(r?)
    }
}

/// Most fold transactions in one call (each up to `derived::FOLD_ROWS` batches).
const FOLD_ROUNDS: usize = 64;

/// Folds the aggregate journal every second for as long as the service lives.
pub(crate) fn spawn_folder(svc: Weak<Service>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(s) = svc.upgrade() else { break };
            if let Err(e) = s.fold_aggregates().await {
                tracing::warn!(error = %e, "aggregate fold failed; retrying next second");
            }
        }
    });
}

/// Settles each finished day's top gifter once a minute (the last week's
/// days at start, then each day as it ends) for as long as the service lives.
pub(crate) fn spawn_settler(svc: Weak<Service>) {
    tokio::spawn(async move {
        let mut settled: Option<i64> = None;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(s) = svc.upgrade() else { break };
            let last = (s.clock.now_s() - SETTLE_GRACE_S).div_euclid(86_400) - 1;
            let from = settled.map_or(last - 6, |d| d + 1);
            for day in from..=last {
                settle_logged(&s, day).await;
            }
            settled = Some(last);
        }
    });
}

async fn settle_logged(s: &Arc<Service>, day: i64) {
    match s.settle_top_gifter(day).await {
        Ok(Some(k)) => tracing::info!(day, holder = %k, "top gifter settled"),
        Ok(None) => {}
        Err(e) => tracing::warn!(day, error = %e, "top gifter not settled"),
    }
}
