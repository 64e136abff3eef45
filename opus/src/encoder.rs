//! The Opus encoder.

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::error::{check, Error};
use crate::ffi;

/// What the encoder is tuned for (`OPUS_APPLICATION_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Application {
    /// Speech: voice-tuned SILK, high-pass, best intelligibility.
    Voip,
    /// Music and mixed content: best fidelity for non-speech.
    Audio,
    /// Lowest delay, CELT only.
    LowDelay,
}

/// Audio bandwidth (`OPUS_BANDWIDTH_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bandwidth {
    /// 4 kHz.
    Narrow = 1101,
    /// 6 kHz.
    Medium = 1102,
    /// 8 kHz.
    Wide = 1103,
    /// 12 kHz.
    SuperWide = 1104,
    /// 20 kHz.
    Full = 1105,
}

/// A hint about the signal (`OPUS_SIGNAL_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Let the encoder decide.
    Auto = -1000,
    /// Speech.
    Voice = 3001,
    /// Music.
    Music = 3002,
}

/// An Opus encoder (owns a libopus `OpusEncoder`).
#[derive(Debug)]
pub struct Encoder {
    st: NonNull<ffi::OpusEncoder>,
    channels: usize,
}

// SAFETY: the encoder state is owned exclusively by this value and only
// touched through `&mut self`; libopus keeps no thread-local state.
unsafe impl Send for Encoder {}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: `st` came from `opus_encoder_create` and is freed once.
        unsafe { ffi::opus_encoder_destroy(self.st.as_ptr()) }
    }
}

impl Encoder {
    /// A new encoder. `sample_rate` is one of [`crate::SAMPLE_RATES`];
    /// `channels` is 1 or 2.
    pub fn new(sample_rate: u32, channels: usize, app: Application) -> Result<Self, Error> {
        let fs = crate::check_rate(sample_rate)?;
        let ch = crate::check_channels(channels)?;
        let app = match app {
            Application::Voip => ffi::OPUS_APPLICATION_VOIP,
            Application::Audio => ffi::OPUS_APPLICATION_AUDIO,
            Application::LowDelay => ffi::OPUS_APPLICATION_RESTRICTED_LOWDELAY,
        };
        let mut err: c_int = 0;
        // SAFETY: valid arguments and a valid out-pointer for the error.
        let st = unsafe { ffi::opus_encoder_create(fs, ch, app, &mut err) };
        if err != ffi::OPUS_OK {
            return Err(Error::from_code(err));
        }
        let st = NonNull::new(st).ok_or(Error::AllocFail)?;
        let enc = Self { st, channels };
        if let Some((at, len)) = crate::kept_models::loaded() {
            enc.set_models(at, len)?;
        }
        Ok(enc)
    }

    /// Hands libopus the models blob at `at` (`len` bytes, alive for the
    /// process: see [`crate::models`]).
    pub(crate) fn set_models(&self, at: *const u8, len: usize) -> Result<(), Error> {
        // SAFETY: the request takes a pointer to `len` bytes and their
        // length; the caller keeps the bytes for the encoder's life.
        check(unsafe {
            ffi::opus_encoder_ctl(
                self.st.as_ptr(),
                ffi::OPUS_SET_DNN_BLOB_REQUEST,
                at,
                crate::len_i32(len),
            )
        })
        .map(|_| ())
    }

    /// Channels this encoder was made for.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Encodes one frame of interleaved samples (2.5–60 ms) into `out`;
    /// returns the packet length. With DTX, packets of 1–2 bytes mean
    /// "silence, nothing needs sending".
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        if pcm.is_empty() || pcm.len() % self.channels != 0 {
            return Err(Error::BadArg);
        }
        let frame = crate::len_i32(pcm.len() / self.channels);
        // SAFETY: `pcm` holds `frame * channels` samples and `out` is a
        // writable buffer of the length passed.
        let n = unsafe {
            ffi::opus_encode(
                self.st.as_ptr(),
                pcm.as_ptr(),
                frame,
                out.as_mut_ptr(),
                crate::len_i32(out.len()),
            )
        };
        check(n)
    }

    fn set(&mut self, request: c_int, value: i32) -> Result<(), Error> {
        // SAFETY: every SET request used here takes one `opus_int32`.
        check(unsafe { ffi::opus_encoder_ctl(self.st.as_ptr(), request, value) }).map(|_| ())
    }

    fn get(&mut self, request: c_int) -> Result<i32, Error> {
        let mut value: i32 = 0;
        // SAFETY: every GET request used here writes one `opus_int32`.
        check(unsafe { ffi::opus_encoder_ctl(self.st.as_ptr(), request, &mut value as *mut i32) })?;
        Ok(value)
    }

    /// Target bitrate in bits/s (500..=512_000).
    pub fn set_bitrate(&mut self, bps: i32) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_BITRATE_REQUEST, bps)
    }

    /// The bitrate the encoder targets.
    pub fn bitrate(&mut self) -> Result<i32, Error> {
        self.get(ffi::OPUS_GET_BITRATE_REQUEST)
    }

    /// Computational complexity 0..=10 (10 is best quality).
    pub fn set_complexity(&mut self, complexity: i32) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_COMPLEXITY_REQUEST, complexity)
    }

    /// Variable bitrate (the default) or constant bitrate.
    pub fn set_vbr(&mut self, vbr: bool) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_VBR_REQUEST, i32::from(vbr))
    }

    /// In-band FEC (LBRR): a coarse copy of the previous frame in each packet.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_INBAND_FEC_REQUEST, i32::from(on))
    }

    /// The loss the encoder should expect (0..=100 %): sizes FEC and DRED.
    pub fn set_packet_loss_perc(&mut self, perc: i32) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_PACKET_LOSS_PERC_REQUEST, perc.clamp(0, 100))
    }

    /// Discontinuous transmission during silence.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_DTX_REQUEST, i32::from(on))
    }

    /// Whether the last frame was silence that DTX did not send.
    pub fn in_dtx(&mut self) -> Result<bool, Error> {
        Ok(self.get(ffi::OPUS_GET_IN_DTX_REQUEST)? != 0)
    }

    /// Caps the coded audio bandwidth.
    pub fn set_max_bandwidth(&mut self, bw: Bandwidth) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_MAX_BANDWIDTH_REQUEST, bw as i32)
    }

    /// Hints the kind of signal.
    pub fn set_signal(&mut self, signal: Signal) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_SIGNAL_REQUEST, signal as i32)
    }

    /// How much speech history each packet carries as DRED, in 10 ms units
    /// (0 = off, up to [`crate::MAX_DRED_DURATION_10MS`]). Its bitrate
    /// follows the expected loss ([`Self::set_packet_loss_perc`]).
    pub fn set_dred_duration(&mut self, units_10ms: i32) -> Result<(), Error> {
        self.set(
            ffi::OPUS_SET_DRED_DURATION_REQUEST,
            units_10ms.clamp(0, crate::MAX_DRED_DURATION_10MS),
        )
    }

    /// The DRED span set, in 10 ms units.
    pub fn dred_duration(&mut self) -> Result<i32, Error> {
        self.get(ffi::OPUS_GET_DRED_DURATION_REQUEST)
    }

    /// Lookahead in samples at the encoder's rate (part of the delay).
    pub fn lookahead(&mut self) -> Result<usize, Error> {
        Ok(self.get(ffi::OPUS_GET_LOOKAHEAD_REQUEST)?.max(0) as usize)
    }
}
