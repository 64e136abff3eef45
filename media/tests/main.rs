//! The crate's integration tests, one module per file, built as one test
//! binary: one link instead of one per file (each links the whole stack).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod report_attacks;
mod shared_endpoint;
