//! Aura's group security core, sans-IO: no sockets, no async runtime, no clock
//! of its own (time is always passed in).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
