//! UniFFI bindings over `aura-node` for mobile apps (Kotlin, Swift, Python).
//! A thin skin: every feature lives in the core crate.
