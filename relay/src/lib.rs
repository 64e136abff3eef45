//! # aura-relay
//!
//! The Aura community relay: NAT traversal (libp2p circuit relay v2,
//! AutoNAT), DHT bootstrap (Kademlia in server mode), and the media
//! forwarder that carries sealed voice between members that cannot reach
//! each other. It never holds a group key: it routes on the key-free frame
//! header only.
//!
//! - [`forward`] (sans-IO): the forwarder's table: sessions, joined rooms,
//!   where each datagram goes, token buckets, limits.
//! - [`selection`] (sans-IO): which seats of a room are forwarded, the
//!   loudest few by the level their frames carry.
//! - [`rooms`] (sans-IO): the room control plane: signed room ops checked
//!   and sequenced, delivered to whom they concern; forwarding follows seats.
//! - [`access`] (sans-IO): everyone, an allow-list, or entitlement tokens
//!   checked offline against the ledger's pinned key.
//! - [`config`]: the operator's TOML config, every field defaulted.
//! - `server` (feature `server`): the running relay; tests start it
//!   in-process with [`server::Server::spawn`].

pub mod access;
pub mod config;
pub mod forward;
pub mod keyfile;
pub mod per_ip;
pub mod rooms;
pub mod selection;
#[cfg(feature = "server")]
pub mod server;

pub use access::{Access, AccessError, Admission};
pub use forward::{DropReason, Forwarder, Limits, Outcome, Refusal};
