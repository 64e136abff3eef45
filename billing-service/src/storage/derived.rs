//! The tables derived from gifts (member statistics behind levels, and
//! leaderboards), kept exactly once and off the ledger writer's path.
//!
//! A batch's transaction appends one row to `aggregate_journal`: the
//! [`GiftFact`]s of its *new* gift transfers (a retried gift creates none,
//! a refused one commits nothing). A folder (every second, and before a
//! day's top gifter is settled) takes journal rows in id order, merges them
//! into [`Derived`] increments and applies them and deletes the rows in one
//! transaction: each fact counts exactly once, a crash before the fold only
//! delays it, and many gifts to the same rows become one upsert. Reads see
//! gifts up to about a second late.
//!
//! Leaderboards are rows `(board, account, score)`; a board key names what
//! is ranked, the period and the scope:
//! `<g|r>:<d|w>:<day or week>[:<room>]`: `g` gifters (coins spent on gifts),
//! `r` receivers (coin value of gifts received), `d` a UTC day (unix days),
//! `w` a week (Monday-based: `(day + 3) / 7`), then the room, or nothing for
//! all rooms. One gift adds to 8 rows.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ledger::{code, StoredTransfer};

/// What a gift transfer stores next to the coins it moves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GiftData {
    pub(crate) gift: String,
    pub(crate) to: String,
    pub(crate) room: String,
    pub(crate) animation: String,
    pub(crate) diamonds: i64,
}

/// Per-member counters, in `member_stats` column order after the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsDelta {
    /// Coins spent on gifts.
    pub coins_spent: i64,
    /// Coin value of the gifts received.
    pub coins_received: i64,
    /// Gifts sent.
    pub gifts_sent: i64,
    /// Gifts received.
    pub gifts_received: i64,
}

/// Increments for the derived tables, keyed (and so written) in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Derived {
    /// Per account (device key hex).
    pub stats: BTreeMap<String, StatsDelta>,
    /// Per (board key, account).
    pub boards: BTreeMap<(String, String), i64>,
}

impl Derived {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty() && self.boards.is_empty()
    }
}

/// Columns of `member_stats`.
pub(crate) const STATS_COLS: &str =
    "account, coins_spent, coins_received, gifts_sent, gifts_received";

/// Adds one member's counters (`$1`..`$5`, [`STATS_COLS`]).
pub(crate) const STATS_UPSERT_SQL: &str = "INSERT INTO member_stats \
    (account, coins_spent, coins_received, gifts_sent, gifts_received) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account) DO UPDATE SET \
    coins_spent = member_stats.coins_spent + excluded.coins_spent, \
    coins_received = member_stats.coins_received + excluded.coins_received, \
    gifts_sent = member_stats.gifts_sent + excluded.gifts_sent, \
    gifts_received = member_stats.gifts_received + excluded.gifts_received";

/// Appends a batch's facts (`$1`: their JSON) to the journal.
pub(crate) const JOURNAL_INSERT_SQL: &str = "INSERT INTO aggregate_journal (facts) VALUES ($1)";

/// Journal rows to fold in one transaction.
pub const FOLD_ROWS: i64 = 16;

/// One committed gift, as the derived tables need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftFact {
    /// Sender (key hex).
    pub from: String,
    /// Receiver (key hex).
    pub to: String,
    /// Room.
    pub room: String,
    /// Coins the gift cost.
    pub coins: i64,
    /// Commit time (unix microseconds).
    pub ts_us: i64,
}

/// Adds to one leaderboard row (`$1`..`$3`: board, account, score).
pub(crate) const BOARD_UPSERT_SQL: &str = "INSERT INTO leaderboard (board, account, score) \
    VALUES ($1, $2, $3) ON CONFLICT (board, account) DO UPDATE SET \
    score = leaderboard.score + excluded.score";

/// A UTC day number (unix days) of a time in microseconds.
pub fn day_of_us(ts_us: i64) -> i64 {
    ts_us.div_euclid(86_400_000_000)
}

/// The Monday-based week holding `day` (1970-01-01 was a Thursday).
pub fn week_of_day(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// A board key (see the module doc); `room` `None` for all rooms.
pub fn board_key(receivers: bool, weekly: bool, period: i64, room: Option<&str>) -> String {
    let kind = if receivers { 'r' } else { 'g' };
    let span = if weekly { 'w' } else { 'd' };
    match room {
        Some(r) => format!("{kind}:{span}:{period}:{r}"),
        None => format!("{kind}:{span}:{period}"),
    }
}

/// The sender's key hex of a user coin wallet id `u:<hex>:coins`.
fn wallet_owner(account: &str) -> Option<&str> {
    account.strip_prefix("u:")?.strip_suffix(":coins")
}

/// The gifts among `new` (a batch's newly committed transfers).
pub fn facts(new: &[StoredTransfer]) -> Vec<GiftFact> {
    let mut out = Vec::new();
    for t in new {
        let tr = &t.transfer;
        if tr.code != code::GIFT {
            continue;
        }
        let (Some(sender), Ok(g)) = (
            wallet_owner(&tr.debit_account),
            serde_json::from_str::<GiftData>(&tr.user_data),
        ) else {
            continue; // the diamond leg, or not a user's gift
        };
        out.push(GiftFact {
            from: sender.to_string(),
            to: g.to,
            room: g.room,
            coins: tr.amount,
            ts_us: t.ts_us,
        });
    }
    out
}

impl Derived {
    /// Adds what `facts` add. Gifts are first summed per member, room and
    /// day, so a folder merging thousands of gifts from a few hundred
    /// members builds each row key once.
    pub fn add(&mut self, facts: &[GiftFact]) {
        let mut per: BTreeMap<(bool, &str, &str, i64), i64> = BTreeMap::new();
        let mut stats: BTreeMap<&str, StatsDelta> = BTreeMap::new();
        for f in facts {
            let day = day_of_us(f.ts_us);
            add(
                per.entry((false, &f.from, &f.room, day)).or_default(),
                f.coins,
            );
            add(per.entry((true, &f.to, &f.room, day)).or_default(), f.coins);
            let s = stats.entry(&f.from).or_default();
            add(&mut s.coins_spent, f.coins);
            add(&mut s.gifts_sent, 1);
            let r = stats.entry(&f.to).or_default();
            add(&mut r.coins_received, f.coins);
            add(&mut r.gifts_received, 1);
        }
        for (account, d) in stats {
            let s = self.stats.entry(account.to_string()).or_default();
            add(&mut s.coins_spent, d.coins_spent);
            add(&mut s.coins_received, d.coins_received);
            add(&mut s.gifts_sent, d.gifts_sent);
            add(&mut s.gifts_received, d.gifts_received);
        }
        for ((receivers, who, room, day), coins) in per {
            for (weekly, period) in [(false, day), (true, week_of_day(day))] {
                for room in [Some(room), None] {
                    let key = (board_key(receivers, weekly, period, room), who.to_string());
                    add(self.boards.entry(key).or_default(), coins);
                }
            }
        }
    }
}

/// Adds without overflowing (a counter stops at `i64::MAX`).
fn add(to: &mut i64, n: i64) {
    *to = to.saturating_add(n);
}

/// What `new` adds (all of its facts merged).
pub fn derive(new: &[StoredTransfer]) -> Derived {
    let mut d = Derived::default();
    d.add(&facts(new));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::Currency,
        ledger::{PendingState, Transfer, TransferKind},
    };

    fn gift(id: &str, from: &str, to: &str, room: &str, coins: i64, ts_us: i64) -> StoredTransfer {
        let data = GiftData {
            gift: "rose".into(),
            to: to.into(),
            room: room.into(),
            animation: String::new(),
            diamonds: 1,
        };
        StoredTransfer {
            transfer: Transfer {
                id: id.into(),
                debit_account: format!("u:{from}:coins"),
                credit_account: "p:gift_revenue:coins".into(),
                amount: coins,
                currency: Currency::Coins,
                kind: TransferKind::Single,
                code: code::GIFT,
                user_data: serde_json::to_string(&data).unwrap_or_default(),
            },
            ts_us,
            expires_at_us: 0,
            pending_state: PendingState::None,
        }
    }

    #[test]
    fn a_batch_of_gifts_merges_into_stats_and_eight_board_rows_each() {
        let day = 20_000;
        let ts = day * 86_400_000_000 + 5;
        let d = derive(&[
            gift("1", "aa", "bb", "r1", 10, ts),
            gift("2", "aa", "bb", "r1", 5, ts),
            gift("3", "bb", "aa", "r2", 1, ts),
        ]);
        assert_eq!(d.stats["aa"].coins_spent, 15);
        assert_eq!(d.stats["aa"].coins_received, 1);
        assert_eq!(d.stats["bb"].gifts_received, 2);
        let key = |r, w, p, room| (board_key(r, w, p, room), "aa".to_string());
        assert_eq!(d.boards[&key(false, false, day, Some("r1"))], 15);
        assert_eq!(d.boards[&key(false, false, day, None)], 15);
        assert_eq!(d.boards[&key(false, true, week_of_day(day), None)], 15);
        assert_eq!(d.boards[&key(true, false, day, None)], 1);
        // aa: 4 gifter rows in r1 + all, 4 receiver rows in r2 + all (shared "all" rows merge).
        assert_eq!(d.boards.keys().filter(|k| k.1 == "aa").count(), 8);
    }

    #[test]
    fn weeks_start_on_monday() {
        // 1970-01-05 (day 4) was a Monday.
        assert_eq!(week_of_day(3), 0);
        assert_eq!(week_of_day(4), 1);
        assert_eq!(week_of_day(10), 1);
        assert_eq!(week_of_day(11), 2);
    }
}
