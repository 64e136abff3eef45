//! A room voice frame's audio level, carried outside the encryption so that
//! a relay can forward only the loudest seats (as RFC 6464 levels stay
//! visible under SFrame). What it leaks is in SECURITY.md.
//!
//! ```text
//! tag u8 = 0xA6 | level u8 (RFC 6464: 0 = 0 dBov, loudest .. 127 = silence) | sealed frame
//! ```
//!
//! A speaker sends this to its room's relay; the relay forwards the sealed
//! frame alone, so listeners see ordinary frames. The level is not
//! authenticated: a speaker that claims to be loud is forwarded more often
//! (a moderator mutes it), a relay that changes it only changes its own
//! choice.

pub use crate::framing::LEVEL_TAG;
use crate::framing::{FramingError, MAX_FRAME};
/// Bytes before the sealed frame.
pub const LEVEL_PREFIX: usize = 2;
/// The level of silence (and the quietest level).
pub const SILENCE: u8 = 127;

/// Prefixes a sealed frame with its level (clamped to 0..=127).
pub fn with_level(level: u8, sealed: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(LEVEL_PREFIX + sealed.len());
    d.push(LEVEL_TAG);
    d.push(level.min(SILENCE));
    d.extend_from_slice(sealed);
    d
}

/// Splits a leveled datagram into its level and the sealed frame.
pub fn split_level(d: &[u8]) -> Result<(u8, &[u8]), FramingError> {
    if d.len() > MAX_FRAME {
        return Err(FramingError::TooLarge(d.len()));
    }
    match d {
        [] => Err(FramingError::Empty),
        [LEVEL_TAG, level, rest @ ..] if *level <= SILENCE && !rest.is_empty() => {
            Ok((*level, rest))
        }
        [b, ..] => Err(FramingError::Unknown(*b)),
    }
}

/// The level of 16-bit PCM samples: the RMS in -dBov, rounded, 0..=127.
pub fn level_of(pcm: &[i16]) -> u8 {
    if pcm.is_empty() {
        return SILENCE;
    }
    let sum: f64 = pcm.iter().map(|s| f64::from(*s).powi(2)).sum();
    let rms = (sum / pcm.len() as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        return SILENCE;
    }
    let dbov = -20.0 * rms.log10();
    dbov.round().clamp(0.0, f64::from(SILENCE)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_round_trips_and_junk_is_refused() {
        let d = with_level(200, &[0x11, 1, 2]);
        assert_eq!(split_level(&d), Ok((SILENCE, &[0x11, 1, 2][..])));
        assert_eq!(
            split_level(&[LEVEL_TAG, 3]),
            Err(FramingError::Unknown(LEVEL_TAG))
        );
        assert_eq!(
            split_level(&[LEVEL_TAG, 128, 1]),
            Err(FramingError::Unknown(LEVEL_TAG))
        );
        assert_eq!(split_level(&[]), Err(FramingError::Empty));
        assert!(split_level(&vec![LEVEL_TAG; MAX_FRAME + 1]).is_err());
    }

    #[test]
    fn loud_speech_has_a_low_level_and_silence_the_highest() {
        let full: Vec<i16> = (0..960)
            .map(|i| if i % 2 == 0 { 32_767 } else { -32_767 })
            .collect();
        assert_eq!(level_of(&full), 0);
        let quiet: Vec<i16> = full.iter().map(|s| s / 100).collect();
        assert_eq!(level_of(&quiet), 40);
        assert_eq!(level_of(&[0; 960]), SILENCE);
        assert_eq!(level_of(&[]), SILENCE);
    }
}
