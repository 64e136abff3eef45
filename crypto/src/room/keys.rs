//! Room keys. The host holds the room key of the current room epoch and
//! seals it to each member who joins (one [`KeyEnvelope`], about 60 µs and
//! 247 bytes per join, on the host only). A seated speaker hands its
//! sender key to the whole room at once: a [`SpeakerKey`] sealed under the
//! room key and signed by the speaker, one message however large the
//! audience. When a member departs, the host starts a new room epoch and
//! seals its key to every remaining member; each speaker then starts a new
//! sender epoch and announces it under the new room key. The departed
//! member holds neither, so it opens nothing sent after.
//!
//! Speaker key layout (201 bytes):
//! `version u8 | room [32] | speaker [32] | room_epoch u16 | sender_epoch
//! u16 | step u32 | salt [16] | sealed chain [32 + 16 tag] | signature [64]`,
//! sealed with ChaCha20-Poly1305 under `HKDF-SHA256(room key, salt, info)`
//! (info: a domain string and every byte before the salt), AAD: every byte
//! before the sealed chain; the signature covers every byte before it.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use ed25519_dalek::Signature;
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::RoomError;
use super::id::RoomId;
use crate::envelope::KeyEnvelope;
use crate::error::EnvelopeError;
use crate::identity::{Identity, MemberId};
use crate::roster::GroupId;
use crate::sender_key::{Key32, KeyShare};

/// Speaker key message version.
pub const SPEAKER_KEY_VERSION: u8 = 1;
const HEAD_LEN: usize = 1 + 32 + 32 + 2 + 2 + 4;
const SALT_LEN: usize = 16;
const SEALED_LEN: usize = 32 + 16;
/// Encoded length of a [`SpeakerKey`].
pub const SPEAKER_KEY_LEN: usize = HEAD_LEN + SALT_LEN + SEALED_LEN + 64;
const SIG_DOMAIN: &[u8] = b"aura-room-speaker-key-sig-v1";
const KDF_INFO: &[u8] = b"aura room speaker key v1";

/// Envelopes carry a room's id where a group's goes.
pub(crate) fn envelope_domain(room: &RoomId) -> GroupId {
    GroupId(room.0)
}

/// The host's side: the room key of the current room epoch.
#[derive(Debug)]
pub struct RoomKeyAuthority {
    room: RoomId,
    identity: Identity,
    epoch: u16,
    key: Key32,
}

impl RoomKeyAuthority {
    /// Starts room epoch 0 with a fresh key.
    pub fn new<R: RngCore + CryptoRng>(identity: Identity, room: RoomId, rng: &mut R) -> Self {
        Self {
            room,
            identity,
            epoch: 0,
            key: fresh_key(rng),
        }
    }

    /// The host (who signs the room key envelopes).
    pub fn host(&self) -> MemberId {
        self.identity.member_id()
    }

    /// The current room epoch.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// Seals the current room key to `member` (a joiner, or one that asks).
    pub fn envelope_for<R: RngCore + CryptoRng>(
        &self,
        member: MemberId,
        rng: &mut R,
    ) -> Result<KeyEnvelope, RoomError> {
        let share = KeyShare {
            epoch: self.epoch,
            step: 0,
            chain: self.key.clone(),
        };
        let domain = envelope_domain(&self.room);
        Ok(KeyEnvelope::seal(
            &self.identity,
            domain,
            member,
            &share,
            rng,
        )?)
    }

    /// Starts the next room epoch (after a departure) and seals its key to
    /// each of `members`; the host's own copy is included when listed.
    pub fn rotate<R: RngCore + CryptoRng>(
        &mut self,
        members: impl IntoIterator<Item = MemberId>,
        rng: &mut R,
    ) -> Result<Vec<KeyEnvelope>, RoomError> {
        self.epoch = self
            .epoch
            .checked_add(1)
            .ok_or(EnvelopeError::EpochExhausted)?;
        self.key = fresh_key(rng);
        let mut out = Vec::new();
        for m in members {
            match self.envelope_for(m, rng) {
                Ok(e) => out.push(e),
                // One bad recipient must not stop everyone else getting the key.
                Err(e) => tracing::warn!(member = %m, error = %e, "no room key for member"),
            }
        }
        Ok(out)
    }
}

fn fresh_key<R: RngCore + CryptoRng>(rng: &mut R) -> Key32 {
    let mut k = Key32([0; 32]);
    rng.fill_bytes(&mut k.0);
    k
}

/// A speaker's sender key, sealed under a room key, signed by the speaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerKey {
    /// Room.
    pub room: RoomId,
    /// Speaker (signer).
    pub speaker: MemberId,
    /// Room epoch whose key seals it.
    pub room_epoch: u16,
    /// The speaker's sender key epoch.
    pub sender_epoch: u16,
    /// Ratchet step the sealed chain key starts at.
    pub step: u32,
    salt: [u8; SALT_LEN],
    sealed: [u8; SEALED_LEN],
    signature: Signature,
}

impl SpeakerKey {
    fn head(&self) -> [u8; HEAD_LEN] {
        let mut h = [0u8; HEAD_LEN];
        h[0] = SPEAKER_KEY_VERSION;
        h[1..33].copy_from_slice(&self.room.0);
        h[33..65].copy_from_slice(&self.speaker.0);
        h[65..67].copy_from_slice(&self.room_epoch.to_be_bytes());
        h[67..69].copy_from_slice(&self.sender_epoch.to_be_bytes());
        h[69..73].copy_from_slice(&self.step.to_be_bytes());
        h
    }

    fn aead(&self, room_key: &Key32) -> ChaCha20Poly1305 {
        let hk = Hkdf::<Sha256>::new(Some(&self.salt), &room_key.0);
        let mut info = Vec::with_capacity(KDF_INFO.len() + HEAD_LEN);
        info.extend_from_slice(KDF_INFO);
        info.extend_from_slice(&self.head());
        let mut k = Zeroizing::new([0u8; 32]);
        if hk.expand(&info, k.as_mut()).is_err() {
            tracing::error!("hkdf expand failed");
        }
        ChaCha20Poly1305::new(Key::from_slice(k.as_ref()))
    }

    fn aad(&self) -> Vec<u8> {
        let mut a = self.head().to_vec();
        a.extend_from_slice(&self.salt);
        a
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = SIG_DOMAIN.to_vec();
        m.extend_from_slice(&self.aad());
        m.extend_from_slice(&self.sealed);
        m
    }

    /// Seals `share` of `speaker` under the room key of `room_epoch`.
    pub(crate) fn seal<R: RngCore + CryptoRng>(
        speaker: &Identity,
        room: RoomId,
        room_epoch: u16,
        room_key: &Key32,
        share: &KeyShare,
        rng: &mut R,
    ) -> Result<Self, RoomError> {
        let mut msg = Self {
            room,
            speaker: speaker.member_id(),
            room_epoch,
            sender_epoch: share.epoch,
            step: share.step,
            salt: [0; SALT_LEN],
            sealed: [0; SEALED_LEN],
            signature: Signature::from_bytes(&[0; 64]),
        };
        rng.fill_bytes(&mut msg.salt);
        let mut buf = Zeroizing::new(share.chain.0);
        let tag = msg
            .aead(room_key)
            .encrypt_in_place_detached(Nonce::from_slice(&[0; 12]), &msg.aad(), buf.as_mut())
            .map_err(|_| RoomError::Decrypt)?;
        msg.sealed[..32].copy_from_slice(buf.as_ref());
        msg.sealed[32..].copy_from_slice(&tag);
        msg.signature = speaker.sign(&msg.signed_bytes());
        Ok(msg)
    }

    /// Checks the speaker's signature.
    pub fn verify(&self) -> Result<(), RoomError> {
        if self.speaker.verify(&self.signed_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(RoomError::BadSignature)
        }
    }

    /// Opens the share with the room key (the caller verified first).
    pub(crate) fn open(&self, room_key: &Key32) -> Result<KeyShare, RoomError> {
        let mut buf = Zeroizing::new([0u8; 32]);
        buf.copy_from_slice(&self.sealed[..32]);
        self.aead(room_key)
            .decrypt_in_place_detached(
                Nonce::from_slice(&[0; 12]),
                &self.aad(),
                buf.as_mut(),
                Tag::from_slice(&self.sealed[32..]),
            )
            .map_err(|_| RoomError::Decrypt)?;
        Ok(KeyShare {
            epoch: self.sender_epoch,
            step: self.step,
            chain: Key32(*buf),
        })
    }

    /// Encodes to the fixed layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.aad();
        b.extend_from_slice(&self.sealed);
        b.extend_from_slice(&self.signature.to_bytes());
        b
    }

    /// Decodes the fixed layout and verifies the signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, RoomError> {
        if bytes.len() != SPEAKER_KEY_LEN {
            return Err(RoomError::TooLarge);
        }
        if bytes[0] != SPEAKER_KEY_VERSION {
            return Err(RoomError::Malformed("speaker key version"));
        }
        let take = |at: usize| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&bytes[at..at + 32]);
            a
        };
        let u16_at = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let mut salt = [0; SALT_LEN];
        salt.copy_from_slice(&bytes[HEAD_LEN..HEAD_LEN + SALT_LEN]);
        let mut sealed = [0; SEALED_LEN];
        sealed.copy_from_slice(&bytes[HEAD_LEN + SALT_LEN..HEAD_LEN + SALT_LEN + SEALED_LEN]);
        let mut sig = [0; 64];
        sig.copy_from_slice(&bytes[SPEAKER_KEY_LEN - 64..]);
        let msg = Self {
            room: RoomId(take(1)),
            speaker: MemberId(take(33)),
            room_epoch: u16_at(65),
            sender_epoch: u16_at(67),
            step: u32::from_be_bytes([bytes[69], bytes[70], bytes[71], bytes[72]]),
            salt,
            sealed,
            signature: Signature::from_bytes(&sig),
        };
        msg.verify()?;
        Ok(msg)
    }
}
