//! The crate's integration tests, one module per file, built as one test
//! binary: one link instead of one per file (each links the whole stack).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod access;
mod access_libp2p;
mod circuit;
mod dht;
mod flood;
mod forwarder;
mod limits;
