//! Why the relay refused a room message.

use aura_crypto::room::RoomError;
use thiserror::Error;

use aura_media::room_control::WireError;

/// A room message the relay refused; nothing changed. Its [`Self::code`]
/// goes back to the member in a `refused` message.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum HubError {
    /// Not a well-formed control message.
    #[error("malformed control message: {0}")]
    Wire(#[from] WireError),
    /// A key envelope or speaker key that does not parse.
    #[error("malformed key message")]
    Malformed,
    /// The room state refused the op (role, replay, freshness, signature...).
    #[error("room op refused: {0}")]
    Room(#[from] RoomError),
    /// The op is signed by someone other than the connection's member.
    #[error("op author is not the connection's member")]
    NotAuthor,
    /// The relay serves no such room.
    #[error("unknown room")]
    UnknownRoom,
    /// A create op for a room that exists.
    #[error("room exists")]
    Exists,
    /// Too many rooms on this relay, or for this host.
    #[error("too many rooms")]
    TooManyRooms,
    /// A room key envelope not from the room's host.
    #[error("room keys come from the host only")]
    NotHost,
    /// The room's listener log is full.
    #[error("room log full")]
    LogFull,
    /// The room has as many edge relays as it may.
    #[error("too many edge relays for the room")]
    TooManyEdges,
    /// A cascade message where it does not belong (a member sending an
    /// edge's message, an origin's message from elsewhere).
    #[error("cascade message not expected here")]
    NotHere,
    /// The room is being restored by its host: only the host's messages
    /// are taken until it is.
    #[error("the room is being restored")]
    Restoring,
    /// A restore not from the room's host, or for a room not being
    /// restored.
    #[error("not a restore of this room")]
    NotRestoring,
}

impl HubError {
    /// One byte for the wire and a label for the metrics.
    pub fn code(&self) -> u8 {
        match self {
            Self::Wire(_) => 1,
            Self::Malformed => 2,
            Self::Room(RoomError::BadSignature) => 3,
            Self::Room(RoomError::Replay) => 4,
            Self::Room(RoomError::Stale) => 5,
            Self::Room(RoomError::NotAllowed(_)) => 6,
            Self::Room(RoomError::Banned) => 7,
            Self::Room(RoomError::NotPresent) => 8,
            Self::Room(RoomError::VipRequired) => 18,
            Self::Room(_) => 9,
            Self::NotAuthor => 10,
            Self::UnknownRoom => 11,
            Self::Exists => 12,
            Self::TooManyRooms => 13,
            Self::NotHost => 14,
            Self::LogFull => 15,
            Self::TooManyEdges => 16,
            Self::NotHere => 17,
            Self::Restoring => 19,
            Self::NotRestoring => 20,
        }
    }

    /// The metrics label.
    pub fn as_str(&self) -> &'static str {
        match self.code() {
            1 => "wire",
            2 => "malformed",
            3 => "bad_signature",
            4 => "replay",
            5 => "stale",
            6 => "not_allowed",
            7 => "banned",
            8 => "not_present",
            9 => "room_rule",
            10 => "not_author",
            11 => "unknown_room",
            12 => "exists",
            13 => "too_many_rooms",
            14 => "not_host",
            15 => "log_full",
            16 => "too_many_edges",
            18 => "vip_required",
            19 => "restoring",
            20 => "not_restoring",
            _ => "not_here",
        }
    }
}
