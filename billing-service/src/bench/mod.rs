//! The ledger benchmark (feature `bench`): not part of the service. Turned
//! on by `aura-examples`' `bench ledger`, by this crate's `ledger_bench`
//! example and by its tests.
//!
//! - [`ledger`]: the suite: concurrent gifts through an in-process service,
//!   figures as a [`ledger::Report`].
//! - [`loadgen`]: its phones, a lean gift client straight on a `TcpStream`.

pub mod ledger;
pub mod loadgen;
