//! The Opus decoder: packets, in-band FEC, concealment (deep PLC), DRED.

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::dred::Dred;
use crate::error::{check, Error};
use crate::ffi;

const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;

/// An Opus decoder (owns a libopus `OpusDecoder`).
#[derive(Debug)]
pub struct Decoder {
    st: NonNull<ffi::OpusDecoder>,
    channels: usize,
}

// SAFETY: the decoder state is owned exclusively by this value and only
// touched through `&mut self`.
unsafe impl Send for Decoder {}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `st` came from `opus_decoder_create` and is freed once.
        unsafe { ffi::opus_decoder_destroy(self.st.as_ptr()) }
    }
}

impl Decoder {
    /// A new decoder producing `channels` (1 or 2) at `sample_rate`.
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self, Error> {
        let fs = crate::check_rate(sample_rate)?;
        let ch = crate::check_channels(channels)?;
        let mut err: c_int = 0;
        // SAFETY: valid arguments and a valid out-pointer for the error.
        let st = unsafe { ffi::opus_decoder_create(fs, ch, &mut err) };
        if err != ffi::OPUS_OK {
            return Err(Error::from_code(err));
        }
        let st = NonNull::new(st).ok_or(Error::AllocFail)?;
        let dec = Self { st, channels };
        if let Some((at, len)) = crate::kept_models::loaded() {
            dec.set_models(at, len)?;
        }
        Ok(dec)
    }

    /// Hands libopus the models blob at `at` (`len` bytes, alive for the
    /// process: see [`crate::models`]).
    pub(crate) fn set_models(&self, at: *const u8, len: usize) -> Result<(), Error> {
        // SAFETY: the request takes a pointer to `len` bytes and their
        // length; the caller keeps the bytes for the decoder's life.
        check(unsafe {
            ffi::opus_decoder_ctl(
                self.st.as_ptr(),
                ffi::OPUS_SET_DNN_BLOB_REQUEST,
                at,
                crate::len_i32(len),
            )
        })
        .map(|_| ())
    }

    /// Channels this decoder produces.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decoder complexity 0..=10: 5 and up turns on deep PLC (neural
    /// concealment) and lets DRED decode; 6 adds LACE and 7 NoLACE speech
    /// enhancement (OSCE) of low-bitrate SILK frames, with the `osce`
    /// feature (without it, 6 and above act as 5).
    pub fn set_complexity(&mut self, complexity: i32) -> Result<(), Error> {
        // SAFETY: the request takes one `opus_int32`.
        check(unsafe {
            ffi::opus_decoder_ctl(self.st.as_ptr(), OPUS_SET_COMPLEXITY_REQUEST, complexity)
        })
        .map(|_| ())
    }

    fn frame(&self, out: &[i16]) -> Result<c_int, Error> {
        if out.is_empty() || out.len() % self.channels != 0 {
            return Err(Error::BadArg);
        }
        Ok(crate::len_i32(out.len() / self.channels))
    }

    /// Decodes `packet` into `out` (interleaved; room for up to 120 ms);
    /// returns samples per channel. With `fec`, decodes instead the in-band
    /// FEC copy of the frame *before* `packet`, and `out` must be exactly
    /// that frame's length (without FEC data libopus conceals instead).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16], fec: bool) -> Result<usize, Error> {
        if packet.is_empty() {
            return Err(Error::InvalidPacket);
        }
        let frame = self.frame(out)?;
        // SAFETY: `packet` and `out` are valid for the lengths passed.
        check(unsafe {
            ffi::opus_decode(
                self.st.as_ptr(),
                packet.as_ptr(),
                crate::len_i32(packet.len()),
                out.as_mut_ptr(),
                frame,
                c_int::from(fec),
            )
        })
    }

    /// Conceals one lost frame of `out.len()` samples (deep PLC at
    /// complexity 5 and up); returns samples per channel.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, Error> {
        let frame = self.frame(out)?;
        // SAFETY: a null packet of length 0 asks for concealment; `out` is
        // valid for `frame * channels` samples.
        check(unsafe {
            ffi::opus_decode(
                self.st.as_ptr(),
                std::ptr::null(),
                0,
                out.as_mut_ptr(),
                frame,
                0,
            )
        })
    }

    /// Rebuilds one lost frame of `out.len()` samples from DRED data parsed
    /// out of a later packet (see [`crate::DredDecoder::parse`]). `offset`
    /// is the distance in samples from the start of the lost frame to the
    /// start of that packet's own audio: one frame length for the frame just
    /// before it, two for the one before that, and so on.
    pub fn decode_dred(
        &mut self,
        dred: &Dred,
        offset: i32,
        out: &mut [i16],
    ) -> Result<usize, Error> {
        let frame = self.frame(out)?;
        // SAFETY: `dred` is a live `OpusDRED` filled by `opus_dred_parse`;
        // `out` is valid for `frame * channels` samples.
        check(unsafe {
            ffi::opus_decoder_dred_decode(
                self.st.as_ptr(),
                dred.as_ptr(),
                offset,
                out.as_mut_ptr(),
                frame,
            )
        })
    }
}
