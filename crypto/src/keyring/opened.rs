//! What opening and sealing a frame with a sender key yields.

use crate::frame::FrameKind;
use crate::identity::MemberId;

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
