//! Device identities: ed25519 keys, member ids, short ids and PeerIds.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::IdentityError;

/// The protobuf header of an ed25519 public key in a libp2p PeerId: field 1
/// (key type) = 1 (Ed25519), field 2 (data) of 32 bytes.
const PEER_ID_KEY_PREFIX: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

/// A device identity: an ed25519 signing key. Zeroized on drop, hidden in `Debug`.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// Generates a fresh identity.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self {
            key: SigningKey::generate(rng),
        }
    }

    /// Rebuilds an identity from its 32-byte secret seed.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret seed (zeroized when dropped).
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// This identity's public member id.
    pub fn member_id(&self) -> MemberId {
        MemberId(self.key.verifying_key().to_bytes())
    }

    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }

    /// The libp2p PeerId of this identity.
    #[allow(clippy::expect_used)]
    pub fn peer_id(&self) -> libp2p_identity::PeerId {
        // Invariant, not input: the public half of a SigningKey is always a
        // valid compressed ed25519 point, so this conversion cannot fail.
        self.member_id()
            .peer_id()
            .expect("public key of a signing key is valid")
    }

    /// The X25519 secret matching [`MemberId::x25519_public`], for opening envelopes.
    pub fn x25519_secret(&self) -> x25519_dalek::StaticSecret {
        let bytes = Zeroizing::new(self.key.to_scalar_bytes());
        x25519_dalek::StaticSecret::from(*bytes)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("member", &self.member_id())
            .finish_non_exhaustive()
    }
}

/// A member's public id: its ed25519 public key bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberId(pub [u8; 32]);

impl MemberId {
    /// Verifies an ed25519 signature by this member (strict verification).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        match VerifyingKey::from_bytes(&self.0) {
            Ok(vk) => vk.verify_strict(msg, sig).is_ok(),
            Err(_) => false,
        }
    }

    /// Checks that the bytes are a valid ed25519 public key and not a
    /// small-order (weak) point, whose X25519 form would give no shared secret.
    pub fn validate(&self) -> Result<(), IdentityError> {
        match VerifyingKey::from_bytes(&self.0) {
            Ok(vk) if !vk.is_weak() => Ok(()),
            _ => Err(IdentityError::InvalidPublicKey),
        }
    }

    /// The libp2p PeerId for this member: the identity multihash of the
    /// key's protobuf encoding, written out rather than built through
    /// libp2p's key type, which decompresses the point (most of the cost of
    /// mapping a member to its connection). A key that is not a valid point
    /// gives a PeerId nobody can authenticate as.
    pub fn peer_id(&self) -> Result<libp2p_identity::PeerId, IdentityError> {
        let mut mh = [0u8; 2 + PEER_ID_KEY_PREFIX.len() + 32];
        mh[..2].copy_from_slice(&[0x00, (PEER_ID_KEY_PREFIX.len() + 32) as u8]);
        mh[2..2 + PEER_ID_KEY_PREFIX.len()].copy_from_slice(&PEER_ID_KEY_PREFIX);
        mh[2 + PEER_ID_KEY_PREFIX.len()..].copy_from_slice(&self.0);
        libp2p_identity::PeerId::from_bytes(&mh).map_err(|_| IdentityError::InvalidPublicKey)
    }

    /// Recovers the member id from an ed25519 PeerId (None for other key
    /// types and for encodings other than libp2p's canonical one). The key
    /// is not decompressed here: a peer of an authenticated connection
    /// holds a valid one, and every use of a key (signature check, X25519)
    /// checks it.
    pub fn from_peer_id(peer: &libp2p_identity::PeerId) -> Option<MemberId> {
        let mh = peer.as_ref();
        if mh.code() != 0 {
            return None; // not an identity multihash: key not inlined
        }
        let key = mh.digest().strip_prefix(&PEER_ID_KEY_PREFIX)?;
        Some(MemberId(key.try_into().ok()?))
    }

    /// The 4-byte short id carried in frame headers.
    pub fn short_id(&self) -> ShortId {
        let mut h = Sha256::new();
        h.update(b"aura-short-id");
        h.update(self.0);
        let d = h.finalize();
        ShortId(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
    }

    /// The X25519 public key (Montgomery form of the ed25519 key) for envelopes.
    pub fn x25519_public(&self) -> Result<x25519_dalek::PublicKey, IdentityError> {
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| IdentityError::InvalidPublicKey)?;
        Ok(x25519_dalek::PublicKey::from(vk.to_montgomery().to_bytes()))
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..6]))
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({self})")
    }
}

/// Four-byte sender id used in frame headers; unique within a roster.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ShortId(pub u32);
