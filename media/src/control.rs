//! What a member tells a relay's media forwarder, as datagrams on the same
//! connection as its frames (sans-IO encode and parse).
//!
//! ```text
//! join:  tag u8 = 0xA3 | room [8]     forward me this room's frames
//! leave: tag u8 = 0xA4 | room [8]     stop
//! token: tag u8 = 0xA5 | bytes..      an entitlement token (the ledger's JSON)
//! ```
//!
//! The tags can never start a sealed frame (high nibble = frame version, 1)
//! nor a receiver report (0xA2). Joins are soft state: a member repeats its
//! join while it wants the room (a lost datagram is healed by the next).
//! The relay checks none of it against a roster (it holds none): a join
//! only asks for ciphertext, and what a member sends into a room is checked
//! by the receivers.

use thiserror::Error;

use crate::framing::MAX_FRAME;
use crate::RoomId;

/// First byte of a join.
pub const JOIN_TAG: u8 = 0xA3;
/// First byte of a leave.
pub const LEAVE_TAG: u8 = 0xA4;
/// First byte of a token.
pub const TOKEN_TAG: u8 = 0xA5;
/// Length of a join or leave.
pub const ROOM_OP_LEN: usize = 9;

/// A control message to a relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayControl<'a> {
    /// Forward this room's frames to me.
    Join(RoomId),
    /// Stop forwarding this room to me.
    Leave(RoomId),
    /// An entitlement token (opaque here; the relay decodes it).
    Token(&'a [u8]),
}

/// Why a control datagram was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    /// The first byte is not a control tag.
    #[error("not a relay control message (tag {0:#04x})")]
    Tag(u8),
    /// Empty.
    #[error("empty control message")]
    Empty,
    /// A join or leave not exactly [`ROOM_OP_LEN`] bytes long.
    #[error("room operation of {0} bytes (expected {ROOM_OP_LEN})")]
    Length(usize),
    /// A token that is empty or larger than [`MAX_FRAME`].
    #[error("token of {0} bytes")]
    TokenSize(usize),
}

/// Whether `b` (a datagram's first byte) starts a control message.
pub fn is_control(b: u8) -> bool {
    matches!(b, JOIN_TAG | LEAVE_TAG | TOKEN_TAG)
}

impl<'a> RelayControl<'a> {
    /// Parses a control datagram (size-limited, no allocation).
    pub fn parse(d: &'a [u8]) -> Result<Self, ControlError> {
        let (&tag, rest) = d.split_first().ok_or(ControlError::Empty)?;
        match tag {
            JOIN_TAG | LEAVE_TAG => {
                let room: RoomId = rest.try_into().map_err(|_| ControlError::Length(d.len()))?;
                Ok(if tag == JOIN_TAG {
                    Self::Join(room)
                } else {
                    Self::Leave(room)
                })
            }
            TOKEN_TAG if !rest.is_empty() && d.len() <= MAX_FRAME => Ok(Self::Token(rest)),
            TOKEN_TAG => Err(ControlError::TokenSize(rest.len())),
            other => Err(ControlError::Tag(other)),
        }
    }

    /// Encodes it.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Self::Join(r) | Self::Leave(r) => {
                let tag = if matches!(self, Self::Join(_)) {
                    JOIN_TAG
                } else {
                    LEAVE_TAG
                };
                let mut v = Vec::with_capacity(ROOM_OP_LEN);
                v.push(tag);
                v.extend_from_slice(r);
                v
            }
            Self::Token(t) => {
                let mut v = Vec::with_capacity(1 + t.len());
                v.push(TOKEN_TAG);
                v.extend_from_slice(t);
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::classify;

    #[test]
    fn control_messages_roundtrip_and_never_pass_as_frames_or_reports() {
        for m in [
            RelayControl::Join([3; 8]),
            RelayControl::Leave([4; 8]),
            RelayControl::Token(b"{\"body\":1}"),
        ] {
            let b = m.to_vec();
            assert_eq!(RelayControl::parse(&b), Ok(m));
            assert!(is_control(b[0]));
            assert!(classify(&b).is_err());
        }
    }

    #[test]
    fn malformed_control_messages_are_refused() {
        assert_eq!(RelayControl::parse(&[]), Err(ControlError::Empty));
        assert_eq!(
            RelayControl::parse(&[JOIN_TAG, 1, 2]),
            Err(ControlError::Length(3))
        );
        assert_eq!(
            RelayControl::parse(&[TOKEN_TAG]),
            Err(ControlError::TokenSize(0))
        );
        assert_eq!(
            RelayControl::parse(&vec![TOKEN_TAG; MAX_FRAME + 1]),
            Err(ControlError::TokenSize(MAX_FRAME))
        );
        assert_eq!(
            RelayControl::parse(&[0x11; 9]),
            Err(ControlError::Tag(0x11))
        );
    }
}
