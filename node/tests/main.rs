//! The crate's integration tests, one module per file, built as one test
//! binary: one link instead of one per file (each links the whole stack).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod media_support;
mod web_support;

mod adversarial;
mod cli;
mod cli_billing;
mod crash;
mod discovery;
mod gossip_repair;
mod location_attacks;
mod location_store;
mod media_forgery;
mod media_security;
mod media_voice;
mod mesh;
mod paths;
mod people;
mod people_voice;
mod phone_away;
mod phone_common;
mod phone_life;
mod relay;
mod replay_floors;
mod replay_restart;
mod restart;
mod roster_sync;
mod stale_links;
mod voice_adapt;
mod voice_announce;
mod voice_jitter;
mod voice_jitter_ticks;
mod voice_node;
mod voice_pipeline;
mod voice_positional;
mod voice_shared_endpoint;
#[cfg(feature = "cli")]
mod web_page;
