//! When to publish a position: by distance moved and time elapsed, never when
//! nothing changed.

use serde::{Deserialize, Serialize};

use super::{Fix, Position, Precision};

/// Publish policy settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PublishPolicy {
    /// Publish once moved at least this far (metres) ...
    pub min_distance_m: f64,
    /// ... and at least this long (ms) after the last publication.
    pub min_interval_ms: u64,
    /// Publish any change, however small, once this long (ms) has passed.
    pub max_interval_ms: u64,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        Self {
            min_distance_m: 10.0,
            min_interval_ms: 1_000,
            max_interval_ms: 30_000,
        }
    }
}

/// Sans-IO publisher state for one group: feed it raw fixes, it answers with
/// the (coarsened) fix to publish, if any.
#[derive(Debug, Clone)]
pub struct Publisher {
    policy: PublishPolicy,
    precision: Precision,
    last: Option<Fix>,
}

impl Publisher {
    /// A publisher with nothing published yet.
    pub fn new(policy: PublishPolicy, precision: Precision) -> Self {
        Self {
            policy,
            precision,
            last: None,
        }
    }

    /// Changes the precision; the next fix is published at the new precision.
    pub fn set_precision(&mut self, precision: Precision) {
        if precision != self.precision {
            self.precision = precision;
            self.last = None;
        }
    }

    /// The current precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// A raw fix at `now`: returns the coarsened fix to publish, or `None`.
    pub fn on_fix(&mut self, pos: Position, now: u64) -> Option<Fix> {
        let coarse = self.precision.coarsen(pos);
        let fix = Fix {
            pos: coarse,
            at_ms: now,
            precision: self.precision,
        };
        let publish = match &self.last {
            None => true,
            Some(last) if last.pos == coarse => false,
            Some(last) => {
                let since = now.saturating_sub(last.at_ms);
                let moved = last.pos.distance_m(&coarse);
                (moved >= self.policy.min_distance_m && since >= self.policy.min_interval_ms)
                    || since >= self.policy.max_interval_ms
            }
        };
        if publish {
            self.last = Some(fix);
            Some(fix)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Position {
        Position::new(45.0, 6.0).unwrap()
    }

    #[test]
    fn standing_still_publishes_once() {
        let mut p = Publisher::new(PublishPolicy::default(), Precision::Exact);
        assert!(p.on_fix(origin(), 0).is_some());
        for t in 1..100 {
            assert!(p.on_fix(origin(), t * 10_000).is_none());
        }
    }

    #[test]
    fn moves_publish_by_distance_and_time() {
        let pol = PublishPolicy {
            min_distance_m: 10.0,
            min_interval_ms: 1000,
            max_interval_ms: 30_000,
        };
        let mut p = Publisher::new(pol, Precision::Exact);
        p.on_fix(origin(), 0);
        // Far enough but too soon.
        assert!(p.on_fix(origin().offset_m(50.0, 0.0), 500).is_none());
        assert!(p.on_fix(origin().offset_m(50.0, 0.0), 1000).is_some());
        // A small move waits for max_interval.
        assert!(p.on_fix(origin().offset_m(52.0, 0.0), 5_000).is_none());
        assert!(p.on_fix(origin().offset_m(52.0, 0.0), 31_000).is_some());
    }

    #[test]
    fn coarse_precision_hides_moves_inside_a_cell() {
        let mut p = Publisher::new(PublishPolicy::default(), Precision::Approx1km);
        let start = Precision::Approx1km.coarsen(origin());
        let first = p.on_fix(start, 0).unwrap();
        assert_eq!(first.precision, Precision::Approx1km);
        // Moving 100 m inside the cell publishes nothing, even much later.
        assert!(p.on_fix(start.offset_m(100.0, 0.0), 600_000).is_none());
    }
}
