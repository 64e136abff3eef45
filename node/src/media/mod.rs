//! The media plane: sealed voice frames carried as QUIC datagrams over quinn.
//!
//! - [`tls`]: ed25519-keyed certificates and verifiers (who is at the other end).
//! - [`endpoint`]: the quinn endpoint (datagrams, per-frame stream fallback).
//! - [`room`]: sans-IO sealing, key-free routing and opening of voice frames.
//! - `engine`: the async task behind [`crate::Node::join_voice`].
//!
//! Frames stay opaque to the transport and are routed by the 19-byte
//! [`aura_crypto::FrameHeader`], so a relay can forward them without keys.

pub mod endpoint;
pub(crate) mod engine;
pub mod room;
pub mod tls;

pub use endpoint::{Acl, Config, Incoming, MediaEndpoint, MediaError};
pub use room::{MediaRoom, RoomError, RoomStats};
