//! # aura-media
//!
//! The media transport that an Aura node and a community relay both speak,
//! and nothing about audio: sealed voice frames stay opaque bytes here.
//!
//! - [`tls`]: the ALPN and the ed25519 TLS identity: each side presents a
//!   self-signed certificate made from its ed25519 key; the verifiers learn
//!   (and a dialler pins) which member is at the other end.
//! - [`framing`]: one frame or report per QUIC datagram (or per
//!   unidirectional stream), at most [`MAX_FRAME`] bytes, told apart by
//!   their first byte.
//! - [`routing`] (sans-IO): a [`RoutingTable`] from room id to a target,
//!   deciding where an incoming datagram goes from its key-free header
//!   (room, sender, key id; or a report's room and author).
//! - [`report`] and [`inbox`] (sans-IO): receiver reports signed by their
//!   author, verified end to end by the talker ([`ReportInbox`]), so they
//!   stay authentic through a relay.
//! - [`level`]: a room voice frame's audio level, outside the encryption,
//!   for a relay's choice of the loudest seats.
//! - [`advert`] (sans-IO): where a relay's media forwarder listens, as
//!   its identify agent version says.
//! - [`control`] (sans-IO): what a member tells a relay's media
//!   forwarder (join or leave a room, present an entitlement token).
//! - [`room_control`] (sans-IO): the room control stream between a
//!   member and a relay (signed room ops, key envelopes, speaker keys, chat).
//! - [`endpoint`]: one quinn [`MediaEndpoint`] per process serving every
//!   room, demultiplexed by the routing table into one bounded queue per
//!   room.
//!
//! ```no_run
//! # async fn demo(me: aura_crypto::Identity, bob: aura_crypto::MemberId,
//! #     bob_addr: std::net::SocketAddr) -> Result<(), aura_media::MediaError> {
//! use aura_media::{Config, MediaEndpoint, RoomConfig};
//! let ep = MediaEndpoint::bind(&me, "0.0.0.0:0".parse().map_err(std::io::Error::other)?, Config::default())?;
//! let room = [7u8; 8]; // a group's room id
//! let mut incoming = ep.open_room(room, [me.member_id(), bob], RoomConfig::default())?;
//! ep.connect(bob, bob_addr).await?;
//! while let Some(datagram) = incoming.recv().await {
//!     let _ = (datagram.sender, datagram.header); // open or verify it
//! }
//! # Ok(())
//! # }
//! ```

pub mod advert;
pub mod control;
pub mod endpoint;
pub mod framing;
mod impair;
pub mod inbox;
pub mod level;
pub mod report;
pub mod room_control;
pub mod routing;
pub mod tls;

pub use control::{ControlError, RelayControl};
pub use endpoint::{Config, Incoming, MediaEndpoint, MediaError, RoomConfig, RoomCounters, Stats};
pub use framing::{classify, Carried, FramingError, MAX_FRAME};
pub use inbox::{InboxStats, ReportInbox};
pub use report::{
    ReceiverReport, ReportError, ReportHeader, ReportSigner, SignedReport, REPORT_LEN, REPORT_TAG,
};
pub use routing::{Header, Hop, RouteError, Routed, RoutingTable, TableError};
pub use tls::ALPN;

/// A room's id as in frame headers: the first 8 bytes of the group id.
pub type RoomId = [u8; 8];
