//! What a room tells the app.

use aura_billing::signed::SignedReceipt;
use aura_crypto::room::RoomChange;
use aura_crypto::MemberId;

/// A change in a room, in the order the relay sequenced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEvent {
    /// The relay sent us the room; our view is built.
    Welcomed,
    /// An op changed the room (joins, seats, mutes, roles, departures, close).
    Changed(RoomChange),
    /// A chat message (sealed; [`super::RoomHandle`] opens it).
    Chat {
        /// Author (checked by the relay against its connection).
        from: MemberId,
        /// Sealed bytes.
        sealed: Vec<u8>,
    },
    /// A chat message opened.
    Said {
        /// Author.
        from: MemberId,
        /// Text.
        text: String,
    },
    /// A member sent a gift in the room: the ledger's receipt, checked
    /// (signed by the pinned ledger, for this room, paid by `from`).
    Gift {
        /// Who paid for it.
        from: MemberId,
        /// The receipt (gift, receiver, coins, diamonds).
        receipt: Box<SignedReceipt>,
    },
    /// The relay refused an op of ours (`code`: see the relay's `HubError::code`).
    Refused {
        /// The refused op's time (0 for other messages).
        at_ms: u64,
        /// Why.
        code: u8,
    },
    /// Who is speaking now (members whose voice we played in the last tick).
    Speaking(Vec<MemberId>),
    /// The relay we were connected through stopped; we rejoined through
    /// another relay of the room (our keys kept: we keep listening).
    Moved {
        /// The relay we are connected through now.
        relay: MemberId,
    },
    /// The connection to the relay ended; the room's task stopped (join
    /// again for a new one: the relay welcomes a member present again).
    Disconnected,
}
