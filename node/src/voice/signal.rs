//! Audio I/O behind small traits: WAV file source and sink (`hound`) and
//! generated test signals (sine, a speech-like signal). Real devices live in
//! `device` behind the `cpal` feature.

use std::path::Path;

use thiserror::Error;

use super::SAMPLE_RATE;

/// Audio I/O errors.
#[derive(Debug, Error)]
pub enum AudioError {
    /// WAV read/write failure.
    #[error("wav: {0}")]
    Wav(#[from] hound::Error),
    /// The WAV format is not supported.
    #[error("unsupported wav format: {0}")]
    Format(String),
    /// Audio device failure.
    #[error("audio device: {0}")]
    Device(String),
    /// No such audio device (none attached, or no default one).
    #[error("no audio device: {0}")]
    NoDevice(String),
    /// The device cannot run at 48 kHz with 16-bit or float samples
    /// (Aura does not resample).
    #[error("audio device {device} cannot run at 48000 Hz (offers: {offered})")]
    Rate {
        /// Device name.
        device: String,
        /// What it offers.
        offered: String,
    },
}

/// Something that yields 48 kHz interleaved PCM frames.
pub trait AudioSource: Send {
    /// Channels per frame.
    fn channels(&self) -> usize;
    /// Fills `buf` (one frame, interleaved); returns `false` once exhausted
    /// (then `buf` is zero-padded).
    fn read_frame(&mut self, buf: &mut [i16]) -> bool;
}

/// Something that accepts 48 kHz interleaved PCM.
pub trait AudioSink: Send {
    /// Plays or stores samples.
    fn write(&mut self, pcm: &[i16]) -> Result<(), AudioError>;
}

/// A whole WAV file held in memory (48 kHz, 16-bit, mono or stereo).
#[derive(Clone, Debug)]
pub struct WavSource {
    samples: Vec<i16>,
    channels: usize,
    pos: usize,
}

impl WavSource {
    /// Reads `path`; resamples nothing: the file must be 48 kHz 16-bit PCM
    /// (convert with `sox in.wav -r 48000 -b 16 out.wav`).
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let r = hound::WavReader::open(path)?;
        let spec = r.spec();
        if spec.sample_rate != SAMPLE_RATE
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
            || !(1..=2).contains(&spec.channels)
        {
            return Err(AudioError::Format(format!(
                "{} Hz, {} bits, {} channels (need 48000 Hz 16-bit mono/stereo)",
                spec.sample_rate, spec.bits_per_sample, spec.channels
            )));
        }
        let samples = r.into_samples::<i16>().collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_samples(samples, usize::from(spec.channels)))
    }

    /// Wraps samples already in memory.
    pub fn from_samples(samples: Vec<i16>, channels: usize) -> Self {
        Self {
            samples,
            channels: channels.max(1),
            pos: 0,
        }
    }

    /// All samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }
}

impl AudioSource for WavSource {
    fn channels(&self) -> usize {
        self.channels
    }

    fn read_frame(&mut self, buf: &mut [i16]) -> bool {
        let n = buf.len().min(self.samples.len().saturating_sub(self.pos));
        buf[..n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
        buf[n..].fill(0);
        self.pos += n;
        n > 0
    }
}

/// Writes a WAV file (48 kHz, 16-bit).
pub fn write_wav(path: &Path, samples: &[i16], channels: u16) -> Result<(), AudioError> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for s in samples {
        w.write_sample(*s)?;
    }
    w.finalize()?;
    Ok(())
}

/// A sink that keeps everything in memory (tests, WAV output).
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    /// Samples written so far.
    pub samples: Vec<i16>,
}

impl AudioSink for MemorySink {
    fn write(&mut self, pcm: &[i16]) -> Result<(), AudioError> {
        self.samples.extend_from_slice(pcm);
        Ok(())
    }
}

/// A sine tone (mono).
pub fn sine(freq_hz: f32, amplitude: f32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            (amplitude * (2.0 * std::f32::consts::PI * freq_hz * t).sin() * 32_767.0) as i16
        })
        .collect()
}

/// A deterministic speech-like test signal (mono): voiced syllables with a
/// gliding pitch and formant-like harmonics, ~4 syllables/s, separated by
/// short pauses, plus longer pauses every ~2 s. `seed` varies the talker.
pub fn speech_like(seconds: f32, seed: u32) -> Vec<i16> {
    let n = (seconds * SAMPLE_RATE as f32) as usize;
    let sr = SAMPLE_RATE as f32;
    let base_pitch = 110.0 + (seed % 7) as f32 * 20.0;
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f32;
    let mut lcg = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    for i in 0..n {
        let t = i as f32 / sr;
        let syl = (t * 4.0) as u32;
        let in_syl = (t * 4.0).fract();
        let phrase_pause = (t % 2.2) > 1.9;
        // Syllable envelope: rise, hold, fall, then a pause.
        let env = if phrase_pause || in_syl > 0.8 {
            0.0
        } else {
            (std::f32::consts::PI * in_syl / 0.8).sin().powf(0.7)
        };
        let glide = 1.0 + 0.15 * ((syl.wrapping_mul(seed | 1) % 5) as f32 / 4.0 - 0.5);
        let f0 = base_pitch * glide * (1.0 + 0.05 * (2.0 * std::f32::consts::PI * 3.0 * t).sin());
        phase += 2.0 * std::f32::consts::PI * f0 / sr;
        if phase > 2.0 * std::f32::consts::PI {
            phase -= 2.0 * std::f32::consts::PI;
        }
        // Harmonics shaped by two "formants" that move per syllable.
        let f1 = 500.0 + ((syl.wrapping_mul(7).wrapping_add(seed)) % 4) as f32 * 150.0;
        let f2 = 1_400.0 + ((syl.wrapping_mul(13).wrapping_add(seed)) % 5) as f32 * 250.0;
        let mut v = 0.0;
        for h in 1..=20 {
            let fh = f0 * h as f32;
            let g1 = 1.0 / (1.0 + ((fh - f1) / 200.0).powi(2));
            let g2 = 0.6 / (1.0 + ((fh - f2) / 300.0).powi(2));
            v += (g1 + g2 + 0.02) * (phase * h as f32).sin();
        }
        lcg = lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = ((lcg >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.05;
        out.push(((v * 0.18 + noise) * env * 32_767.0 * 0.5).clamp(-32_767.0, 32_767.0) as i16);
    }
    out
}

/// Normalised cross-correlation of `a` and `b` with `b` delayed by `lag`,
/// using every `stride`-th sample.
fn correlation_at(a: &[i16], b: &[i16], lag: usize, stride: usize) -> f64 {
    if lag >= b.len() {
        return 0.0;
    }
    let n = a.len().min(b.len() - lag);
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for i in (0..n).step_by(stride.max(1)) {
        let x = f64::from(a[i]);
        let y = f64::from(b[i + lag]);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa > 0.0 && bb > 0.0 {
        ab / (aa.sqrt() * bb.sqrt())
    } else {
        0.0
    }
}

/// Normalised cross-correlation of two equal-rate signals at the best lag in
/// `0..=max_lag` (b delayed relative to a). Returns (correlation, lag).
/// Searches coarsely on a subsampled signal, then refines around the peak.
pub fn best_correlation(a: &[i16], b: &[i16], max_lag: usize) -> (f64, usize) {
    let mut coarse = (f64::MIN, 0);
    for lag in (0..=max_lag).step_by(4) {
        let c = correlation_at(a, b, lag, 3);
        if c > coarse.0 {
            coarse = (c, lag);
        }
    }
    let mut best = (0.0, 0);
    for lag in coarse.1.saturating_sub(4)..=(coarse.1 + 4).min(max_lag) {
        let c = correlation_at(a, b, lag, 1);
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// Root-mean-square level of a signal (0..32767).
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}
