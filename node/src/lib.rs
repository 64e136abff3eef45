//! The Aura peer: a libp2p group mesh carrying end-to-end encrypted location,
//! chat and voice, with a local store and an async API that apps embed.
//!
//! # Example
//!
//! ```no_run
//! use aura_node::{location::Position, Event, Node};
//!
//! # async fn demo() -> Result<(), aura_node::NodeError> {
//! let node = Node::builder().data_dir("/tmp/aura-a").start().await?;
//! let group = node.create_group("hikers").await?;
//! let invite = node.invite(group, 5, 24 * 3_600_000).await?; // share this text
//! let mut events = node.events();
//! node.share_location(group, true).await?;
//! node.update_position(Position::new(45.9, 6.87).ok_or(aura_node::NodeError::BadInput("position".into()))?).await?;
//! while let Some(event) = events.next().await {
//!     if let Event::Location { member, fix, .. } = event {
//!         tracing::info!(%member, lat = fix.pos.lat, lon = fix.pos.lon, "moved");
//!     }
//! }
//! # let _ = invite;
//! node.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod gift;
pub mod group_core;
pub mod keyfile;
pub mod link;
pub mod location;
pub mod media;
pub mod net;
pub mod people;
pub mod rooms;
pub mod store;
pub mod voice;
pub mod voice_api;
#[cfg(feature = "web")]
pub mod web;
pub mod wire;

mod api;
mod billing;
mod command;
mod error;
mod events;
mod ledger_api;
mod paths;
mod people_api;
mod relay_pass;
mod stats;
mod task;

pub use api::{Builder, Node};
pub use error::NodeError;
pub use events::{Event, EventListener, EventStream, ListenerHandle};
pub use paths::Path;
pub use stats::NodeStats;
