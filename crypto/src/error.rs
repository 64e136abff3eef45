//! Typed errors, one enum per operation family.

use thiserror::Error;

use crate::roster::hash::OpHash;

/// Errors about identities and keys.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// The bytes are not a valid ed25519 public key.
    #[error("invalid ed25519 public key")]
    InvalidPublicKey,
}

/// Errors from proposing, applying or loading roster operations.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RosterError {
    /// The op's signature does not verify under its author's key.
    #[error("roster op signature does not verify")]
    BadSignature,
    /// Some parents are unknown: buffer the op and ask a peer for them.
    #[error("roster op names {} unknown parent(s)", .0.len())]
    MissingParents(Vec<OpHash>),
    /// The author is not allowed to do this in the op's causal history.
    #[error("author not authorised: {0}")]
    Unauthorised(&'static str),
    /// The op conflicts with the current state (e.g. adding a member twice).
    #[error("conflicting op: {0}")]
    Conflict(&'static str),
    /// The op belongs to another group.
    #[error("roster op belongs to another group")]
    WrongGroup,
    /// The op is structurally invalid (e.g. no parents, unsorted parents, two creates).
    #[error("malformed roster op: {0}")]
    Malformed(&'static str),
    /// Encoded op could not be decoded.
    #[error("roster op could not be decoded")]
    Decode,
    /// Encoded op is larger than [`crate::roster::MAX_OP_BYTES`].
    #[error("roster op too large")]
    TooLarge,
    /// The new member's short id collides with a current member's.
    #[error("short id collides with a current member")]
    ShortIdCollision,
    /// The roster has reached its op or member limit.
    #[error("roster limit reached")]
    LimitReached,
    /// `from_ops` was given no create op.
    #[error("no create op")]
    NoCreate,
    /// The author is neither the creator nor named by any add in the log
    /// (yet): the op is not stored.
    #[error("roster op author is unknown to the group")]
    UnknownAuthor,
}

/// Errors from building, parsing or checking an invite.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InviteError {
    /// The text does not start with `aura1`.
    #[error("not an Aura invite (wrong prefix)")]
    WrongPrefix,
    /// The text after the prefix is not base32.
    #[error("invite is not valid base32")]
    BadEncoding,
    /// The invite ends early (cut off when copied or scanned).
    #[error("invite is truncated")]
    Truncated,
    /// The invite decodes but its fields are malformed (or it has trailing bytes).
    #[error("invite is malformed")]
    Malformed,
    /// The invite is longer than allowed.
    #[error("invite is too long")]
    TooLong,
    /// The invite's expiry time has passed.
    #[error("invite expired")]
    Expired,
    /// The signature does not verify under the named inviter (forged or altered).
    #[error("invite signature does not verify (forged or altered)")]
    BadSignature,
    /// The inviter is not currently owner or admin of the group.
    #[error("inviter is not an admin of the group")]
    InviterNotAdmin,
    /// The invite is for another group.
    #[error("invite is for another group")]
    WrongGroup,
    /// The invite has been used `max_uses` times.
    #[error("invite used up")]
    UsedUp,
}

/// Errors from sealing or opening a key envelope.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Wrong length for the fixed envelope layout.
    #[error("envelope has wrong length {0}")]
    BadLength(usize),
    /// Unknown envelope version.
    #[error("unknown envelope version {0}")]
    BadVersion(u8),
    /// The envelope's signature does not verify under its sender.
    #[error("envelope signature does not verify")]
    BadSignature,
    /// The envelope is addressed to someone else.
    #[error("envelope is for another recipient")]
    WrongRecipient,
    /// The envelope is for another group.
    #[error("envelope is for another group")]
    WrongGroup,
    /// The sender is not a current member.
    #[error("envelope sender is not a member")]
    NotAMember,
    /// Decryption failed.
    #[error("envelope does not decrypt")]
    Decrypt,
    /// A public key in the envelope is invalid or low-order.
    #[error("invalid key in envelope")]
    BadKey,
    /// The recipient is not a current member.
    #[error("recipient is not a member")]
    RecipientNotMember,
    /// The roster was restored and no member has confirmed it yet: a key
    /// sealed now could go to a member removed while we were away.
    #[error("roster not yet confirmed by a member since the restart")]
    RosterUnconfirmed,
    /// All 65 536 sender key epochs of this identity in this group are used.
    #[error("sender key epochs exhausted")]
    EpochExhausted,
}

/// Errors from parsing a frame header (no key needed).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than a header plus a tag.
    #[error("frame truncated")]
    Truncated,
    /// Unsupported version nibble.
    #[error("unsupported frame version {0}")]
    BadVersion(u8),
    /// Unknown kind nibble.
    #[error("unknown frame kind {0}")]
    BadKind(u8),
    /// Longer than [`crate::frame::MAX_FRAME_LEN`].
    #[error("frame too large")]
    TooLarge,
}

/// Errors from sealing a frame.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Payload larger than [`crate::frame::MAX_PAYLOAD_LEN`].
    #[error("payload too large")]
    PayloadTooLarge,
    /// The sender key's counter space is exhausted: call `rotate` first.
    #[error("sender key exhausted, rotate first")]
    RotationRequired,
    /// `VoiceSig` frames are produced by `seal_voice`, not by hand.
    #[error("this kind cannot be sealed directly")]
    KindNotSealable,
    /// This identity is no longer a member of the group.
    #[error("not a member of the group")]
    NotAMember,
    /// AEAD failure (should not happen).
    #[error("encryption failed")]
    Encrypt,
}

/// Errors from opening a frame.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Header parse failure.
    #[error("bad header: {0}")]
    Header(#[from] FrameError),
    /// Room id is not this group's.
    #[error("frame is for another group")]
    UnknownGroup,
    /// No current member has this short id.
    #[error("unknown sender")]
    UnknownSender,
    /// Our own frame echoed back.
    #[error("own frame")]
    OwnFrame,
    /// No key for this sender epoch (not delivered yet, or dropped).
    #[error("unknown epoch for sender")]
    UnknownEpoch,
    /// Counter too far ahead of what we know.
    #[error("counter too far ahead")]
    TooFarAhead,
    /// AEAD failed: wrong key or altered frame.
    #[error("frame does not decrypt")]
    Decrypt,
    /// Duplicate counter.
    #[error("replayed frame")]
    Replay,
    /// Counter older than the replay window or the retained keys.
    #[error("frame too old")]
    TooOld,
    /// Inner ed25519 signature (or batch signature) invalid.
    #[error("sender signature does not verify")]
    BadSignature,
    /// Decrypted plaintext is malformed.
    #[error("malformed plaintext")]
    Malformed,
    /// Too many voice frames of this sender since its last verified batch
    /// signature: further ones wait for the next batch.
    #[error("voice frame refused until the sender's next batch signature")]
    AwaitingSignature,
}

/// Errors from exporting or importing a session.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The bytes do not decode.
    #[error("session state does not decode")]
    Decode,
    /// The roster in the state does not validate.
    #[error("roster in state invalid: {0}")]
    Roster(#[from] RosterError),
    /// Encoding failed.
    #[error("session state does not encode")]
    Encode,
}
