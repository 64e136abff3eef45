//! Voice rooms, sans-IO: a host, moderators, seats for speakers and an
//! audience, driven by signed control ops checked against roles. Nodes and
//! relays run the same [`RoomState`]; the relay sequences ops, and every
//! holder applies them in that order.
//!
//! - [`RoomOp`] / [`SignedRoomOp`]: what members do (join, raise a hand,
//!   take a seat, mute, kick, ban, close), signed by their author. Each op
//!   carries its author's clock: an op older than [`FRESH_MS`], or not newer
//!   than the author's previous op, is a replay and is refused.
//! - [`RoomTicket`]: the invitation to a ticket room, signed by its host or
//!   a moderator.
//! - [`Admission`]: what the state asks outside (the owning group's roster,
//!   the ledger's offline VIP token check).
//! - [`RoomKeyAuthority`], [`SpeakerKey`], [`RoomSession`]: the keys. The
//!   host seals the room key to each joiner; each speaker hands its sender
//!   key to the whole room in one message sealed under the room key; after
//!   a departure both rotate (see [`keys`]). Chat is sealed under the
//!   room key and signed by its author ([`chat`]).

mod apply;
pub mod chat;
pub mod error;
mod id;
pub mod keys;
pub mod op;
mod session;
pub mod state;
pub mod ticket;

pub use error::RoomError;
pub use id::RoomId;
pub use keys::{RoomKeyAuthority, SpeakerKey, SPEAKER_KEY_LEN};
pub use op::{
    Access, RoomOp, RoomOpKind, SignedRoomOp, DEFAULT_SEATS, MAX_ROOM_OP_BYTES, MAX_SEATS,
};
pub use session::RoomSession;
pub use state::{Admission, Presence, RoomChange, RoomState, Seat, FRESH_MS};
pub use ticket::RoomTicket;
