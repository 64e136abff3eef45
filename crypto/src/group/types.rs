//! Public result types of `GroupSession` operations.

use crate::envelope::KeyEnvelope;
use crate::identity::MemberId;
use crate::roster::Applied;

/// Result of a rotation.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// New epoch.
    pub epoch: u16,
    /// One envelope per other current member.
    pub envelopes: Vec<KeyEnvelope>,
    /// Batch signature closing the old epoch's voice frames, if any.
    pub final_sig_frame: Option<Vec<u8>>,
}

/// How the membership changed after an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    /// Whether the op was new.
    pub applied: Applied,
    /// Members now present who were not before: send them `envelope_for`.
    pub added: Vec<MemberId>,
    /// Members gone: their keys were dropped and a rotation is due.
    pub removed: Vec<MemberId>,
}

/// Counters of rejected input (for logs and metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames opened.
    pub opened: u64,
    /// Frames rejected, any reason.
    pub rejected: u64,
    /// Of which replays.
    pub replays: u64,
    /// Of which decrypt failures.
    pub decrypt_failures: u64,
    /// Of which bad signatures.
    pub bad_signatures: u64,
    /// Envelopes refused.
    pub envelopes_refused: u64,
    /// Auth reports dropped because the queue was full.
    pub reports_dropped: u64,
}
