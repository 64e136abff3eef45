//! When to publish a position: by distance moved and time elapsed, never when
//! nothing changed, and (with [`PublishPolicy::noise_m`]) never for GPS jitter
//! of a device lying still: a battery-friendly policy is "distance AND time,
//! OR a significant change after a long time", never "distance OR time"
//! (OwnTracks' 100 m / 300 s move mode republishes a phone on a desk every
//! 5 minutes because its fixes wander by more than nothing; see
//! [`PublishPolicy::background`]). At a coarse precision, a cell change is published only at
//! the start of a fixed time slot, and only once the member is clearly inside
//! the new cell ([`Precision::hold`]): neither GPS noise at a cell edge nor the
//! moment of crossing one tells the group where the edge was crossed.

use serde::{Deserialize, Serialize};

use super::{precision::Cell, Fix, Position, Precision};

/// Publish policy settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PublishPolicy {
    /// Publish once moved at least this far (metres) ...
    pub min_distance_m: f64,
    /// ... and at least this long (ms) after the last publication.
    pub min_interval_ms: u64,
    /// Publish any change, however small, once this long (ms) has passed.
    pub max_interval_ms: u64,
    /// At a coarse precision, cells are compared once per slot of this many
    /// ms (slots start at multiples of it since the unix epoch), so when a
    /// cell change is published says nothing about when the edge was crossed.
    #[serde(default = "default_coarse_slot_ms")]
    pub coarse_slot_ms: u64,
    /// Moves shorter than this (metres) are GPS jitter, published never, not
    /// even after `max_interval_ms` (0: any change counts).
    #[serde(default)]
    pub noise_m: f64,
}

fn default_coarse_slot_ms() -> u64 {
    15_000
}

impl Default for PublishPolicy {
    fn default() -> Self {
        Self {
            min_distance_m: 10.0,
            min_interval_ms: 1_000,
            max_interval_ms: 30_000,
            coarse_slot_ms: default_coarse_slot_ms(),
            noise_m: 0.0,
        }
    }
}

impl PublishPolicy {
    /// The policy of background mode: 100 m AND 60 s. A walk (1.4 m/s) is
    /// published about every 70 s, a drive at most once a minute, and a
    /// phone lying still (fixes wandering by tens of metres) never again:
    /// nothing is republished on time alone (the noise floor is the
    /// distance), members see the last fix with its age.
    pub fn background() -> Self {
        Self {
            min_distance_m: 100.0,
            min_interval_ms: 60_000,
            max_interval_ms: 900_000,
            coarse_slot_ms: 60_000,
            noise_m: 100.0,
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
    /// Coarse precision: the cell we are placed in and the slot it was last
    /// compared in.
    cell: Option<(Cell, u64)>,
}

impl Publisher {
    /// A publisher with nothing published yet.
    pub fn new(policy: PublishPolicy, precision: Precision) -> Self {
        Self {
            policy,
            precision,
            last: None,
            cell: None,
        }
    }

    /// Changes the precision; the next fix is published at the new precision.
    pub fn set_precision(&mut self, precision: Precision) {
        if precision != self.precision {
            self.precision = precision;
            self.last = None;
            self.cell = None;
        }
    }

    /// Changes the policy (background mode); what was published stays the
    /// reference for the next decision.
    pub fn set_policy(&mut self, policy: PublishPolicy) {
        self.policy = policy;
    }

    /// The last published fix again, stamped `now` (after a network restart
    /// the last publication may have reached no one); `None` before any.
    pub fn republish(&mut self, now: u64) -> Option<Fix> {
        let fix = Fix {
            at_ms: now,
            ..self.last?
        };
        self.last = Some(fix);
        Some(fix)
    }

    /// The current policy.
    pub fn policy(&self) -> PublishPolicy {
        self.policy
    }

    /// The current precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// A raw fix at `now`: returns the coarsened fix to publish, or `None`.
    pub fn on_fix(&mut self, pos: Position, now: u64) -> Option<Fix> {
        if self.precision == Precision::Exact {
            self.on_exact_fix(pos, now)
        } else {
            self.on_coarse_fix(pos, now)
        }
    }

    /// Coarse precision: the first fix places us in its cell; after that, the
    /// first fix of each slot is compared with our cell (with hysteresis) and
    /// a change is published; every other fix is ignored.
    fn on_coarse_fix(&mut self, pos: Position, now: u64) -> Option<Fix> {
        let slot = now / self.policy.coarse_slot_ms.max(1);
        let cell = match self.cell {
            None => self.precision.cell_of(pos)?,
            Some((_, seen)) if seen == slot => return None,
            Some((current, _)) => {
                let next = self.precision.hold(current, pos);
                self.cell = Some((current, slot));
                if next == current {
                    return None;
                }
                next
            }
        };
        self.cell = Some((cell, slot));
        let fix = Fix {
            pos: self.precision.centre(cell),
            at_ms: now,
            precision: self.precision,
        };
        self.last = Some(fix);
        Some(fix)
    }

    fn on_exact_fix(&mut self, pos: Position, now: u64) -> Option<Fix> {
        let coarse = pos;
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
                    || (since >= self.policy.max_interval_ms && moved >= self.policy.noise_m)
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
            coarse_slot_ms: 15_000,
            noise_m: 0.0,
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

    /// A standard normal sample (Box-Muller), for GPS noise.
    fn gauss(rng: &mut impl rand::Rng) -> f64 {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        let v: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
        (-2.0 * u.ln()).sqrt() * v.cos()
    }

    #[test]
    fn gps_noise_at_a_cell_edge_never_flips_the_published_cell() {
        use rand::SeedableRng;
        for (prec, sigma_m) in [(Precision::Approx100m, 5.0), (Precision::Approx1km, 15.0)] {
            let half = prec.cell_m() / 2.0;
            let centre = prec.coarsen(origin());
            // Just inside or outside the north edge, the east edge, and the
            // north-east corner of one cell.
            let spots = [
                (half - 0.5, 0.0),
                (half + 0.5, 0.0),
                (half - 3.0, 0.0),
                (half + 3.0, 0.0),
                (0.0, half - 1.0),
                (0.0, half + 1.0),
                (half + 0.5, half - 0.5),
                (half - 0.5, half + 0.5),
            ];
            for (seed, (north, east)) in spots.into_iter().enumerate() {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
                let truth = centre.offset_m(north, east);
                let mut p = Publisher::new(PublishPolicy::default(), prec);
                // One fix a second for two hours, each off by GPS noise.
                let published: Vec<Fix> = (0..7_200u64)
                    .filter_map(|s| {
                        let noisy =
                            truth.offset_m(sigma_m * gauss(&mut rng), sigma_m * gauss(&mut rng));
                        p.on_fix(noisy, 1_000_000 + s * 1000)
                    })
                    .collect();
                assert_eq!(
                    published.len(),
                    1,
                    "{prec:?} at {north} m N, {east} m E of the centre flipped: {published:?}"
                );
                assert!(truth.distance_m(&published[0].pos) <= prec.uncertainty_m());
            }
        }
    }

    #[test]
    fn when_a_cell_change_is_published_does_not_reveal_when_the_edge_was_crossed() {
        let pol = PublishPolicy::default();
        let prec = Precision::Approx100m;
        let centre = prec.coarsen(origin());
        // Members walk north at 1 m/s from (about) the centre of a cell; each starts a
        // few seconds later, so each crosses the edge (and the margin) at
        // another moment of the same slot.
        let walk = |delay_s: u64| {
            let mut p = Publisher::new(pol, prec);
            (0..120u64)
                .filter_map(|s| {
                    let walked = s.saturating_sub(delay_s) as f64 - 0.5;
                    p.on_fix(centre.offset_m(walked, 0.0), s * 1000)
                })
                .map(|f| (f.at_ms, f.pos))
                .collect::<Vec<_>>()
        };
        // Past the margin (75 m north of the centre) at 76 s without delay, up
        // to 89 s with: all in slot 5 (75 s to 90 s), so the change shows at 90 s.
        let first = walk(0);
        assert_eq!(first.len(), 2, "{first:?}");
        assert_eq!(first[1].0, 90_000);
        for delay in 1..=13 {
            assert_eq!(walk(delay), first, "a walk {delay} s later told apart");
        }
        assert!(first
            .iter()
            .skip(1)
            .all(|(at, _)| at % pol.coarse_slot_ms == 0));
    }

    /// A phone on a desk for eight hours, one fix a minute, each off by GPS
    /// noise of 15 m (sigma; 30 m now and then).
    fn desk_fixes(seed: u64) -> Vec<(Position, u64)> {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..8 * 60u64)
            .map(|m| {
                let e = origin().offset_m(15.0 * gauss(&mut rng), 15.0 * gauss(&mut rng));
                (e, 1_000_000 + m * 60_000)
            })
            .collect()
    }

    #[test]
    fn background_policy_publishes_a_phone_lying_still_once() {
        let mut p = Publisher::new(PublishPolicy::background(), Precision::Exact);
        let published = desk_fixes(7)
            .into_iter()
            .filter_map(|(pos, at)| p.on_fix(pos, at))
            .count();
        assert_eq!(published, 1);
    }

    #[test]
    fn distance_or_time_republishes_a_phone_lying_still_all_day() {
        // The cautionary tale, for contrast: 100 m OR 300 s.
        let or_policy = PublishPolicy {
            min_distance_m: 100.0,
            min_interval_ms: 0,
            max_interval_ms: 300_000,
            coarse_slot_ms: 60_000,
            noise_m: 0.0,
        };
        let mut p = Publisher::new(or_policy, Precision::Exact);
        let published = desk_fixes(7)
            .into_iter()
            .filter_map(|(pos, at)| p.on_fix(pos, at))
            .count();
        assert!(published >= 8 * 12, "{published}");
    }

    #[test]
    fn background_policy_follows_a_walk_about_every_100_m() {
        let mut p = Publisher::new(PublishPolicy::background(), Precision::Exact);
        // An hour's walk north at 1.4 m/s, one fix a minute.
        let published: Vec<Fix> = (0..60u64)
            .filter_map(|m| p.on_fix(origin().offset_m(1.4 * 60.0 * m as f64, 0.0), m * 60_000))
            .collect();
        // 84 m a minute: every second fix (168 m), never two within a minute.
        assert!((29..=31).contains(&published.len()), "{}", published.len());
        assert!(published
            .windows(2)
            .all(|w| w[1].at_ms - w[0].at_ms >= 60_000));
    }
}
