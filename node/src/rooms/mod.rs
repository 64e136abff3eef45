//! Voice rooms through a relay: a host, seats for speakers and an
//! audience, end-to-end encrypted (see `aura_crypto::room`). A room lives
//! at one relay's room control plane (`aura_relay::rooms`): the node keeps
//! one connection to it on its media endpoint, submits signed ops on a
//! reliable stream, and sends and receives voice as datagrams; listeners
//! talk to the relay only, never to each other. A room bigger than one
//! relay spans several (the relay's cascade): a member joins the least
//! loaded ([`crate::Node::join_room_least_loaded`]) and, if its relay
//! stops, joins again through another of the room's relays and keeps
//! listening ([`RoomEvent::Moved`]); a member seated while at an edge
//! relay moves to the room's origin, where voice enters the room.
//!
//! - [`client`] (sans-IO): our view of the room (ops checked again here),
//!   the keys (the host seals the room key to joiners and rotates it after
//!   departures; a seated member hands its sender key to the room).
//! - [`voice`] (sans-IO): PCM in, Opus, sealed, the level byte outside the
//!   encryption; speakers' frames decoded and mixed.
//! - [`journal`] (sans-IO): the host's record of the ops that define the
//!   room, to restore it at another relay.
//! - [`handle`]: the task and the app's [`RoomHandle`].
//!
//! ```no_run
//! # async fn demo(node: aura_node::Node, relay: aura_crypto::MemberId,
//! #     addr: std::net::SocketAddr) -> Result<(), aura_node::rooms::RoomsError> {
//! use aura_node::rooms::RoomSpec;
//! let room = node.create_room(relay, addr, RoomSpec::ticket("friday")).await?;
//! let ticket = room.ticket(3_600_000)?; // hand it to listeners
//! room.seat(0).await?;
//! room.capture(vec![0i16; 960])?; // 20 ms from the microphone
//! # let _ = ticket; Ok(())
//! # }
//! ```

mod admission;
pub mod client;
mod clock;
mod driver;
mod error;
mod event;
pub mod handle;
pub mod journal;
mod node;
pub mod voice;

use aura_crypto::MemberId;

pub use admission::ViewAdmission;
pub use client::RoomClient;
pub use error::RoomsError;
pub use event::RoomEvent;
pub use handle::RoomHandle;
pub use node::RoomSpec;

/// A member's role in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Created the room; holds its key.
    Host,
    /// Named by the host.
    Moderator,
    /// Holds a seat.
    Speaker,
    /// In the audience.
    Listener,
}

/// A member as our view of the room knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Who.
    pub member: MemberId,
    /// Role.
    pub role: Role,
    /// Seat held.
    pub seat: Option<u8>,
    /// Hand raised.
    pub hand: bool,
}
