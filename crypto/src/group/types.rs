//! Public result types of `GroupSession` operations.

use crate::envelope::KeyEnvelope;
use crate::frame::FrameKind;
use crate::identity::MemberId;
use crate::roster::Applied;

/// How far a frame's sender is authenticated at the moment it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticity {
    /// The sender's ed25519 signature verified.
    Verified,
    /// Handed over by the sender itself on a connection that authenticated
    /// its key (see [`crate::GroupSession::open_from`]); its signature, which
    /// others verify when the frame is forwarded, was not checked.
    Connection,
    /// Voice: decrypted under the sender's key; the batch signature will
    /// confirm or refute it (see [`crate::GroupSession::take_auth_reports`]).
    Pending,
}

/// An opened frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Sender.
    pub sender: MemberId,
    /// Kind.
    pub kind: FrameKind,
    /// Sender key epoch.
    pub epoch: u16,
    /// Counter.
    pub counter: u32,
    /// Payload (empty for `VoiceSig`).
    pub payload: Vec<u8>,
    /// Sender authentication status.
    pub authenticity: Authenticity,
}

/// A sealed voice frame, plus the batch-signature frame due after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedVoice {
    /// The voice frame.
    pub frame: Vec<u8>,
    /// A `VoiceSig` frame to send right after it, every K frames.
    pub sig_frame: Option<Vec<u8>>,
}

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
