//! The voice payload carried inside a sealed frame: a 7-byte media header
//! (flags, send sequence, media timestamp) followed by one Opus packet.

use thiserror::Error;

/// Bytes of the media header.
pub const MEDIA_HEADER_LEN: usize = 7;
/// Largest Opus packet accepted (a 20 ms music frame at 510 kb/s is ~1.3 KB).
pub const MAX_OPUS_LEN: usize = 1_500;

/// Flag: stereo music stream (decoded as stereo).
pub const FLAG_MUSIC: u8 = 0x01;
/// Flag: 10 ms frames (otherwise 20 ms).
pub const FLAG_10MS: u8 = 0x02;
/// Flag: last frame of a talk spurt (push-to-talk released, silence begins).
pub const FLAG_END: u8 = 0x04;

/// One voice (or music) frame before sealing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoicePayload {
    /// Flags (`FLAG_*`).
    pub flags: u8,
    /// Send sequence number (contiguous over sent frames: gaps are losses).
    pub seq: u16,
    /// Media timestamp: 48 kHz samples since the stream started.
    pub ts: u32,
    /// The Opus packet.
    pub opus: Vec<u8>,
}

/// Why a payload was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than the media header.
    #[error("voice payload truncated ({0} bytes)")]
    Truncated(usize),
    /// Opus packet empty or too large.
    #[error("opus packet has a bad length ({0} bytes)")]
    BadLength(usize),
    /// Unknown flag bits set.
    #[error("unknown voice flags {0:#04x}")]
    BadFlags(u8),
}

impl VoicePayload {
    /// Encodes the payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MEDIA_HEADER_LEN + self.opus.len());
        b.push(self.flags);
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ts.to_be_bytes());
        b.extend_from_slice(&self.opus);
        b
    }

    /// Parses a payload (size-limited; never panics).
    pub fn parse(b: &[u8]) -> Result<Self, PayloadError> {
        if b.len() < MEDIA_HEADER_LEN {
            return Err(PayloadError::Truncated(b.len()));
        }
        let opus = &b[MEDIA_HEADER_LEN..];
        if opus.is_empty() || opus.len() > MAX_OPUS_LEN {
            return Err(PayloadError::BadLength(opus.len()));
        }
        let flags = b[0];
        if flags & !(FLAG_MUSIC | FLAG_10MS | FLAG_END) != 0 {
            return Err(PayloadError::BadFlags(flags));
        }
        Ok(Self {
            flags,
            seq: u16::from_be_bytes([b[1], b[2]]),
            ts: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
            opus: opus.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bad_input() {
        let p = VoicePayload {
            flags: FLAG_END,
            seq: 65_535,
            ts: 0xdead_beef,
            opus: vec![1, 2, 3],
        };
        assert_eq!(VoicePayload::parse(&p.to_bytes()), Ok(p));
        assert_eq!(
            VoicePayload::parse(&[0; 3]),
            Err(PayloadError::Truncated(3))
        );
        assert_eq!(
            VoicePayload::parse(&[0; 7]),
            Err(PayloadError::BadLength(0))
        );
        assert_eq!(
            VoicePayload::parse(&[0x80, 0, 0, 0, 0, 0, 0, 1]),
            Err(PayloadError::BadFlags(0x80))
        );
    }
}
