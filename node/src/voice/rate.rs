//! Sender bitrate adaptation from the loss receivers report: additive
//! increase on a clean path, multiplicative decrease under loss, within the
//! voice range 12–40 kb/s; the expected loss also tunes Opus FEC strength.

use super::codec::{MAX_VOICE_BPS, MIN_VOICE_BPS};

/// AIMD bitrate controller.
#[derive(Clone, Debug)]
pub struct RateController {
    bitrate: i32,
    loss_perc: i32,
}

impl Default for RateController {
    fn default() -> Self {
        Self {
            bitrate: 24_000,
            loss_perc: 5,
        }
    }
}

impl RateController {
    /// Current target (bits/s, expected loss %).
    pub fn target(&self) -> (i32, i32) {
        (self.bitrate, self.loss_perc)
    }

    /// Takes the worst loss fraction reported by the receivers since the
    /// last report and returns the new target.
    pub fn on_reports(&mut self, losses: &[f64]) -> (i32, i32) {
        let worst = losses
            .iter()
            .copied()
            .fold(0.0f64, f64::max)
            .clamp(0.0, 1.0);
        if worst > 0.10 {
            self.bitrate = (f64::from(self.bitrate) * 0.8) as i32;
        } else if worst > 0.02 {
            self.bitrate -= 1_000;
        } else {
            self.bitrate += 2_000;
        }
        self.bitrate = self.bitrate.clamp(MIN_VOICE_BPS, MAX_VOICE_BPS);
        self.loss_perc = ((worst * 100.0).ceil() as i32).clamp(0, 40);
        self.target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapts_within_voice_range() {
        let mut r = RateController::default();
        for _ in 0..50 {
            r.on_reports(&[0.0, 0.001]);
        }
        assert_eq!(r.target().0, MAX_VOICE_BPS);
        for _ in 0..50 {
            r.on_reports(&[0.0, 0.25]);
        }
        assert_eq!(r.target(), (MIN_VOICE_BPS, 25));
    }
}
