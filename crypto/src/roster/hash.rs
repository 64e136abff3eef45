//! An op's identity: the SHA-256 of its canonical bytes (computed in `op.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// SHA-256 hash identifying an op.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpHash(pub [u8; 32]);

impl fmt::Debug for OpHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpHash({})", hex::encode(&self.0[..6]))
    }
}
