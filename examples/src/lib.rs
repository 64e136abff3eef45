//! Shared code for Aura's demo, voice lab and system benchmarks.
#![allow(missing_docs)]

pub mod bench;
pub mod demo;
