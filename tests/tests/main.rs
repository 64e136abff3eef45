//! The crate's integration tests, one module per file, built as one test
//! binary: one link instead of one per file (each links the whole stack).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab;

mod gifts;
mod interop;
mod lan_mdns;
mod muxer_ping;
mod nat_flood;
mod nat_lab;
mod nat_nodes;
mod relay_discovery;
mod relay_token;
mod rooms;
mod rooms_cascade;
mod rooms_failover;
mod rooms_show;
mod rooms_sim;
mod rooms_vip;
