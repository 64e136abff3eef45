//! DRED (Deep REDundancy, libopus 1.5): up to a second of coarse speech
//! features carried in each packet's extension, from which a receiver
//! rebuilds frames lost in a burst.

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::error::{check, Error};
use crate::ffi;

/// Parses DRED data out of packets (owns a libopus `OpusDREDDecoder`, which
/// holds the DRED decoder network's weights).
#[derive(Debug)]
pub struct DredDecoder {
    st: NonNull<ffi::OpusDREDDecoder>,
}

/// DRED features parsed from one packet, ready for
/// [`crate::Decoder::decode_dred`] (owns a libopus `OpusDRED`).
#[derive(Debug)]
pub struct Dred {
    st: NonNull<ffi::OpusDRED>,
    /// Samples of history (at the rate given to `parse`) the last parse
    /// found; 0 when the packet carried no DRED.
    available: usize,
}

// SAFETY: both states are owned exclusively by their value and only touched
// through `&mut self` (or `&self` for reads by `opus_decoder_dred_decode`).
unsafe impl Send for DredDecoder {}
// SAFETY: as above.
unsafe impl Send for Dred {}

impl Drop for DredDecoder {
    fn drop(&mut self) {
        // SAFETY: `st` came from `opus_dred_decoder_create`, freed once.
        unsafe { ffi::opus_dred_decoder_destroy(self.st.as_ptr()) }
    }
}

impl Drop for Dred {
    fn drop(&mut self) {
        // SAFETY: `st` came from `opus_dred_alloc`, freed once.
        unsafe { ffi::opus_dred_free(self.st.as_ptr()) }
    }
}

impl Dred {
    /// An empty DRED state.
    pub fn new() -> Result<Self, Error> {
        let mut err: c_int = 0;
        // SAFETY: a valid out-pointer for the error.
        let st = unsafe { ffi::opus_dred_alloc(&mut err) };
        if err != ffi::OPUS_OK {
            return Err(Error::from_code(err));
        }
        let st = NonNull::new(st).ok_or(Error::AllocFail)?;
        Ok(Self { st, available: 0 })
    }

    /// Samples of history the last parse found (0: none).
    pub fn available(&self) -> usize {
        self.available
    }

    pub(crate) fn as_ptr(&self) -> *const ffi::OpusDRED {
        self.st.as_ptr()
    }
}

impl DredDecoder {
    /// A new DRED decoder.
    pub fn new() -> Result<Self, Error> {
        let mut err: c_int = 0;
        // SAFETY: a valid out-pointer for the error.
        let st = unsafe { ffi::opus_dred_decoder_create(&mut err) };
        if err != ffi::OPUS_OK {
            return Err(Error::from_code(err));
        }
        let st = NonNull::new(st).ok_or(Error::AllocFail)?;
        let dec = Self { st };
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
            ffi::opus_dred_decoder_ctl(
                self.st.as_ptr(),
                ffi::OPUS_SET_DNN_BLOB_REQUEST,
                at,
                crate::len_i32(len),
            )
        })
        .map(|_| ())
    }

    /// Parses the DRED data of `packet` into `dred`, decoding at most
    /// `max_samples` (at `sample_rate`) of history; returns how many
    /// samples of history are available (0 if the packet has none).
    pub fn parse(
        &mut self,
        dred: &mut Dred,
        packet: &[u8],
        max_samples: usize,
        sample_rate: u32,
    ) -> Result<usize, Error> {
        let fs = crate::check_rate(sample_rate)?;
        if packet.is_empty() {
            return Err(Error::InvalidPacket);
        }
        let mut end: c_int = 0;
        // SAFETY: both states are live; `packet` is valid for its length;
        // `end` is a valid out-pointer.
        let n = check(unsafe {
            ffi::opus_dred_parse(
                self.st.as_ptr(),
                dred.st.as_ptr(),
                packet.as_ptr(),
                crate::len_i32(packet.len()),
                crate::len_i32(max_samples),
                fs,
                &mut end,
                0,
            )
        });
        dred.available = *n.as_ref().unwrap_or(&0);
        n
    }
}
