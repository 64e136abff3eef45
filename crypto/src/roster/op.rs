//! Roster operations: the signed, hash-linked entries of the membership log.

use std::fmt;

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::hash::OpHash;
use crate::error::RosterError;
use crate::identity::{Identity, MemberId};

/// Largest encoded [`SignedOp`] accepted from the network.
pub const MAX_OP_BYTES: usize = 1024;
/// Most parents an op may name.
pub const MAX_PARENTS: usize = 32;
/// Most parents a proposal names: with more heads than this, the newest
/// heads are named and the rest stay heads, so a proposal always fits in
/// [`MAX_OP_BYTES`] however many concurrent ops exist (an op with 16
/// parents encodes to about 700 bytes).
pub const MAX_PROPOSE_PARENTS: usize = 16;
/// Longest group name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

const OP_HASH_DOMAIN: &[u8] = b"aura-roster-op-v1";
const OP_SIG_DOMAIN: &[u8] = b"aura-roster-sig-v1";

/// A group's id: the hash of its create op.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct GroupId(pub [u8; 32]);

impl GroupId {
    /// The 8-byte room id used in frame headers.
    pub fn room(&self) -> [u8; 8] {
        let mut r = [0u8; 8];
        r.copy_from_slice(&self.0[..8]);
        r
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..8]))
    }
}

/// Invite identifier (random, chosen by the inviter).
pub type InviteId = [u8; 16];

/// The invite an add redeems: its id and the use limit the inviter signed.
/// The limit travels in the op so that the merge enforces it (adds beyond
/// it are skipped, whichever admins made them concurrently).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct InviteUse {
    /// The invite's id.
    pub id: InviteId,
    /// How many adds may redeem it.
    pub max_uses: u32,
}

/// Member roles, ordered: `Member < Admin < Owner`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Role {
    /// Ordinary member.
    Member,
    /// May add and remove members.
    Admin,
    /// May also manage admins and transfer ownership. Exactly one.
    Owner,
}

/// What an op does.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum OpKind {
    /// Creates the group; the author becomes owner.
    Create {
        /// Human-readable name.
        name: String,
    },
    /// Adds a member with a role, optionally redeeming an invite.
    Add {
        /// New member.
        member: MemberId,
        /// Its role (never `Owner`).
        role: Role,
        /// The invite redeemed, if any (counts toward its `max_uses`).
        invite: Option<InviteUse>,
    },
    /// Removes a member.
    Remove {
        /// Member removed.
        member: MemberId,
    },
    /// Changes a member's role (owner only; never to `Owner`).
    SetRole {
        /// Member concerned.
        member: MemberId,
        /// New role.
        role: Role,
    },
    /// The author leaves.
    Leave,
    /// The owner hands ownership to a member and becomes admin.
    TransferOwnership {
        /// New owner.
        to: MemberId,
    },
}

/// The signed content of an op.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Op {
    /// Group (all zero for `Create`).
    pub group: GroupId,
    /// Hashes of the parent ops, sorted and deduplicated (empty for `Create`).
    pub parents: Vec<OpHash>,
    /// Author.
    pub author: MemberId,
    /// Author's clock, unix milliseconds (informational).
    pub at_ms: u64,
    /// What it does.
    pub kind: OpKind,
}

impl Op {
    /// Canonical bytes (postcard).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, RosterError> {
        postcard::to_allocvec(self).map_err(|_| RosterError::Decode)
    }

    /// Signs the op.
    pub fn sign(self, identity: &Identity) -> Result<SignedOp, RosterError> {
        let bytes = self.canonical_bytes()?;
        let signature = identity.sign(&sig_message(&bytes));
        let hash = hash_bytes(&bytes);
        Ok(SignedOp {
            op: self,
            signature,
            hash,
        })
    }
}

fn sig_message(bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(OP_SIG_DOMAIN.len() + bytes.len());
    m.extend_from_slice(OP_SIG_DOMAIN);
    m.extend_from_slice(bytes);
    m
}

fn hash_bytes(bytes: &[u8]) -> OpHash {
    let mut h = Sha256::new();
    h.update(OP_HASH_DOMAIN);
    h.update(bytes);
    OpHash(h.finalize().into())
}

/// An op with its author's signature. The hash is computed, never transmitted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedOp {
    /// The op.
    pub op: Op,
    /// Author's ed25519 signature over the domain-separated canonical bytes.
    pub signature: Signature,
    hash: OpHash,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    op: Op,
    signature: Signature,
}

impl SignedOp {
    /// The op's hash.
    pub fn hash(&self) -> OpHash {
        self.hash
    }

    /// Encodes for the network or storage.
    pub fn encode(&self) -> Result<Vec<u8>, RosterError> {
        postcard::to_allocvec(&Wire {
            op: self.op.clone(),
            signature: self.signature,
        })
        .map_err(|_| RosterError::Decode)
    }

    /// Decodes (size-limited) and checks structure and signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, RosterError> {
        if bytes.len() > MAX_OP_BYTES {
            return Err(RosterError::TooLarge);
        }
        let w: Wire = postcard::from_bytes(bytes).map_err(|_| RosterError::Decode)?;
        Self::from_parts(w.op, w.signature)
    }

    /// As [`Self::decode`], but an op whose hash `known` holds (one we
    /// have already, verified) is `Ok(None)` without a signature check: an
    /// answer repeating ops we hold costs hashes, not verifications.
    pub fn decode_unless_known(
        bytes: &[u8],
        known: impl Fn(&OpHash) -> bool,
    ) -> Result<Option<Self>, RosterError> {
        if bytes.len() > MAX_OP_BYTES {
            return Err(RosterError::TooLarge);
        }
        let w: Wire = postcard::from_bytes(bytes).map_err(|_| RosterError::Decode)?;
        check_structure(&w.op)?;
        let canonical = w.op.canonical_bytes()?;
        if known(&hash_bytes(&canonical)) {
            return Ok(None);
        }
        Self::from_parts(w.op, w.signature).map(Some)
    }

    /// Rebuilds from parts, checking structure and signature.
    pub fn from_parts(op: Op, signature: Signature) -> Result<Self, RosterError> {
        check_structure(&op)?;
        let bytes = op.canonical_bytes()?;
        if bytes.len() + 64 > MAX_OP_BYTES {
            return Err(RosterError::TooLarge);
        }
        if !op.author.verify(&sig_message(&bytes), &signature) {
            return Err(RosterError::BadSignature);
        }
        let hash = hash_bytes(&bytes);
        Ok(Self {
            op,
            signature,
            hash,
        })
    }
}

fn check_structure(op: &Op) -> Result<(), RosterError> {
    let create = matches!(op.kind, OpKind::Create { .. });
    if create != op.parents.is_empty() {
        return Err(RosterError::Malformed("only create has no parents"));
    }
    if create && op.group != GroupId::default() {
        return Err(RosterError::Malformed("create names a group"));
    }
    if op.parents.len() > MAX_PARENTS {
        return Err(RosterError::Malformed("too many parents"));
    }
    if op.parents.windows(2).any(|w| w[0] >= w[1]) {
        return Err(RosterError::Malformed("parents not sorted/unique"));
    }
    if let OpKind::Create { name } = &op.kind {
        if name.len() > MAX_NAME_LEN {
            return Err(RosterError::Malformed("name too long"));
        }
    }
    Ok(())
}
