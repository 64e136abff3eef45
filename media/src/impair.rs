//! The inbound-loss impairment (test/lab facility): drops received
//! datagrams at random, seeded, as a lossy path would.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Drop probability (parts per million) and its seeded RNG.
pub(crate) struct Impairment {
    ppm: u32,
    rng: StdRng,
}

impl Impairment {
    /// Drops with probability `loss` (clamped to 0..1), seeded by `seed`.
    pub(crate) fn new(loss: f64, seed: u64) -> Self {
        Self {
            ppm: Self::ppm(loss),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn ppm(loss: f64) -> u32 {
        (loss.clamp(0.0, 1.0) * 1e6).round() as u32
    }

    /// Changes the drop probability.
    pub(crate) fn set_loss(&mut self, loss: f64) {
        self.ppm = Self::ppm(loss);
    }

    /// Whether to drop the next datagram.
    pub(crate) fn drop_next(&mut self) -> bool {
        self.ppm != 0 && self.rng.gen_range(0..1_000_000) < self.ppm
    }
}
