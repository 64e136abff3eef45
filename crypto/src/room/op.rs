//! Room control ops: signed by their author, checked against roles by
//! [`RoomState`](super::RoomState).

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use super::error::RoomError;
use super::id::RoomId;
use super::ticket::RoomTicket;
use crate::identity::{Identity, MemberId};
use crate::roster::GroupId;

/// Largest encoded [`SignedRoomOp`] accepted from the network.
pub const MAX_ROOM_OP_BYTES: usize = 1024;
/// Longest room name, in bytes.
pub const MAX_ROOM_NAME_LEN: usize = 64;
/// Most seats a room may have.
pub const MAX_SEATS: u8 = 16;
/// Seats a room has unless its host chooses otherwise.
pub const DEFAULT_SEATS: u8 = 8;
/// Longest entitlement token carried in a join.
pub const MAX_TOKEN_LEN: usize = 512;

const ROOM_OP_SIG_DOMAIN: &[u8] = b"aura-room-op-sig-v1";

/// Who may join a room.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Access {
    /// Anyone holding a ticket signed by the host or a moderator.
    Ticket,
    /// Members of this group (checked against its roster).
    Group(GroupId),
}

/// What a room op does.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RoomOpKind {
    /// Creates the room; the author is its host.
    Create {
        /// Human-readable name.
        name: String,
        /// Who may join.
        access: Access,
        /// Number of seats (1..=[`MAX_SEATS`]).
        seats: u8,
        /// The first `vip_seats` seats are reserved to VIP members.
        vip_seats: u8,
        /// Only VIP members may join at all.
        vip_only: bool,
        /// Random, so two rooms created alike still differ.
        nonce: [u8; 16],
    },
    /// The author joins the audience.
    Join {
        /// A ticket, for a [`Access::Ticket`] room.
        ticket: Option<RoomTicket>,
        /// An entitlement token from the ledger, for VIP rooms and seats.
        entitlement: Option<Vec<u8>>,
    },
    /// The author leaves the room.
    Leave,
    /// The author raises (or lowers) a hand to ask for a seat.
    RaiseHand {
        /// Raised or lowered.
        up: bool,
    },
    /// Host or moderator invites a member onto a seat.
    InviteToSeat {
        /// Member invited.
        member: MemberId,
        /// Seat index.
        seat: u8,
    },
    /// The author takes a seat (invited to it, or host/moderator).
    TakeSeat {
        /// Seat index.
        seat: u8,
    },
    /// The author leaves its seat for the audience.
    LeaveSeat,
    /// Host or moderator moves a seat's speaker back to the audience.
    ClearSeat {
        /// Seat index.
        seat: u8,
    },
    /// Mutes or unmutes a seat (host, moderator, or its own speaker).
    MuteSeat {
        /// Seat index.
        seat: u8,
        /// Muted or not.
        muted: bool,
    },
    /// The host makes a member a moderator or takes it back.
    SetModerator {
        /// Member concerned.
        member: MemberId,
        /// Moderator or not.
        on: bool,
    },
    /// Host or moderator removes a member from the room.
    Kick {
        /// Member removed.
        member: MemberId,
    },
    /// Host or moderator removes a member and refuses its return.
    Ban {
        /// Member banned.
        member: MemberId,
    },
    /// Host or moderator lifts a ban.
    Unban {
        /// Member concerned.
        member: MemberId,
    },
    /// The host closes the room.
    Close,
}

/// The signed content of a room op.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RoomOp {
    /// Room (all zero for `Create`).
    pub room: RoomId,
    /// Author.
    pub author: MemberId,
    /// Author's clock, unix milliseconds: checked for freshness and strictly
    /// increasing per author, so an op cannot be replayed.
    pub at_ms: u64,
    /// What it does.
    pub kind: RoomOpKind,
}

impl RoomOp {
    /// Canonical bytes (postcard).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, RoomError> {
        postcard::to_allocvec(self).map_err(|_| RoomError::Decode)
    }

    /// Signs the op.
    pub fn sign(self, identity: &Identity) -> Result<SignedRoomOp, RoomError> {
        check_structure(&self)?;
        let bytes = self.canonical_bytes()?;
        let signature = identity.sign(&sig_message(&bytes));
        SignedRoomOp::checked(self, signature, &bytes)
    }
}

fn sig_message(bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ROOM_OP_SIG_DOMAIN.len() + bytes.len());
    m.extend_from_slice(ROOM_OP_SIG_DOMAIN);
    m.extend_from_slice(bytes);
    m
}

/// A room op with its author's signature, checked on construction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedRoomOp {
    op: RoomOp,
    signature: Signature,
    /// The room this op creates (create ops only).
    created: Option<RoomId>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    op: RoomOp,
    signature: Signature,
}

impl SignedRoomOp {
    /// The op.
    pub fn op(&self) -> &RoomOp {
        &self.op
    }

    /// The id of the room a create op creates.
    pub fn created_room(&self) -> Option<RoomId> {
        self.created
    }

    /// Encodes for the network or storage.
    pub fn encode(&self) -> Result<Vec<u8>, RoomError> {
        postcard::to_allocvec(&Wire {
            op: self.op.clone(),
            signature: self.signature,
        })
        .map_err(|_| RoomError::Decode)
    }

    /// Decodes (size-limited) and checks structure and signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, RoomError> {
        if bytes.len() > MAX_ROOM_OP_BYTES {
            return Err(RoomError::TooLarge);
        }
        let w: Wire = postcard::from_bytes(bytes).map_err(|_| RoomError::Decode)?;
        check_structure(&w.op)?;
        let canonical = w.op.canonical_bytes()?;
        Self::checked(w.op, w.signature, &canonical)
    }

    fn checked(op: RoomOp, signature: Signature, canonical: &[u8]) -> Result<Self, RoomError> {
        if canonical.len() + 64 > MAX_ROOM_OP_BYTES {
            return Err(RoomError::TooLarge);
        }
        if !op.author.verify(&sig_message(canonical), &signature) {
            return Err(RoomError::BadSignature);
        }
        let created = matches!(op.kind, RoomOpKind::Create { .. })
            .then(|| RoomId::from_create_bytes(canonical));
        Ok(Self {
            op,
            signature,
            created,
        })
    }
}

fn check_structure(op: &RoomOp) -> Result<(), RoomError> {
    match &op.kind {
        RoomOpKind::Create {
            name,
            seats,
            vip_seats,
            ..
        } => {
            if op.room != RoomId::default() {
                return Err(RoomError::Malformed("create names a room"));
            }
            if name.len() > MAX_ROOM_NAME_LEN {
                return Err(RoomError::Malformed("name too long"));
            }
            if *seats == 0 || *seats > MAX_SEATS || vip_seats > seats {
                return Err(RoomError::Malformed("seat count"));
            }
        }
        RoomOpKind::Join {
            entitlement: Some(t),
            ..
        } if t.len() > MAX_TOKEN_LEN => return Err(RoomError::Malformed("token too long")),
        _ if op.room == RoomId::default() => return Err(RoomError::Malformed("no room")),
        _ => {}
    }
    Ok(())
}
