//! Proximity alerts ("X is within 200 m"), decided on the positions members
//! chose to share, with hysteresis.
//!
//! Privacy: the decision uses only the coarsened position a member published
//! (the receiver already holds it), so the alert stream tells the receiver
//! nothing finer than that member's precision: two true positions inside one
//! grid cell produce exactly the same alerts.

use std::collections::BTreeSet;

use super::{Fix, Position};

/// A proximity change for member `M`.
#[derive(Debug, Clone, PartialEq)]
pub enum ProximityEvent<M> {
    /// `member` came within the threshold.
    Near {
        /// Who.
        member: M,
        /// Distance between our position and the member's shared position, metres.
        distance_m: f64,
        /// How far off that figure may be, given the member's precision, metres.
        uncertainty_m: f64,
    },
    /// `member` moved beyond threshold + hysteresis.
    Far {
        /// Who.
        member: M,
    },
}

/// Near/far state per member.
#[derive(Debug, Clone)]
pub struct ProximityTracker<M> {
    threshold_m: f64,
    hysteresis_m: f64,
    near: BTreeSet<M>,
}

impl<M: Ord + Clone> ProximityTracker<M> {
    /// Alerts within `threshold_m`, cleared beyond `threshold_m + hysteresis_m`.
    pub fn new(threshold_m: f64, hysteresis_m: f64) -> Self {
        Self {
            threshold_m,
            hysteresis_m,
            near: BTreeSet::new(),
        }
    }

    /// The alert threshold in metres.
    pub fn threshold_m(&self) -> f64 {
        self.threshold_m
    }

    /// Re-evaluates `member` given our own position and its last shared fix.
    pub fn update(&mut self, me: &Position, member: &M, theirs: &Fix) -> Option<ProximityEvent<M>> {
        let d = me.distance_m(&theirs.pos);
        let was = self.near.contains(member);
        if !was && d <= self.threshold_m {
            self.near.insert(member.clone());
            Some(ProximityEvent::Near {
                member: member.clone(),
                distance_m: d,
                uncertainty_m: theirs.precision.uncertainty_m(),
            })
        } else if was && d > self.threshold_m + self.hysteresis_m {
            self.near.remove(member);
            Some(ProximityEvent::Far {
                member: member.clone(),
            })
        } else {
            None
        }
    }

    /// Forgets a member.
    pub fn forget(&mut self, member: &M) {
        self.near.remove(member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{Precision, PublishPolicy, Publisher};

    fn base() -> Position {
        Position::new(45.0, 6.0).unwrap()
    }

    #[test]
    fn approach_with_jitter_alerts_once() {
        let mut t = ProximityTracker::new(200.0, 50.0);
        let me = base();
        let mut events = 0;
        for d in [
            500.0, 300.0, 199.0, 210.0, 195.0, 240.0, 199.0, 260.0, 300.0, 190.0,
        ] {
            let fix = Fix {
                pos: me.offset_m(d, 0.0),
                at_ms: 0,
                precision: Precision::Exact,
            };
            if t.update(&me, &"x", &fix).is_some() {
                events += 1;
            }
        }
        // near at 199, far at 260, near at 190.
        assert_eq!(events, 3);
    }

    #[test]
    fn alerts_reveal_nothing_finer_than_the_chosen_precision() {
        // Two true positions in the same 1 km cell, observed by a receiver who
        // walks everywhere around them: identical alert sequences.
        let cell = Precision::Approx1km.coarsen(base());
        let a = cell.offset_m(-200.0, 150.0);
        let b = cell.offset_m(250.0, -300.0);
        assert_eq!(
            Precision::Approx1km.coarsen(a),
            Precision::Approx1km.coarsen(b)
        );
        let seq = |true_pos: Position| {
            let mut p = Publisher::new(PublishPolicy::default(), Precision::Approx1km);
            let fix = p.on_fix(true_pos, 0).unwrap();
            let mut t = ProximityTracker::new(200.0, 50.0);
            let mut out = Vec::new();
            for step in 0..200 {
                let me = cell.offset_m(-1000.0 + 10.0 * step as f64, 100.0);
                out.push(
                    t.update(&me, &"x", &fix)
                        .map(|e| matches!(e, ProximityEvent::Near { .. })),
                );
            }
            out
        };
        assert_eq!(seq(a), seq(b));
    }

    #[test]
    fn an_observer_walking_around_a_jittery_member_cannot_trilaterate_inside_the_cell() {
        use rand::{Rng, SeedableRng};
        // The member stands still near the south-east or the north-west corner
        // of one 100 m cell, its fixes off by up to 10 m of GPS noise; an
        // observer walks a 2 km x 2 km lattice around it for an hour, getting
        // the member's published fixes as they come. Whatever the observer
        // records (alerts and the distances in them) is the same for both.
        let prec = Precision::Approx100m;
        let centre = prec.coarsen(base());
        let observe = |true_pos: Position, seed: u64| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut publisher = Publisher::new(PublishPolicy::default(), prec);
            let mut tracker = ProximityTracker::new(200.0, 25.0);
            let mut shared = None;
            let mut seen = Vec::new();
            for s in 0..3_600u64 {
                let noisy =
                    true_pos.offset_m(rng.gen_range(-10.0..10.0), rng.gen_range(-10.0..10.0));
                if let Some(fix) = publisher.on_fix(noisy, s * 1000) {
                    shared = Some(fix);
                }
                let step = s as f64;
                let me = centre.offset_m(
                    -1000.0 + (step * 37.0) % 2000.0,
                    -1000.0 + (step * 53.0) % 2000.0,
                );
                if let Some(fix) = shared {
                    seen.push(tracker.update(&me, &"x", &fix).map(|e| match e {
                        ProximityEvent::Near { distance_m, .. } => distance_m.to_bits(),
                        ProximityEvent::Far { .. } => 0,
                    }));
                }
            }
            seen
        };
        let south = centre.offset_m(-38.0, 12.0);
        let north = centre.offset_m(38.0, -36.0);
        let a = observe(south, 1);
        assert!(a.iter().flatten().count() > 10, "the observer saw alerts");
        assert_eq!(a, observe(north, 2));
    }
}
