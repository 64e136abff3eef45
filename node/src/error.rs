//! The node's error type: each variant says what was wrong and what to do.

use aura_crypto::{EnvelopeError, InviteError, RosterError, SealError, StateError};

use crate::{config::ConfigError, gift::GiftError, keyfile::KeyFileError, store::StoreError};

/// Errors of the node API.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node task has stopped (after `shutdown()` or a fatal error).
    #[error("the node is not running (it was shut down); start it again")]
    Closed,
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Identity key file problem.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// Local store problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// libp2p setup or dialing failed.
    #[error("network: {0}")]
    Network(String),
    /// No such group on this node.
    #[error("unknown group {0}; list your groups with `aura groups`")]
    UnknownGroup(String),
    /// No such member in the group.
    #[error("{0} is not a member of this group; check `aura members GROUP`")]
    UnknownMember(String),
    /// The invite is invalid (wrong prefix, bad encoding, expired, forged...).
    #[error("invite rejected: {0}")]
    Invite(#[from] InviteError),
    /// Every peer asked refused the join or could not be reached.
    #[error("join failed: {0}")]
    JoinRefused(String),
    /// A roster change was refused (e.g. not an admin).
    #[error("roster change refused: {0}")]
    Roster(#[from] RosterError),
    /// Sealing failed.
    #[error("could not encrypt: {0}")]
    Seal(#[from] SealError),
    /// Key delivery failed.
    #[error("key delivery: {0}")]
    Envelope(#[from] EnvelopeError),
    /// Group state could not be saved or loaded.
    #[error("group state: {0}")]
    State(#[from] StateError),
    /// We are no longer a member of the group.
    #[error("you were removed from this group or left it; ask an admin for a new invite")]
    NotMember,
    /// Bad argument.
    #[error("invalid input: {0}")]
    BadInput(String),
    /// A geofence change was refused (not an admin, invalid fence, too many).
    #[error("geofence refused: {0}")]
    Geofence(#[from] crate::location::FenceError),
    /// A gift receipt was refused (bad signature, wrong room or sender...).
    #[error("gift: {0}")]
    Gift(#[from] GiftError),
    /// The billing ledger could not be reached or refused the request.
    #[error("billing: {0}")]
    Billing(#[from] aura_billing::client::ClientError),
}
