//! The crate's integration tests, one module per file, built as one test
//! binary: one link instead of one per file (each links the whole stack).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod adversarial;
mod invite;
mod key_envelopes;
mod props;
mod room;
mod room_keys;
mod roster;
mod roster_attacks;
mod roster_props;
mod roster_restore;
mod roster_scale;
mod session;
mod vectors;
mod voice_forgery;
