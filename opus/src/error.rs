//! libopus error codes as a typed error.

use std::ffi::c_int;

use thiserror::Error;

/// An error code returned by libopus.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum Error {
    /// `OPUS_BAD_ARG`: an argument was invalid or out of range.
    #[error("libopus: invalid argument")]
    BadArg,
    /// `OPUS_BUFFER_TOO_SMALL`: the output buffer cannot hold the result.
    #[error("libopus: buffer too small")]
    BufferTooSmall,
    /// `OPUS_INTERNAL_ERROR`.
    #[error("libopus: internal error")]
    Internal,
    /// `OPUS_INVALID_PACKET`: the packet is corrupt or of an unsupported kind.
    #[error("libopus: corrupt packet")]
    InvalidPacket,
    /// `OPUS_UNIMPLEMENTED`: request not supported by this build.
    #[error("libopus: not implemented")]
    Unimplemented,
    /// `OPUS_INVALID_STATE`.
    #[error("libopus: invalid state")]
    InvalidState,
    /// `OPUS_ALLOC_FAIL`: out of memory.
    #[error("libopus: allocation failed")]
    AllocFail,
    /// A code this wrapper does not know.
    #[error("libopus: error code {0}")]
    Unknown(i32),
}

impl Error {
    pub(crate) fn from_code(code: c_int) -> Self {
        match code {
            -1 => Self::BadArg,
            -2 => Self::BufferTooSmall,
            -3 => Self::Internal,
            -4 => Self::InvalidPacket,
            -5 => Self::Unimplemented,
            -6 => Self::InvalidState,
            -7 => Self::AllocFail,
            other => Self::Unknown(other),
        }
    }
}

/// `Ok(n)` for a non-negative libopus return value, the error otherwise.
pub(crate) fn check(code: c_int) -> Result<usize, Error> {
    usize::try_from(code).map_err(|_| Error::from_code(code))
}
