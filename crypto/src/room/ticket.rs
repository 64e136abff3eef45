//! Room tickets: what lets someone join a [`Access::Ticket`](super::Access)
//! room, signed by its host or a moderator, with an expiry, carried as
//! short `auraroom1…` text.

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use super::error::RoomError;
use super::id::RoomId;
use crate::identity::{Identity, MemberId};

/// Text prefix of every room ticket.
pub const TICKET_PREFIX: &str = "auraroom1";
/// Longest ticket text accepted.
pub const MAX_TICKET_TEXT: usize = 512;

const TICKET_SIG_DOMAIN: &[u8] = b"aura-room-ticket-v1";

/// A signed invitation into a room.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RoomTicket {
    /// Room it admits to.
    pub room: RoomId,
    /// Host or moderator who signed it.
    pub issuer: MemberId,
    /// Expiry, unix milliseconds.
    pub expires_at_ms: u64,
    /// Issuer's signature.
    pub signature: Signature,
}

fn sig_message(room: &RoomId, issuer: &MemberId, expires_at_ms: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(TICKET_SIG_DOMAIN.len() + 72);
    m.extend_from_slice(TICKET_SIG_DOMAIN);
    m.extend_from_slice(&room.0);
    m.extend_from_slice(&issuer.0);
    m.extend_from_slice(&expires_at_ms.to_be_bytes());
    m
}

impl RoomTicket {
    /// Signs a ticket. Whether `issuer` may issue one is checked by whoever
    /// admits the join ([`RoomState`](super::RoomState)).
    pub fn issue(room: RoomId, issuer: &Identity, expires_at_ms: u64) -> Self {
        let me = issuer.member_id();
        Self {
            room,
            issuer: me,
            expires_at_ms,
            signature: issuer.sign(&sig_message(&room, &me, expires_at_ms)),
        }
    }

    /// Whether the signature verifies and the ticket is for `room` and unexpired.
    pub fn is_valid_for(&self, room: &RoomId, now_ms: u64) -> bool {
        self.room == *room
            && now_ms < self.expires_at_ms
            && self.issuer.verify(
                &sig_message(&self.room, &self.issuer, self.expires_at_ms),
                &self.signature,
            )
    }

    /// Text form (fits a QR code).
    pub fn to_text(&self) -> Result<String, RoomError> {
        let bytes = postcard::to_allocvec(self).map_err(|_| RoomError::Decode)?;
        Ok(format!(
            "{TICKET_PREFIX}{}",
            BASE32_NOPAD.encode(&bytes).to_lowercase()
        ))
    }

    /// Parses the text form (size-limited; the signature is checked on join).
    pub fn parse(text: &str) -> Result<Self, RoomError> {
        let text = text.trim();
        if text.len() > MAX_TICKET_TEXT {
            return Err(RoomError::TooLarge);
        }
        let body = text
            .strip_prefix(TICKET_PREFIX)
            .ok_or(RoomError::Malformed("not a room ticket"))?;
        let bytes = BASE32_NOPAD
            .decode(body.to_uppercase().as_bytes())
            .map_err(|_| RoomError::Decode)?;
        postcard::from_bytes(&bytes).map_err(|_| RoomError::Decode)
    }
}
