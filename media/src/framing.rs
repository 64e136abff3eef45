//! Media-plane framing: what one QUIC datagram (or, when a path cannot
//! carry it as a datagram, one unidirectional stream) holds.
//!
//! Each carries exactly one item of at most [`MAX_FRAME`] bytes, with no
//! length prefix (the datagram or the stream's end delimits it). Its first
//! byte says what it is: a sealed frame (high nibble = the frame version,
//! [`aura_crypto::frame::FRAME_VERSION`]) or a signed receiver report
//! ([`crate::report::REPORT_TAG`]) or, towards a relay, a room voice frame
//! with its audio level ([`crate::level::LEVEL_TAG`]). A stream carries one item so that a
//! lost packet never delays a later frame.

use aura_crypto::frame::FRAME_VERSION;
use thiserror::Error;

use crate::report::REPORT_TAG;

/// First byte of a room voice frame with its audio level ([`crate::level`]).
pub const LEVEL_TAG: u8 = 0xA6;

/// Largest item accepted from the network (a sealed music frame fits).
pub const MAX_FRAME: usize = 4_096;

/// What a datagram carries, by its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carried {
    /// A sealed frame (routed by its [`aura_crypto::FrameHeader`]).
    Sealed,
    /// A signed receiver report (routed by its [`crate::ReportHeader`]).
    Report,
    /// A room voice frame with its audio level, for a relay
    /// ([`crate::level`]).
    Leveled,
}

/// Why a datagram was refused before routing.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FramingError {
    /// Nothing in it.
    #[error("empty datagram")]
    Empty,
    /// Larger than [`MAX_FRAME`].
    #[error("datagram of {0} bytes is too large")]
    TooLarge(usize),
    /// The first byte starts nothing we know.
    #[error("unknown datagram (first byte {0:#04x})")]
    Unknown(u8),
}

/// Says what a datagram carries (size-limited; nothing parsed beyond the
/// first byte).
pub fn classify(datagram: &[u8]) -> Result<Carried, FramingError> {
    if datagram.len() > MAX_FRAME {
        return Err(FramingError::TooLarge(datagram.len()));
    }
    match datagram.first() {
        None => Err(FramingError::Empty),
        Some(&REPORT_TAG) => Ok(Carried::Report),
        Some(&LEVEL_TAG) => Ok(Carried::Leveled),
        Some(b) if b >> 4 == FRAME_VERSION => Ok(Carried::Sealed),
        Some(&b) => Err(FramingError::Unknown(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_tells_frames_from_reports() {
        assert_eq!(classify(&[0x11, 0, 0]), Ok(Carried::Sealed));
        assert_eq!(classify(&[REPORT_TAG]), Ok(Carried::Report));
        assert_eq!(classify(&[0xA1, 0]), Err(FramingError::Unknown(0xA1)));
        assert_eq!(classify(&[]), Err(FramingError::Empty));
        assert_eq!(
            classify(&[0x11; MAX_FRAME + 1]),
            Err(FramingError::TooLarge(MAX_FRAME + 1))
        );
    }
}
