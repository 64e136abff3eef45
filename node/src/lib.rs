//! The Aura peer: a libp2p group mesh carrying end-to-end encrypted location,
//! chat and voice, with a local store and an async API that apps embed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod media;
pub mod voice;
