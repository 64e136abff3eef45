//! A room's id: the hash of its signed create op.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ROOM_ID_DOMAIN: &[u8] = b"aura-room-id-v1";

/// A room's id (SHA-256 of its create op's canonical bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct RoomId(pub [u8; 32]);

impl RoomId {
    /// Derives the id from the create op's canonical bytes.
    pub(crate) fn from_create_bytes(bytes: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(ROOM_ID_DOMAIN);
        h.update(bytes);
        Self(h.finalize().into())
    }

    /// The 8-byte id carried in frame headers (what a relay routes on).
    pub fn header_id(&self) -> [u8; 8] {
        let mut r = [0u8; 8];
        r.copy_from_slice(&self.0[..8]);
        r
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({})", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..8]))
    }
}
