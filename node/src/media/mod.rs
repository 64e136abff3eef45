//! The node's voice over the media plane. The transport itself (TLS
//! identity, framing, routing, signed receiver reports, the quinn endpoint)
//! is `aura-media`, shared with the relay; what stays here is about voice:
//!
//! - [`room`]: sans-IO sealing and opening of voice frames, one jitter
//!   buffer per talking member.
//! - `engine`: the async task behind [`crate::Node::join_voice`], on the
//!   node's one [`aura_media::MediaEndpoint`].
//! - `feed`: what the node task tells the engine (addresses, positions,
//!   roster changes, relays and paths) on a typed, bounded channel.
//! - `via_relay`: voice through a relay's media forwarder for members
//!   with no direct media path.
//!
//! Frames stay opaque to the transport and are routed by the 19-byte
//! [`aura_crypto::FrameHeader`], so a relay can forward them without keys.

pub(crate) mod engine;
pub(crate) mod feed;
pub mod room;
pub(crate) mod settings;
pub(crate) mod via_relay;

pub use room::{MediaRoom, RoomError, RoomStats};
