//! Key envelopes: a sender key share sealed to one recipient with ephemeral
//! X25519 + HKDF-SHA256 + ChaCha20-Poly1305, signed by the sender.
//!
//! Fixed layout (247 bytes):
//! `version u8 | group [32] | sender [32] | recipient [32] | epoch u16 BE |
//! ephemeral_pub [32] | ciphertext [36 + 16 tag] | signature [64]`.
//! The plaintext is `step u32 BE | chain key [32]`; the AAD is every byte
//! before the ciphertext; the signature covers every byte before it.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use ed25519_dalek::Signature;
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::EnvelopeError;
use crate::identity::{Identity, MemberId};
use crate::roster::GroupId;
use crate::sender_key::{Key32, KeyShare};

/// Envelope format version.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes before the ciphertext (also the AAD).
pub const ENVELOPE_HEADER_LEN: usize = 1 + 32 + 32 + 32 + 2 + 32;
const PLAIN_LEN: usize = 4 + 32;
/// Total encoded length.
pub const ENVELOPE_LEN: usize = ENVELOPE_HEADER_LEN + PLAIN_LEN + 16 + 64;
const SIG_DOMAIN: &[u8] = b"aura-envelope-sig-v1";

/// A sender key share for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEnvelope {
    /// Group.
    pub group: GroupId,
    /// Member whose sender key this is (and who signed it).
    pub sender: MemberId,
    /// Member who can open it.
    pub recipient: MemberId,
    /// Sender key epoch.
    pub epoch: u16,
    /// Ephemeral X25519 public key.
    pub ephemeral_pub: [u8; 32],
    /// Sealed `step || chain key` plus tag.
    pub ciphertext: [u8; PLAIN_LEN + 16],
    /// Sender's signature.
    pub signature: Signature,
}

/// What an opened envelope yields.
pub(crate) struct OpenedShare {
    pub(crate) share: KeyShare,
}

fn aead_key(
    shared: &[u8; 32],
    group: &GroupId,
    sender: &MemberId,
    recipient: &MemberId,
    epoch: u16,
    eph: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(&group.0), shared);
    let mut info = Vec::with_capacity(16 + 32 * 3 + 2);
    info.extend_from_slice(b"aura envelope v1");
    info.extend_from_slice(&sender.0);
    info.extend_from_slice(&recipient.0);
    info.extend_from_slice(&epoch.to_be_bytes());
    info.extend_from_slice(eph);
    let mut k = Zeroizing::new([0u8; 32]);
    if hk.expand(&info, k.as_mut()).is_err() {
        tracing::error!("hkdf expand failed");
    }
    k
}

impl KeyEnvelope {
    /// Seals `share` from `sender` to `recipient`; `rng` supplies the ephemeral key.
    pub(crate) fn seal<R: RngCore + CryptoRng>(
        sender: &Identity,
        group: GroupId,
        recipient: MemberId,
        share: &KeyShare,
        rng: &mut R,
    ) -> Result<Self, EnvelopeError> {
        let rpub = recipient
            .x25519_public()
            .map_err(|_| EnvelopeError::BadKey)?;
        let eph = StaticSecret::random_from_rng(rng);
        let eph_pub = PublicKey::from(&eph).to_bytes();
        let shared = eph.diffie_hellman(&rpub);
        if !shared.was_contributory() {
            return Err(EnvelopeError::BadKey);
        }
        let mut env = Self {
            group,
            sender: sender.member_id(),
            recipient,
            epoch: share.epoch,
            ephemeral_pub: eph_pub,
            ciphertext: [0u8; PLAIN_LEN + 16],
            signature: Signature::from_bytes(&[0u8; 64]),
        };
        let key = aead_key(
            shared.as_bytes(),
            &group,
            &env.sender,
            &recipient,
            share.epoch,
            &eph_pub,
        );
        let mut buf = Zeroizing::new([0u8; PLAIN_LEN]);
        buf[..4].copy_from_slice(&share.step.to_be_bytes());
        buf[4..].copy_from_slice(&share.chain.0);
        let header = env.header_bytes();
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&[0u8; 12]), &header, buf.as_mut())
            .map_err(|_| EnvelopeError::Decrypt)?;
        env.ciphertext[..PLAIN_LEN].copy_from_slice(buf.as_ref());
        env.ciphertext[PLAIN_LEN..].copy_from_slice(&tag);
        let signed = env.signed_bytes();
        env.signature = sender.sign(&signed);
        Ok(env)
    }

    fn header_bytes(&self) -> [u8; ENVELOPE_HEADER_LEN] {
        let mut h = [0u8; ENVELOPE_HEADER_LEN];
        h[0] = ENVELOPE_VERSION;
        h[1..33].copy_from_slice(&self.group.0);
        h[33..65].copy_from_slice(&self.sender.0);
        h[65..97].copy_from_slice(&self.recipient.0);
        h[97..99].copy_from_slice(&self.epoch.to_be_bytes());
        h[99..131].copy_from_slice(&self.ephemeral_pub);
        h
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(SIG_DOMAIN.len() + ENVELOPE_LEN - 64);
        m.extend_from_slice(SIG_DOMAIN);
        m.extend_from_slice(&self.header_bytes());
        m.extend_from_slice(&self.ciphertext);
        m
    }

    /// Encodes to the fixed 247-byte layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(ENVELOPE_LEN);
        b.extend_from_slice(&self.header_bytes());
        b.extend_from_slice(&self.ciphertext);
        b.extend_from_slice(&self.signature.to_bytes());
        b
    }

    /// Decodes the fixed layout and verifies the sender's signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let env = Self::parse(bytes)?;
        env.verify()?;
        Ok(env)
    }

    /// Decodes the fixed layout only: no signature check. Lets a receiver
    /// screen group, sender and recipient before any signature work; verify
    /// (or [`crate::GroupSession::accept_envelope`], which verifies) before
    /// trusting it.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() != ENVELOPE_LEN {
            return Err(EnvelopeError::BadLength(bytes.len()));
        }
        if bytes[0] != ENVELOPE_VERSION {
            return Err(EnvelopeError::BadVersion(bytes[0]));
        }
        let arr = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&bytes[r]);
            a
        };
        let mut ciphertext = [0u8; PLAIN_LEN + 16];
        ciphertext.copy_from_slice(&bytes[ENVELOPE_HEADER_LEN..ENVELOPE_LEN - 64]);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&bytes[ENVELOPE_LEN - 64..]);
        Ok(Self {
            group: GroupId(arr(1..33)),
            sender: MemberId(arr(33..65)),
            recipient: MemberId(arr(65..97)),
            epoch: u16::from_be_bytes([bytes[97], bytes[98]]),
            ephemeral_pub: arr(99..131),
            ciphertext,
            signature: Signature::from_bytes(&sig),
        })
    }

    /// Verifies the sender's signature.
    pub fn verify(&self) -> Result<(), EnvelopeError> {
        if self.sender.verify(&self.signed_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(EnvelopeError::BadSignature)
        }
    }

    /// Verifies and decrypts with the recipient's identity.
    pub(crate) fn open(&self, me: &Identity) -> Result<OpenedShare, EnvelopeError> {
        self.open_via(me, None)
    }

    /// As [`Self::open`]; the signature is not checked again when `via`,
    /// the member whose authenticated connection handed the envelope over,
    /// is its sender.
    pub(crate) fn open_via(
        &self,
        me: &Identity,
        via: Option<MemberId>,
    ) -> Result<OpenedShare, EnvelopeError> {
        if self.recipient != me.member_id() {
            return Err(EnvelopeError::WrongRecipient);
        }
        if via != Some(self.sender) {
            self.verify()?;
        }
        let shared = me
            .x25519_secret()
            .diffie_hellman(&PublicKey::from(self.ephemeral_pub));
        if !shared.was_contributory() {
            return Err(EnvelopeError::BadKey);
        }
        let key = aead_key(
            shared.as_bytes(),
            &self.group,
            &self.sender,
            &self.recipient,
            self.epoch,
            &self.ephemeral_pub,
        );
        let mut buf = Zeroizing::new([0u8; PLAIN_LEN]);
        buf.copy_from_slice(&self.ciphertext[..PLAIN_LEN]);
        let tag = Tag::from_slice(&self.ciphertext[PLAIN_LEN..]);
        ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
            .decrypt_in_place_detached(
                Nonce::from_slice(&[0u8; 12]),
                &self.header_bytes(),
                buf.as_mut(),
                tag,
            )
            .map_err(|_| EnvelopeError::Decrypt)?;
        let step = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let mut chain = Key32([0u8; 32]);
        chain.0.copy_from_slice(&buf[4..]);
        Ok(OpenedShare {
            share: KeyShare {
                epoch: self.epoch,
                step,
                chain,
            },
        })
    }
}
