//! Opus encoder and decoder with Aura's voice settings: 48 kHz, 20 ms (or
//! 10 ms) frames, in-band FEC, DTX, and a bitrate the sender adapts.

use aura_opus::Application;
use thiserror::Error;

use super::SAMPLE_RATE;

/// Lowest voice bitrate the adaptation uses (bits/s).
pub const MIN_VOICE_BPS: i32 = 12_000;
/// Highest voice bitrate the adaptation uses (bits/s).
pub const MAX_VOICE_BPS: i32 = 40_000;
/// Music bitrate (stereo).
pub const MUSIC_BPS: i32 = 128_000;

/// Codec errors.
#[derive(Debug, Error)]
pub enum CodecError {
    /// libopus refused a call.
    #[error("opus: {0}")]
    Opus(#[from] aura_opus::Error),
    /// Input frame has the wrong number of samples.
    #[error("expected {expected} samples, got {got}")]
    FrameSize {
        /// Expected samples.
        expected: usize,
        /// Received samples.
        got: usize,
    },
}

/// Frame duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FrameDuration {
    /// 10 ms (lower latency, more packets).
    Ms10,
    /// 20 ms (default).
    #[default]
    Ms20,
}

impl FrameDuration {
    /// Samples per channel per frame at 48 kHz.
    pub fn samples(self) -> usize {
        match self {
            Self::Ms10 => SAMPLE_RATE as usize / 100,
            Self::Ms20 => SAMPLE_RATE as usize / 50,
        }
    }

    /// Duration in milliseconds.
    pub fn millis(self) -> u32 {
        match self {
            Self::Ms10 => 10,
            Self::Ms20 => 20,
        }
    }
}

/// Encoder settings.
#[derive(Clone, Debug)]
pub struct EncoderConfig {
    /// Frame duration.
    pub frame: FrameDuration,
    /// Channels (1 = voice, 2 = music).
    pub channels: usize,
    /// Start bitrate (bits/s).
    pub bitrate: i32,
    /// In-band FEC.
    pub fec: bool,
    /// Discontinuous transmission in silence.
    pub dtx: bool,
    /// Expected loss percentage (tunes FEC strength).
    pub loss_perc: i32,
}

impl EncoderConfig {
    /// Voice defaults: mono, 20 ms, 24 kb/s, FEC armed and DTX on. The
    /// expected loss starts at 0 so a clean path spends no bits on
    /// redundancy; receiver reports raise it.
    pub fn voice() -> Self {
        Self {
            frame: FrameDuration::Ms20,
            channels: 1,
            bitrate: 24_000,
            fec: true,
            dtx: true,
            loss_perc: 0,
        }
    }

    /// Music defaults: stereo, 20 ms, 128 kb/s, no DTX.
    pub fn music() -> Self {
        Self {
            frame: FrameDuration::Ms20,
            channels: 2,
            bitrate: MUSIC_BPS,
            fec: false,
            dtx: false,
            loss_perc: 0,
        }
    }
}

/// DRED span (10 ms units) for an expected loss: off on a clean path,
/// else 100 ms, enough for the bursts the jitter buffer waits out.
fn dred_units(loss_perc: i32) -> i32 {
    if loss_perc > 0 {
        10
    } else {
        0
    }
}

/// Opus encoder.
pub struct Encoder {
    inner: aura_opus::Encoder,
    cfg: EncoderConfig,
    out: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("cfg", &self.cfg).finish()
    }
}

impl Encoder {
    /// A new encoder.
    pub fn new(cfg: EncoderConfig) -> Result<Self, CodecError> {
        let app = if cfg.channels >= 2 {
            Application::Audio
        } else {
            Application::Voip
        };
        let mut inner = aura_opus::Encoder::new(SAMPLE_RATE, cfg.channels.clamp(1, 2), app)?;
        inner.set_bitrate(cfg.bitrate)?;
        inner.set_inband_fec(cfg.fec)?;
        inner.set_dtx(cfg.dtx)?;
        inner.set_packet_loss_perc(cfg.loss_perc)?;
        if cfg.channels < 2 {
            inner.set_dred_duration(dred_units(cfg.loss_perc))?;
        }
        Ok(Self {
            inner,
            cfg,
            out: vec![0; 1_500],
        })
    }

    /// The settings.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// Samples (all channels, interleaved) per frame.
    pub fn frame_len(&self) -> usize {
        self.cfg.frame.samples() * self.cfg.channels
    }

    /// Changes the bitrate and the expected loss (from receiver reports):
    /// the loss sizes in-band FEC and turns DRED on (voice only).
    pub fn set_rate(&mut self, bitrate: i32, loss_perc: i32) -> Result<(), CodecError> {
        self.inner.set_bitrate(bitrate)?;
        self.inner.set_packet_loss_perc(loss_perc.clamp(0, 100))?;
        if self.cfg.channels < 2 {
            self.inner.set_dred_duration(dred_units(loss_perc))?;
        }
        self.cfg.bitrate = bitrate;
        self.cfg.loss_perc = loss_perc;
        Ok(())
    }

    /// Encodes one frame. Returns `None` when DTX says nothing needs sending.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Option<Vec<u8>>, CodecError> {
        if pcm.len() != self.frame_len() {
            return Err(CodecError::FrameSize {
                expected: self.frame_len(),
                got: pcm.len(),
            });
        }
        let n = self.inner.encode(pcm, &mut self.out)?;
        // With DTX, packets of 1–2 bytes mean "no transmission needed".
        if n <= 2 {
            return Ok(None);
        }
        Ok(Some(self.out[..n].to_vec()))
    }

    /// Encoder lookahead in samples (part of the algorithmic delay).
    pub fn lookahead(&mut self) -> Result<usize, CodecError> {
        Ok(self.inner.lookahead()?)
    }
}

/// Decoder complexity: 5 turns on deep PLC (neural concealment) and DRED.
const DECODER_COMPLEXITY: i32 = 5;

/// Opus decoder with concealment (deep PLC), FEC and DRED recovery.
pub struct Decoder {
    inner: aura_opus::Decoder,
    dred_dec: Option<aura_opus::DredDecoder>,
    dred: Option<aura_opus::Dred>,
    channels: usize,
    frame: FrameDuration,
    out: Vec<i16>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("channels", &self.channels)
            .finish()
    }
}

impl Decoder {
    /// A new decoder.
    pub fn new(channels_n: usize, frame: FrameDuration) -> Result<Self, CodecError> {
        let channels_n = channels_n.clamp(1, 2);
        let mut inner = aura_opus::Decoder::new(SAMPLE_RATE, channels_n)?;
        inner.set_complexity(DECODER_COMPLEXITY)?;
        Ok(Self {
            inner,
            dred_dec: None,
            dred: None,
            channels: channels_n,
            frame,
            out: vec![0; 5_760 * 2],
        })
    }

    fn frame_len(&self) -> usize {
        self.frame.samples() * self.channels
    }

    /// Decodes a packet. On a corrupt packet, conceals instead (never fails
    /// the slot), and returns the error alongside for counting.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, CodecError> {
        let n = self.inner.decode(packet, &mut self.out, false)?;
        Ok(self.out[..n * self.channels].to_vec())
    }

    /// Recovers the previous frame from the FEC data of `next`, or from
    /// its DRED data when it carries no FEC.
    pub fn decode_fec(&mut self, next: &[u8]) -> Result<Vec<i16>, CodecError> {
        let len = self.frame_len();
        if !aura_opus::packet_has_fec(next) {
            return self.decode_dred(next, self.frame.samples());
        }
        let n = self.inner.decode(next, &mut self.out[..len], true)?;
        Ok(self.out[..n * self.channels].to_vec())
    }

    /// Rebuilds the lost frame that starts `back` samples before `later`
    /// from `later`'s DRED data; conceals if it carries none that far back.
    pub fn decode_dred(&mut self, later: &[u8], back: usize) -> Result<Vec<i16>, CodecError> {
        let len = self.frame_len();
        let frame = self.frame.samples();
        // The DRED decoder (and its network weights) only for streams that
        // lose frames.
        let dred_dec = match self.dred_dec.as_mut() {
            Some(d) => d,
            None => self.dred_dec.insert(aura_opus::DredDecoder::new()?),
        };
        let dred = match self.dred.as_mut() {
            Some(d) => d,
            None => self.dred.insert(aura_opus::Dred::new()?),
        };
        let available = dred_dec.parse(dred, later, back + frame, SAMPLE_RATE)?;
        if available < back {
            return self.conceal();
        }
        let n = self
            .inner
            .decode_dred(dred, back as i32, &mut self.out[..len])?;
        Ok(self.out[..n * self.channels].to_vec())
    }

    /// Packet-loss concealment for one frame.
    pub fn conceal(&mut self) -> Result<Vec<i16>, CodecError> {
        let len = self.frame_len();
        let n = self.inner.conceal(&mut self.out[..len])?;
        Ok(self.out[..n * self.channels].to_vec())
    }
}
