//! Helpers shared by Aura's cross-crate integration tests.
