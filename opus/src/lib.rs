//! libopus 1.5.2, built from the vendored release sources by `build.rs` (no
//! cmake, no system library), behind a small safe API: [`Encoder`],
//! [`Decoder`] (with in-band FEC, deep PLC, and OSCE with the `osce`
//! feature), and DRED (Deep REDundancy) through [`DredDecoder`] and [`Dred`].
//!
//! ```
//! use aura_opus::{Application, Decoder, Encoder};
//!
//! let mut enc = Encoder::new(48_000, 1, Application::Voip)?;
//! enc.set_bitrate(24_000)?;
//! let mut dec = Decoder::new(48_000, 1)?;
//! let pcm = vec![0i16; 960];
//! let mut packet = [0u8; 1500];
//! let n = enc.encode(&pcm, &mut packet)?;
//! let mut out = vec![0i16; 960];
//! assert_eq!(dec.decode(&packet[..n], &mut out, false)?, 960);
//! # Ok::<(), aura_opus::Error>(())
//! ```

// The FFI calls are the point of this crate; each `unsafe` block says why it
// is sound.
#![allow(unsafe_code)]

mod decoder;
mod dred;
mod encoder;
mod error;
mod ffi;
mod kept_models;
pub mod models;

use std::ffi::CStr;

pub use decoder::Decoder;
pub use dred::{Dred, DredDecoder};
pub use encoder::{Application, Bandwidth, Encoder, Signal};
pub use error::Error;

/// Sample rates libopus accepts for encoding and decoding.
pub const SAMPLE_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// Largest DRED span the encoder can carry, in 10 ms units (1.04 s).
pub const MAX_DRED_DURATION_10MS: i32 = 104;

/// The libopus version string, e.g. `libopus 1.5.2`.
pub fn version() -> &'static str {
    // SAFETY: libopus returns a pointer to a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(ffi::opus_get_version_string()) };
    s.to_str().unwrap_or("libopus")
}

pub(crate) fn check_rate(sample_rate: u32) -> Result<i32, Error> {
    if SAMPLE_RATES.contains(&sample_rate) {
        Ok(sample_rate as i32)
    } else {
        Err(Error::BadArg)
    }
}

pub(crate) fn check_channels(channels: usize) -> Result<i32, Error> {
    match channels {
        1 | 2 => Ok(channels as i32),
        _ => Err(Error::BadArg),
    }
}

/// Clamps a buffer length to what libopus takes as an `opus_int32`.
pub(crate) fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// Whether `packet` carries in-band FEC (LBRR) for the frame before it.
pub fn packet_has_fec(packet: &[u8]) -> bool {
    if packet.is_empty() {
        return false;
    }
    // SAFETY: `packet` is valid for its length; libopus only reads it.
    unsafe { ffi::opus_packet_has_lbrr(packet.as_ptr(), crate::len_i32(packet.len())) > 0 }
}
