//! Per-stream quality monitoring: loss, late frames, jitter (RFC 3550),
//! RTT, playout delay, concealment/FEC counts and an E-model MOS estimate.

use serde::{Deserialize, Serialize};

/// A quality snapshot of one incoming stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Frames received.
    pub received: u64,
    /// Frames lost in transit.
    pub lost: u64,
    /// Loss fraction over the stream so far (0..1).
    pub loss: f64,
    /// Frames that arrived too late to play.
    pub late: u64,
    /// Interarrival jitter (RFC 3550 estimator), milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time of the media connection, milliseconds (0 if unknown).
    pub rtt_ms: f64,
    /// Jitter-buffer playout delay above the path delay, milliseconds.
    pub playout_delay_ms: f64,
    /// Slots concealed.
    pub concealed: u64,
    /// Slots recovered by FEC.
    pub fec_recovered: u64,
    /// Estimated mouth-to-ear MOS (ITU-T G.107 E-model, 1..4.5).
    pub mos: f64,
}

/// RFC 3550 interarrival jitter estimator.
#[derive(Clone, Debug, Default)]
pub struct JitterEstimator {
    last_transit_us: Option<i64>,
    jitter_us: f64,
}

impl JitterEstimator {
    /// Feeds one frame's transit time (arrival minus media time).
    pub fn update(&mut self, transit_us: i64) {
        if let Some(last) = self.last_transit_us {
            let d = (transit_us - last).abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit_us = Some(transit_us);
    }

    /// Current estimate in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_us / 1_000.0
    }
}

/// Equipment impairment assumed for Opus wideband voice with PLC (G.113
/// gives no Opus entry; 10 / 25 are conservative published estimates).
const IE_OPUS: f64 = 10.0;
const BPL_OPUS: f64 = 25.0;

/// E-model (ITU-T G.107) MOS from one-way delay (ms) and loss (0..1).
pub fn e_model_mos(one_way_ms: f64, loss: f64) -> f64 {
    let d = one_way_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = (loss * 100.0).clamp(0.0, 100.0);
    let ie_eff = IE_OPUS + (95.0 - IE_OPUS) * ppl / (ppl + BPL_OPUS);
    let r = (93.2 - id - ie_eff).clamp(0.0, 100.0);
    if r <= 0.0 {
        return 1.0;
    }
    (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).clamp(1.0, 4.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mos_falls_with_loss_and_delay() {
        let clean = e_model_mos(40.0, 0.0);
        assert!(clean > 4.0, "{clean}");
        assert!(e_model_mos(40.0, 0.1) < clean);
        assert!(e_model_mos(400.0, 0.0) < e_model_mos(100.0, 0.0));
        assert!(e_model_mos(40.0, 0.5) < 2.5);
    }
}
