//! Receiver reports, sans-IO: each listener periodically tells each talker
//! how its stream fared (loss, jitter); the talker adapts its bitrate and
//! FEC to the worst recent report.
//!
//! A report travels as one small datagram on the media connection to the
//! talker, so the QUIC connection's ed25519 identity says who sent it. Its
//! first byte ([`REPORT_TAG`]) can never start a sealed frame (whose first
//! nibble is the frame version), so both share the connection. Anything
//! that is not exactly [`REPORT_LEN`] bytes with a known tag is refused.

use thiserror::Error;

use super::quality::QualityReport;

/// First byte of a receiver report.
pub const REPORT_TAG: u8 = 0xA1;
/// Exact length of a receiver report on the wire.
pub const REPORT_LEN: usize = 1 + 8 + 2 + 2 + 2 + 2;

/// Why a receiver report was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FeedbackError {
    /// Not exactly [`REPORT_LEN`] bytes.
    #[error("receiver report of {0} bytes (expected {REPORT_LEN})")]
    Length(usize),
    /// The first byte is not [`REPORT_TAG`].
    #[error("not a receiver report (tag {0:#04x})")]
    Tag(u8),
    /// The report is about another room.
    #[error("receiver report for another room")]
    OtherRoom,
    /// The counts do not add up (more lost than expected).
    #[error("inconsistent receiver report")]
    Inconsistent,
}

/// How one listener received one talker's stream over the last interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReceiverReport {
    /// Room id (as in frame headers).
    pub room: [u8; 8],
    /// Frames the talker sent in the interval (by sequence numbers).
    pub expected: u16,
    /// Of those, frames lost or too late to play.
    pub lost: u16,
    /// Interarrival jitter, units of 0.1 ms.
    pub jitter_100us: u16,
    /// Playout delay above the path, units of 0.1 ms.
    pub delay_100us: u16,
}

/// Whether a received media datagram is a receiver report (by its tag).
pub fn is_report(bytes: &[u8]) -> bool {
    bytes.first() == Some(&REPORT_TAG)
}

impl ReceiverReport {
    /// Loss fraction over the interval (0..1).
    pub fn loss(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            f64::from(self.lost) / f64::from(self.expected)
        }
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        f64::from(self.jitter_100us) / 10.0
    }

    /// Wire form.
    pub fn to_bytes(&self) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        b[0] = REPORT_TAG;
        b[1..9].copy_from_slice(&self.room);
        b[9..11].copy_from_slice(&self.expected.to_be_bytes());
        b[11..13].copy_from_slice(&self.lost.to_be_bytes());
        b[13..15].copy_from_slice(&self.jitter_100us.to_be_bytes());
        b[15..17].copy_from_slice(&self.delay_100us.to_be_bytes());
        b
    }

    /// Parses a report for `room`.
    pub fn parse(b: &[u8], room: [u8; 8]) -> Result<Self, FeedbackError> {
        if b.len() != REPORT_LEN {
            return Err(FeedbackError::Length(b.len()));
        }
        if b[0] != REPORT_TAG {
            return Err(FeedbackError::Tag(b[0]));
        }
        let mut r = [0u8; 8];
        r.copy_from_slice(&b[1..9]);
        if r != room {
            return Err(FeedbackError::OtherRoom);
        }
        let u = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let rep = Self {
            room: r,
            expected: u(9),
            lost: u(11),
            jitter_100us: u(13),
            delay_100us: u(15),
        };
        if rep.lost > rep.expected {
            return Err(FeedbackError::Inconsistent);
        }
        Ok(rep)
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
    pub fn interval(&mut self, room: [u8; 8], q: &QualityReport) -> Option<ReceiverReport> {
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
            room,
            expected: (expected / scale) as u16,
            lost: (lost / scale) as u16,
            jitter_100us: clamp(q.jitter_ms),
            delay_100us: clamp(q.playout_delay_ms),
        })
    }
}

/// Talker side: the latest report from each listener since the last
/// adaptation step.
#[derive(Clone, Debug)]
pub struct FeedbackBook<K> {
    fresh: Vec<(K, ReceiverReport)>,
    latest: Vec<(K, ReceiverReport)>,
    /// Reports accepted.
    pub accepted: u64,
    /// Reports refused (malformed, other room, inconsistent).
    pub refused: u64,
}

impl<K> Default for FeedbackBook<K> {
    fn default() -> Self {
        Self {
            fresh: Vec::new(),
            latest: Vec::new(),
            accepted: 0,
            refused: 0,
        }
    }
}

/// Most listeners whose reports are kept per interval.
const MAX_REPORTERS: usize = 256;

impl<K: PartialEq + Clone> FeedbackBook<K> {
    /// Takes a report datagram from `from` (identified by its connection).
    pub fn on_datagram(
        &mut self,
        from: K,
        bytes: &[u8],
        room: [u8; 8],
    ) -> Result<(), FeedbackError> {
        let rep = ReceiverReport::parse(bytes, room).inspect_err(|_| self.refused += 1)?;
        self.accepted += 1;
        if let Some(e) = self.fresh.iter_mut().find(|(k, _)| *k == from) {
            e.1 = rep;
        } else if self.fresh.len() < MAX_REPORTERS {
            self.fresh.push((from, rep));
        }
        Ok(())
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
    fn report_roundtrips_and_junk_is_refused() {
        let r = ReceiverReport {
            room: [7; 8],
            expected: 50,
            lost: 5,
            jitter_100us: 12,
            delay_100us: 40,
        };
        let b = r.to_bytes();
        assert_eq!(ReceiverReport::parse(&b, [7; 8]), Ok(r));
        assert!((r.loss() - 0.1).abs() < 1e-9);
        assert_eq!(
            ReceiverReport::parse(&b, [8; 8]),
            Err(FeedbackError::OtherRoom)
        );
        assert_eq!(
            ReceiverReport::parse(&b[..5], [7; 8]),
            Err(FeedbackError::Length(5))
        );
        let mut bad = b;
        bad[12] = 60; // lost > expected
        assert_eq!(
            ReceiverReport::parse(&bad, [7; 8]),
            Err(FeedbackError::Inconsistent)
        );
        // A sealed frame never looks like a report.
        assert!(!is_report(&[0x11, 0, 0]));
    }

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
        let r = m.interval([0; 8], &q).ok_or("no report")?;
        assert_eq!((r.expected, r.lost, r.jitter_100us), (100, 10, 13));
        q.received += 50;
        let r = m.interval([0; 8], &q).ok_or("no report")?;
        assert_eq!((r.expected, r.lost), (50, 0));
        assert!(m.interval([0; 8], &q).is_none());
        Ok(())
    }

    #[test]
    fn book_keeps_latest_per_listener() -> Result<(), Box<dyn std::error::Error>> {
        let mut b = FeedbackBook::default();
        let rep = |lost| {
            ReceiverReport {
                room: [1; 8],
                expected: 10,
                lost,
                ..Default::default()
            }
            .to_bytes()
        };
        b.on_datagram(1u8, &rep(1), [1; 8])?;
        b.on_datagram(1u8, &rep(3), [1; 8])?;
        b.on_datagram(2u8, &rep(0), [1; 8])?;
        assert!(b.on_datagram(3u8, &[REPORT_TAG; 3], [1; 8]).is_err());
        assert_eq!(b.take_losses(), vec![0.3, 0.0]);
        assert!(b.take_losses().is_empty());
        assert_eq!(b.latest().len(), 2);
        assert_eq!((b.accepted, b.refused), (3, 1));
        Ok(())
    }
}
