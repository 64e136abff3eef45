//! Why the forwarder drops a datagram or refuses a session: one metrics
//! label each.

use thiserror::Error;

/// Why a datagram was dropped (one label each in the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum DropReason {
    /// Empty, oversize, unknown kind or unparsable header.
    #[error("malformed datagram")]
    Malformed,
    /// The header names someone other than the connection's member.
    #[error("header names another sender than the connection")]
    WrongSender,
    /// The sender has not joined the room.
    #[error("sender has not joined the room")]
    NotJoined,
    /// Over the connection's bandwidth.
    #[error("over the connection's bandwidth")]
    RateLimited,
    /// Access needs a valid token first (or it expired).
    #[error("no valid token presented")]
    NotAdmitted,
    /// No session for this connection.
    #[error("no session")]
    NoSession,
    /// A room frame of a speaker that is not among the loudest few.
    #[error("speaker not among the loudest")]
    NotSelected,
    /// A frame into a room of the control plane from a member that is not
    /// a seated, unmuted speaker.
    #[error("not a seated, unmuted speaker")]
    NotSpeaker,
}

impl DropReason {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongSender => "wrong_sender",
            Self::NotJoined => "not_joined",
            Self::RateLimited => "rate_limited",
            Self::NotAdmitted => "not_admitted",
            Self::NoSession => "no_session",
            Self::NotSelected => "not_selected",
            Self::NotSpeaker => "not_speaker",
        }
    }
}

/// Why a connection, join or token was refused (one label each in the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum Refusal {
    /// [`Limits::max_sessions`] reached.
    #[error("too many media sessions")]
    Sessions,
    /// [`Limits::rooms_per_member`] reached.
    #[error("too many rooms for this member")]
    RoomsPerMember,
    /// [`Limits::members_per_room`] reached.
    #[error("room full")]
    RoomFull,
    /// [`Limits::max_rooms`] reached.
    #[error("too many rooms")]
    Rooms,
    /// The access policy refuses this member.
    #[error("not allowed")]
    NotAllowed,
    /// A token that is not the ledger's JSON, or fails another check.
    #[error("bad token")]
    BadToken,
    /// A token whose signature is not the pinned ledger key's.
    #[error("forged token")]
    TokenForged,
    /// A token past its lifetime (or not yet valid).
    #[error("expired token")]
    TokenExpired,
    /// A token issued to another member (replayed by this one).
    #[error("token of another member")]
    TokenOtherMember,
    /// A valid token that lacks the capability the relay asks for.
    #[error("token lacks the relay's capability")]
    TokenNotEntitled,
}

impl Refusal {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::RoomsPerMember => "rooms_per_member",
            Self::RoomFull => "room_full",
            Self::Rooms => "rooms",
            Self::NotAllowed => "not_allowed",
            Self::BadToken => "bad_token",
            Self::TokenForged => "token_forged",
            Self::TokenExpired => "token_expired",
            Self::TokenOtherMember => "token_other_member",
            Self::TokenNotEntitled => "token_not_entitled",
        }
    }
}
