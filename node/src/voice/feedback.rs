//! Receiver reports, the audio side: each listener periodically tells each
//! talker how its stream fared (loss, jitter); the talker adapts its bitrate
//! and FEC to the worst recent report.
//!
//! The wire format, the author's signature and its verification (room,
//! membership, sequence) are `aura-media`'s ([`aura_media::report`],
//! [`aura_media::ReportInbox`]): a report stays authentic through a relay.
//! What stays here is what the counts mean for audio: [`LossMeter`] makes
//! them from the jitter buffer's counters, [`FeedbackBook`] keeps the latest
//! verified report per listener for the bitrate adaptation.

pub use aura_media::ReceiverReport;

use super::quality::QualityReport;

/// What a report's counts mean for audio.
pub trait ReportQuality {
    /// Loss fraction over the interval (0..1).
    fn loss(&self) -> f64;
    /// Interarrival jitter in milliseconds.
    fn jitter_ms(&self) -> f64;
}

impl ReportQuality for ReceiverReport {
    fn loss(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            f64::from(self.lost.min(self.expected)) / f64::from(self.expected)
        }
    }

    fn jitter_ms(&self) -> f64 {
        f64::from(self.jitter_100us) / 10.0
    }
}

/// Turns a stream's cumulative jitter-buffer counters into per-interval
/// reports (listener side, one per incoming voice stream).
#[derive(Clone, Debug, Default)]
pub struct LossMeter {
    last: (u64, u64, u64),
}

impl LossMeter {
    /// The report for the interval since the last call, or `None` if the
    /// talker sent nothing in it (silence, push-to-talk released).
    pub fn interval(&mut self, q: &QualityReport) -> Option<ReceiverReport> {
        let now = (q.received, q.lost, q.late);
        let (r0, l0, t0) = std::mem::replace(&mut self.last, now);
        let received = now.0.saturating_sub(r0);
        let lost = (now.1 + now.2).saturating_sub(l0 + t0);
        let expected = received + lost;
        if expected == 0 {
            return None;
        }
        let clamp = |v: f64| (v * 10.0).round().clamp(0.0, f64::from(u16::MAX)) as u16;
        let scale = expected.max(1).div_ceil(u64::from(u16::MAX));
        Some(ReceiverReport {
            expected: (expected / scale) as u16,
            lost: (lost / scale) as u16,
            jitter_100us: clamp(q.jitter_ms),
            delay_100us: clamp(q.playout_delay_ms),
        })
    }
}

/// Talker side: the latest verified report from each listener since the
/// last adaptation step.
#[derive(Clone, Debug)]
pub struct FeedbackBook<K> {
    fresh: Vec<(K, ReceiverReport)>,
    latest: Vec<(K, ReceiverReport)>,
    /// Reports taken.
    pub accepted: u64,
}

impl<K> Default for FeedbackBook<K> {
    fn default() -> Self {
        Self {
            fresh: Vec::new(),
            latest: Vec::new(),
            accepted: 0,
        }
    }
}

/// Most listeners whose reports are kept per interval.
const MAX_REPORTERS: usize = 256;

impl<K: PartialEq + Clone> FeedbackBook<K> {
    /// Takes a verified report from listener `from`.
    pub fn on_report(&mut self, from: K, rep: ReceiverReport) {
        self.accepted += 1;
        if let Some(e) = self.fresh.iter_mut().find(|(k, _)| *k == from) {
            e.1 = rep;
        } else if self.fresh.len() < MAX_REPORTERS {
            self.fresh.push((from, rep));
        }
    }

    /// The loss fractions reported since the last call (one per listener),
    /// for [`super::VoiceSender::on_loss_reports`]. Empty if nobody reported.
    pub fn take_losses(&mut self) -> Vec<f64> {
        let fresh = std::mem::take(&mut self.fresh);
        let losses = fresh.iter().map(|(_, r)| r.loss()).collect();
        if !fresh.is_empty() {
            self.latest = fresh;
        }
        losses
    }

    /// The reports used in the last adaptation step.
    pub fn latest(&self) -> &[(K, ReceiverReport)] {
        &self.latest
    }

    /// Forgets a listener.
    pub fn remove(&mut self, who: &K) {
        self.fresh.retain(|(k, _)| k != who);
        self.latest.retain(|(k, _)| k != who);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_reports_interval_loss_only() -> Result<(), Box<dyn std::error::Error>> {
        let mut m = LossMeter::default();
        let mut q = QualityReport {
            received: 90,
            lost: 8,
            late: 2,
            jitter_ms: 1.25,
            ..QualityReport::default()
        };
        let r = m.interval(&q).ok_or("no report")?;
        assert_eq!((r.expected, r.lost, r.jitter_100us), (100, 10, 13));
        assert!((r.loss() - 0.1).abs() < 1e-9);
        q.received += 50;
        let r = m.interval(&q).ok_or("no report")?;
        assert_eq!((r.expected, r.lost), (50, 0));
        assert!(m.interval(&q).is_none());
        Ok(())
    }

    #[test]
    fn book_keeps_latest_per_listener() {
        let mut b = FeedbackBook::default();
        let rep = |lost| ReceiverReport {
            expected: 10,
            lost,
            ..Default::default()
        };
        b.on_report(1u8, rep(1));
        b.on_report(1u8, rep(3));
        b.on_report(2u8, rep(0));
        assert_eq!(b.take_losses(), vec![0.3, 0.0]);
        assert!(b.take_losses().is_empty());
        assert_eq!(b.latest().len(), 2);
        assert_eq!(b.accepted, 3);
    }
}
