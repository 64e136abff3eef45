//! Which fixes go into the location history: a track point when a member
//! has moved far enough or enough time has passed since their last stored
//! point, as a GPS logger records a track. Live updates can arrive every
//! second from every member; storing each one would cost a disk write per
//! update and add nothing a GPX track needs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Fix;

/// History settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryPolicy {
    /// Store a member's fix once they moved at least this far (metres)
    /// from their last stored point ...
    pub min_distance_m: f64,
    /// ... or once this long (ms) has passed since it, whichever comes first.
    pub min_interval_ms: u64,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        Self {
            min_distance_m: 25.0,
            min_interval_ms: 5_000,
        }
    }
}

/// How far ahead of our clock a received fix may be dated, ms (clock skew
/// between honest devices is seconds).
pub const MAX_FUTURE_SKEW_MS: u64 = 60_000;

/// A fix received at `now_ms`, dated no later than `now_ms` +
/// [`MAX_FUTURE_SKEW_MS`] whatever its sender claims: history is keyed by
/// this time, so retention prunes every point, however it was dated.
pub fn as_received(fix: Fix, now_ms: u64) -> Fix {
    Fix {
        at_ms: fix.at_ms.min(now_ms.saturating_add(MAX_FUTURE_SKEW_MS)),
        ..fix
    }
}

/// Bound on members tracked per thinner (a group roster is smaller).
const MAX_MEMBERS: usize = 4096;

/// Sans-IO thinning state for one group: last stored point per member.
#[derive(Debug, Clone, Default)]
pub struct HistoryThinner {
    policy: HistoryPolicy,
    last: HashMap<[u8; 32], Fix>,
}

impl HistoryThinner {
    /// A thinner with nothing stored yet.
    pub fn new(policy: HistoryPolicy) -> Self {
        Self {
            policy,
            last: HashMap::new(),
        }
    }

    /// Whether `fix` of `member` should be stored; remembers it if so.
    pub fn keep(&mut self, member: [u8; 32], fix: &Fix) -> bool {
        let keep = match self.last.get(&member) {
            None => true,
            Some(prev) if fix.at_ms < prev.at_ms => false,
            Some(prev) => {
                fix.at_ms - prev.at_ms >= self.policy.min_interval_ms
                    || fix.pos.distance_m(&prev.pos) >= self.policy.min_distance_m
            }
        };
        if keep {
            if self.last.len() >= MAX_MEMBERS && !self.last.contains_key(&member) {
                self.last.clear();
            }
            self.last.insert(member, *fix);
        }
        keep
    }

    /// Forgets a member (removed from the group).
    pub fn forget(&mut self, member: &[u8; 32]) {
        self.last.remove(member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{Position, Precision};

    fn fix(north_m: f64, at_ms: u64) -> Fix {
        let base = Position {
            lat: 45.0,
            lon: 7.0,
        };
        Fix {
            pos: base.offset_m(north_m, 0.0),
            at_ms,
            precision: Precision::Exact,
        }
    }

    #[test]
    fn a_moving_member_is_stored_every_min_distance_and_a_still_one_every_min_interval() {
        let mut t = HistoryThinner::new(HistoryPolicy::default());
        let (a, b) = ([1u8; 32], [2u8; 32]);
        // a rides north 5 m every 500 ms for 10 s: a point every 25 m.
        let kept_a = (0..20u32)
            .filter(|i| t.keep(a, &fix(f64::from(*i) * 5.0, u64::from(*i) * 500)))
            .count();
        assert_eq!(kept_a, 4, "0, 25, 50, 75 m");
        // b stands still, updating every second for 12 s: a point every 5 s.
        let kept_b = (0..12u64)
            .filter(|i| t.keep(b, &fix(0.0, i * 1000)))
            .count();
        assert_eq!(kept_b, 3, "0, 5, 10 s");
    }

    #[test]
    fn a_fix_dated_in_the_future_is_dated_at_most_the_skew_after_receipt() {
        let now = 1_800_000_000_000;
        assert_eq!(
            as_received(fix(0.0, u64::MAX), now).at_ms,
            now + MAX_FUTURE_SKEW_MS
        );
        assert_eq!(as_received(fix(0.0, now + 5_000), now).at_ms, now + 5_000);
        assert_eq!(as_received(fix(0.0, 7), now).at_ms, 7);
    }

    #[test]
    fn an_older_fix_than_the_last_stored_is_not_stored() {
        let mut t = HistoryThinner::new(HistoryPolicy::default());
        assert!(t.keep([1; 32], &fix(0.0, 10_000)));
        assert!(!t.keep([1; 32], &fix(500.0, 1_000)));
        t.forget(&[1; 32]);
        assert!(t.keep([1; 32], &fix(500.0, 1_000)));
    }
}
