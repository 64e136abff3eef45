//! Sealed frame wire format.
//!
//! ```text
//! header (19 bytes, big-endian, readable without any key):
//!   version_kind u8 (high nibble version = 1, low nibble kind)
//!   room [8]        first 8 bytes of the group id
//!   sender u32      sender's ShortId
//!   epoch u16       sender key epoch
//!   counter u32     per (sender, epoch), strictly increasing
//! body: ChaCha20-Poly1305(frame key, nonce = epoch || counter || 0^6,
//!                         aad = header) || 16-byte tag
//! ```
//! Location, chat and control plaintexts end with a 64-byte ed25519
//! signature; voice is covered by batch signatures in `VoiceSig` frames.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use sha2::{Digest, Sha256};

use crate::error::{FrameError, OpenError, SealError};
use crate::identity::ShortId;
use crate::roster::GroupId;
use crate::sender_key::Key32;

/// Frame format version (high nibble of the first byte).
pub const FRAME_VERSION: u8 = 1;
/// Length of the cleartext routing header.
pub const HEADER_LEN: usize = 19;
/// AEAD tag length.
pub const TAG_LEN: usize = 16;
/// ed25519 signature length.
pub const SIG_LEN: usize = 64;
/// Truncated voice-frame digest length in `VoiceSig` frames.
pub const DIGEST_LEN: usize = 8;
/// Largest payload accepted by `seal`.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// Largest frame accepted by `parse`/`open`.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PAYLOAD_LEN + SIG_LEN + TAG_LEN;

const FRAME_SIG_DOMAIN: &[u8] = b"aura-frame-sig-v1";
const VOICE_SIG_DOMAIN: &[u8] = b"aura-voice-batch-v1";

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FrameKind {
    /// Opus voice (batch-signed).
    Voice = 1,
    /// Location update (signed).
    Location = 2,
    /// Chat message (signed).
    Chat = 3,
    /// Control message (signed).
    Control = 4,
    /// Batch signature over the sender's recent voice frames.
    VoiceSig = 5,
}

impl FrameKind {
    /// Decodes the low nibble.
    pub fn from_nibble(n: u8) -> Result<Self, FrameError> {
        Ok(match n {
            1 => Self::Voice,
            2 => Self::Location,
            3 => Self::Chat,
            4 => Self::Control,
            5 => Self::VoiceSig,
            other => return Err(FrameError::BadKind(other)),
        })
    }

    /// Whether each frame of this kind carries its own signature.
    pub fn individually_signed(self) -> bool {
        matches!(self, Self::Location | Self::Chat | Self::Control)
    }
}

/// The cleartext routing header (what a relay may read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Kind.
    pub kind: FrameKind,
    /// Room id (first 8 bytes of the group id).
    pub room: [u8; 8],
    /// Sender short id.
    pub sender: ShortId,
    /// Sender key epoch.
    pub epoch: u16,
    /// Counter.
    pub counter: u32,
}

impl FrameHeader {
    /// Parses the header of a sealed frame; needs no key. Checks the frame is
    /// long enough to hold a tag and not longer than [`MAX_FRAME_LEN`].
    pub fn parse(frame: &[u8]) -> Result<Self, FrameError> {
        if frame.len() < HEADER_LEN + TAG_LEN {
            return Err(FrameError::Truncated);
        }
        if frame.len() > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge);
        }
        let v = frame[0] >> 4;
        if v != FRAME_VERSION {
            return Err(FrameError::BadVersion(v));
        }
        let kind = FrameKind::from_nibble(frame[0] & 0x0f)?;
        let mut room = [0u8; 8];
        room.copy_from_slice(&frame[1..9]);
        Ok(Self {
            kind,
            room,
            sender: ShortId(u32::from_be_bytes([
                frame[9], frame[10], frame[11], frame[12],
            ])),
            epoch: u16::from_be_bytes([frame[13], frame[14]]),
            counter: u32::from_be_bytes([frame[15], frame[16], frame[17], frame[18]]),
        })
    }

    /// Encodes the header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = (FRAME_VERSION << 4) | self.kind as u8;
        h[1..9].copy_from_slice(&self.room);
        h[9..13].copy_from_slice(&self.sender.0.to_be_bytes());
        h[13..15].copy_from_slice(&self.epoch.to_be_bytes());
        h[15..19].copy_from_slice(&self.counter.to_be_bytes());
        h
    }
}

fn nonce(epoch: u16, counter: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..2].copy_from_slice(&epoch.to_be_bytes());
    n[2..6].copy_from_slice(&counter.to_be_bytes());
    n
}

fn aead_key(key: &Key32) -> Option<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, &key.0)
        .ok()
        .map(LessSafeKey::new)
}

/// AEAD-seals `plaintext` under `key` with `header` as AAD.
///
/// ChaCha20-Poly1305 (RFC 8439) from `ring` on this hot path: its assembly
/// seals a 100-byte frame in ~0.35 µs here, while the RustCrypto crate's
/// runtime-detected AVX2 Poly1305 costs ~1.8 µs per short message (see
/// BENCHMARKS.md). The bytes are identical; the known-answer vectors pin them.
pub(crate) fn seal_raw(
    key: &Key32,
    header: &FrameHeader,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let k = aead_key(key).ok_or(SealError::Encrypt)?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    let hb = header.to_bytes();
    out.extend_from_slice(&hb);
    out.extend_from_slice(plaintext);
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce(header.epoch, header.counter)),
            Aad::from(hb),
            &mut out[HEADER_LEN..],
        )
        .map_err(|_| SealError::Encrypt)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens a frame whose header was parsed; returns the plaintext.
pub(crate) fn open_raw(
    key: &Key32,
    header: &FrameHeader,
    frame: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if frame.len() < HEADER_LEN + TAG_LEN {
        return Err(OpenError::Header(FrameError::Truncated));
    }
    let k = aead_key(key).ok_or(OpenError::Decrypt)?;
    let (aad, rest) = frame.split_at(HEADER_LEN);
    let mut buf = rest.to_vec();
    let len = k
        .open_in_place(
            Nonce::assume_unique_for_key(nonce(header.epoch, header.counter)),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| OpenError::Decrypt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Message signed inside a location/chat/control frame.
pub(crate) fn frame_sig_message(group: &GroupId, header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(FRAME_SIG_DOMAIN.len() + 32 + header.len() + payload.len());
    m.extend_from_slice(FRAME_SIG_DOMAIN);
    m.extend_from_slice(&group.0);
    m.extend_from_slice(header);
    m.extend_from_slice(payload);
    m
}

/// Message signed inside a `VoiceSig` frame (`body` = first counter, n, digests).
pub(crate) fn voice_sig_message(group: &GroupId, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(VOICE_SIG_DOMAIN.len() + 32 + header.len() + body.len());
    m.extend_from_slice(VOICE_SIG_DOMAIN);
    m.extend_from_slice(&group.0);
    m.extend_from_slice(header);
    m.extend_from_slice(body);
    m
}

/// Truncated SHA-256 of a whole sealed voice frame.
pub(crate) fn frame_digest(frame: &[u8]) -> [u8; DIGEST_LEN] {
    let d = Sha256::digest(frame);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&d[..DIGEST_LEN]);
    out
}
