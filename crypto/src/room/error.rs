//! Why a room op, ticket or key message was refused.

use thiserror::Error;

use crate::error::EnvelopeError;

/// A room op, ticket or key message that was refused. The room's state is
/// unchanged by a refused op.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// Larger than the network limit.
    #[error("room message too large")]
    TooLarge,
    /// Not decodable.
    #[error("room message not decodable")]
    Decode,
    /// Decodable but structurally invalid.
    #[error("malformed room op: {0}")]
    Malformed(&'static str),
    /// The author's signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The op names another room.
    #[error("op for another room")]
    WrongRoom,
    /// The host closed the room.
    #[error("room closed")]
    Closed,
    /// The author's clock is too far from ours (a replayed or stale op).
    #[error("op not fresh")]
    Stale,
    /// The author already had an op at this time or later (a replay).
    #[error("op replayed")]
    Replay,
    /// The author is banned from the room.
    #[error("banned")]
    Banned,
    /// The author is not in the room.
    #[error("not in the room")]
    NotPresent,
    /// The author is already in the room.
    #[error("already in the room")]
    AlreadyPresent,
    /// The author's role does not allow the op.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// No valid invite ticket for an open room.
    #[error("no valid ticket")]
    Ticket,
    /// Not a member of the group that owns the room.
    #[error("not a member of the room's group")]
    NotInGroup,
    /// A VIP room or seat and no valid entitlement token.
    #[error("VIP entitlement required")]
    VipRequired,
    /// No such seat, or the seat is taken.
    #[error("seat unavailable")]
    Seat,
    /// The room is full.
    #[error("room full")]
    Full,
    /// A key message that does not open (wrong key, tampered).
    #[error("key message does not open")]
    Decrypt,
    /// A room key envelope that does not open or is not from the host.
    #[error("room key envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// A speaker key from someone who is not seated.
    #[error("not a speaker of the room")]
    NotASpeaker,
    /// A key message for an epoch we do not hold.
    #[error("unknown room key epoch")]
    UnknownEpoch,
}
