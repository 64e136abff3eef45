//! JSON bodies of levels, medals, referrals, leaderboards and pages.
use serde::{Deserialize, Serialize};

use crate::member::SignedMemberStatement;

/// Most items one page holds (`limit` above it is refused).
pub const MAX_PAGE: u32 = 100;

/// Items a page holds when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 50;

/// One page of a list. Ask for the next with `?cursor=<next_cursor>`;
/// `next_cursor` is absent on the last page. Cursors are opaque.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Where the next page starts; absent when this is the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One row of a leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// Position from 1 (ties hold consecutive positions).
    pub rank: u64,
    /// The member (hex key).
    pub account: String,
    /// Coins spent on gifts (gifters) or value received (receivers).
    pub score: i64,
}

/// A medal held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedalEntry {
    /// Medal name: `first_gift`, `streak_7` or `top_gifter_day`.
    pub medal: String,
    /// Coins it paid.
    pub coins: i64,
    /// Item it granted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The day it was earned for (`top_gifter_day`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<i64>,
    /// When it was granted (unix milliseconds).
    pub granted_ms: i64,
}

/// `GET /v1/level` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLevel {
    /// The member (hex key).
    pub account: String,
    /// Experience: coins spent on gifts and value of gifts received, weighted.
    pub xp: i64,
    /// Level reached (0 below the first threshold).
    pub level: u32,
    /// Experience the next level needs; absent at the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_level_xp: Option<i64>,
    /// Coins spent on gifts.
    pub coins_spent: i64,
    /// Coin value of the gifts received.
    pub coins_received: i64,
    /// Gifts sent.
    pub gifts_sent: i64,
    /// Gifts received.
    pub gifts_received: i64,
    /// Level and medals signed by the ledger, to show in rooms (verify with
    /// [`crate::member::verify`]).
    pub statement: SignedMemberStatement,
}

/// `GET /v1/referral` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralInfo {
    /// This account's referral code (16 hex digits), to give to new members.
    pub code: String,
    /// Who referred this account, if anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_by: Option<String>,
}

/// `POST /v1/referral/redeem` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedeemReferralRequest {
    /// The referrer's code.
    pub code: String,
}

/// An account this one referred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralEntry {
    /// The referred account (hex key).
    pub account: String,
    /// When it redeemed the code (unix seconds).
    pub redeemed_at: i64,
    /// Whether its first purchase paid both rewards.
    pub rewarded: bool,
}
