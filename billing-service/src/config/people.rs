//! Settings of levels, medals and referrals (`[people]` in the TOML file).
//! Every field has a default.
use serde::Deserialize;

use super::ConfigError;

/// A medal's reward: coins from the rewards pool and/or an item (a badge or
/// frame the apps show), granted once; at least one of the two.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MedalReward {
    /// Coins paid from the rewards pool.
    pub coins: i64,
    /// Item granted with it, e.g. `frame.gold`.
    #[serde(default)]
    pub item: Option<String>,
}

/// Levels, medals and referrals.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct People {
    /// Experience needed for level 1, 2, ... (strictly increasing, > 0);
    /// below the first a member is level 0.
    pub level_thresholds: Vec<i64>,
    /// Experience per coin spent on gifts.
    pub xp_per_coin_spent: i64,
    /// Experience per coin of value of the gifts received.
    pub xp_per_coin_received: i64,
    /// Medal `first_gift`: the first gift a member sends.
    pub first_gift: MedalReward,
    /// Medal `streak_7`: the seventh day of a daily-reward streak.
    pub streak_7: MedalReward,
    /// Medal `top_gifter_day`: most coins spent on gifts in a UTC day,
    /// granted once the day is over (ties: the larger account key).
    pub top_gifter_day: MedalReward,
    /// Coins to a referred account with its first purchase.
    pub referral_referee_coins: i64,
    /// Coins to the referrer with that purchase.
    pub referral_referrer_coins: i64,
    /// Lifetime of a signed member statement (level and medals), seconds.
    pub statement_ttl_s: i64,
}

impl Default for People {
    fn default() -> Self {
        People {
            level_thresholds: vec![100, 500, 2_000, 10_000, 50_000, 200_000, 1_000_000],
            xp_per_coin_spent: 1,
            xp_per_coin_received: 1,
            first_gift: MedalReward {
                coins: 0,
                item: Some("badge.first_gift".into()),
            },
            streak_7: MedalReward {
                coins: 50,
                item: Some("frame.week".into()),
            },
            top_gifter_day: MedalReward {
                coins: 100,
                item: Some("badge.top_gifter".into()),
            },
            referral_referee_coins: 50,
            referral_referrer_coins: 100,
            statement_ttl_s: 86_400,
        }
    }
}

impl People {
    /// Refuses thresholds that are not strictly increasing and positive,
    /// medals that reward nothing, negative rates and a lifetime below a minute.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::People(m.to_string()));
        if self.level_thresholds.first().is_some_and(|t| *t <= 0)
            || self.level_thresholds.windows(2).any(|w| w[1] <= w[0])
        {
            return bad("level_thresholds must be positive and strictly increasing");
        }
        if self.level_thresholds.len() > 1000 {
            return bad("at most 1000 level_thresholds");
        }
        if self.xp_per_coin_spent < 0 || self.xp_per_coin_received < 0 {
            return bad("xp rates must not be negative");
        }
        for (name, m) in [
            ("first_gift", &self.first_gift),
            ("streak_7", &self.streak_7),
            ("top_gifter_day", &self.top_gifter_day),
        ] {
            let item_ok = m
                .item
                .as_ref()
                .is_none_or(|i| !i.is_empty() && i.len() <= 64);
            if m.coins < 0 || !item_ok || (m.coins == 0 && m.item.is_none()) {
                return Err(ConfigError::People(format!(
                    "medal {name}: coins >= 0 and an item of 1..=64 bytes, at least one"
                )));
            }
        }
        if self.referral_referee_coins < 1 || self.referral_referrer_coins < 1 {
            return bad("referral rewards must be at least 1 coin");
        }
        if self.statement_ttl_s < 60 {
            return bad("statement_ttl_s must be at least 60");
        }
        Ok(())
    }

    /// The level of `xp` experience, with the experience the next one needs.
    pub fn level(&self, xp: i64) -> (u32, Option<i64>) {
        let level = self.level_thresholds.partition_point(|t| *t <= xp);
        let next = self.level_thresholds.get(level).copied();
        (u32::try_from(level).unwrap_or(u32::MAX), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_thresholds_and_bad_ones_are_refused() {
        let p = People::default();
        assert_eq!(p.level(0), (0, Some(100)));
        assert_eq!(p.level(99), (0, Some(100)));
        assert_eq!(p.level(100), (1, Some(500)));
        assert_eq!(p.level(1_000_000), (7, None));
        assert!(p.check().is_ok());
        let unordered = People {
            level_thresholds: vec![10, 10],
            ..People::default()
        };
        assert!(unordered.check().is_err());
        let free = People {
            streak_7: MedalReward {
                coins: 0,
                item: None,
            },
            ..People::default()
        };
        assert!(free.check().is_err());
        let parsed: People = toml::from_str("level_thresholds = [5, 50]\n[first_gift]\ncoins = 3")
            .unwrap_or_default();
        assert_eq!(parsed.level(50), (2, None));
        assert_eq!(parsed.first_gift.coins, 3);
    }
}
