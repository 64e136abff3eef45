//! The receiving half of one incoming stream, sans-IO: payloads with their
//! arrival times in, decoded PCM slots out at playout time.

use super::codec::{CodecError, Decoder, FrameDuration};
use super::jitter::{self, samples_to_us, JitterBuffer, Playout};
use super::payload::{VoicePayload, FLAG_10MS, FLAG_MUSIC};
use super::quality::{e_model_mos, JitterEstimator, QualityReport};

/// Opus algorithmic delay at 20 ms frames in ms (frame + lookahead), used
/// for the mouth-to-ear estimate.
const CODEC_DELAY_MS: f64 = 26.5;

/// One decoded slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Media timestamp of the first sample (48 kHz samples).
    pub ts: u64,
    /// Interleaved PCM.
    pub pcm: Vec<i16>,
    /// Channels of `pcm` (1 voice, 2 music).
    pub channels: usize,
    /// How the slot was produced.
    pub kind: SlotKind,
}

/// How a slot was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// Decoded from its frame.
    Decoded,
    /// Recovered from the next frame's FEC.
    Fec,
    /// Rebuilt from a later frame's DRED (deep redundancy).
    Dred,
    /// Concealed.
    Concealed,
}

/// Receives one member's stream.
#[derive(Debug)]
pub struct VoiceReceiver {
    jb: JitterBuffer,
    dec: Decoder,
    flags: u8,
    jitter: JitterEstimator,
    rtt_ms: f64,
    decode_errors: u64,
    refused: u64,
}

impl VoiceReceiver {
    /// A receiver for a stream whose frames carry `flags` (music/10 ms).
    pub fn new(flags: u8) -> Result<Self, CodecError> {
        Self::with_config(flags, jitter::Config::default())
    }

    /// A receiver with explicit jitter-buffer settings.
    pub fn with_config(flags: u8, mut cfg: jitter::Config) -> Result<Self, CodecError> {
        let frame = if flags & FLAG_10MS != 0 {
            FrameDuration::Ms10
        } else {
            FrameDuration::Ms20
        };
        let channels = if flags & FLAG_MUSIC != 0 { 2 } else { 1 };
        cfg.frame_samples = frame.samples() as u32;
        Ok(Self {
            jb: JitterBuffer::new(cfg),
            dec: Decoder::new(channels, frame)?,
            flags,
            jitter: JitterEstimator::default(),
            rtt_ms: 0.0,
            decode_errors: 0,
            refused: 0,
        })
    }

    /// Whether this stream is stereo music.
    pub fn is_music(&self) -> bool {
        self.flags & FLAG_MUSIC != 0
    }

    /// Feeds an arrived payload. Payloads whose format flags differ from the
    /// stream's are refused and counted.
    pub fn push(&mut self, p: VoicePayload, now_us: u64) -> bool {
        if (p.flags & (FLAG_MUSIC | FLAG_10MS)) != self.flags & (FLAG_MUSIC | FLAG_10MS) {
            self.refused += 1;
            return false;
        }
        self.jitter
            .update(now_us as i64 - samples_to_us(u64::from(p.ts)));
        self.jb.push(p.seq, p.ts, p.opus, now_us)
    }

    /// When the next slot is due, if playing.
    pub fn next_due_us(&self) -> Option<u64> {
        self.jb.next_due_us()
    }

    /// Returns the next decoded slot if due. Decoder errors conceal the slot.
    pub fn poll(&mut self, now_us: u64) -> Option<Slot> {
        let p = self.jb.poll(now_us)?;
        let (ts, r, kind) = match p {
            Playout::Frame { ts, payload } => (ts, self.dec.decode(&payload), SlotKind::Decoded),
            Playout::Fec { ts, next_payload } => {
                (ts, self.dec.decode_fec(&next_payload), SlotKind::Fec)
            }
            Playout::Dred {
                ts,
                later_ts,
                later_payload,
            } => {
                let back = later_ts.saturating_sub(ts) as usize;
                (
                    ts,
                    self.dec.decode_dred(&later_payload, back),
                    SlotKind::Dred,
                )
            }
            Playout::Conceal { ts } => (ts, self.dec.conceal(), SlotKind::Concealed),
        };
        let pcm = match r {
            Ok(pcm) => pcm,
            Err(e) => {
                self.decode_errors += 1;
                tracing::debug!(error = %e, "opus decode failed; concealing");
                self.dec.conceal().unwrap_or_default()
            }
        };
        let channels = if self.is_music() { 2 } else { 1 };
        Some(Slot {
            ts,
            pcm,
            channels,
            kind,
        })
    }

    /// Records the media connection's RTT.
    pub fn set_rtt_ms(&mut self, rtt: f64) {
        self.rtt_ms = rtt;
    }

    /// Frames refused for a format mismatch, and decode errors.
    pub fn errors(&self) -> (u64, u64) {
        (self.refused, self.decode_errors)
    }

    /// Quality snapshot.
    pub fn report(&self) -> QualityReport {
        let s = self.jb.stats();
        let expected = s.received + s.lost;
        let loss = if expected > 0 {
            (s.lost + s.late) as f64 / expected as f64
        } else {
            0.0
        };
        let playout_ms = self.jb.playout_delay_us().max(0) as f64 / 1_000.0;
        let one_way = CODEC_DELAY_MS + self.rtt_ms / 2.0 + playout_ms;
        // Losses FEC recovered do not hurt quality.
        let effective = if expected > 0 {
            (s.lost + s.late).saturating_sub(s.fec_recovered) as f64 / expected as f64
        } else {
            0.0
        };
        QualityReport {
            received: s.received,
            lost: s.lost,
            loss,
            late: s.late,
            jitter_ms: self.jitter.jitter_ms(),
            rtt_ms: self.rtt_ms,
            playout_delay_ms: playout_ms,
            concealed: s.concealed,
            fec_recovered: s.fec_recovered,
            mos: e_model_mos(one_way, effective),
        }
    }

    /// Jitter-buffer counters.
    pub fn jitter_stats(&self) -> &jitter::Stats {
        self.jb.stats()
    }
}
