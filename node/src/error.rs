//! The node's error type: each variant says what was wrong (the CLI adds
//! what to do about it).

use aura_crypto::{EnvelopeError, InviteError, RosterError, SealError, StateError};

use crate::{config::ConfigError, gift::GiftError, keyfile::KeyFileError, store::StoreError};

/// Errors of the node API.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node task has stopped (after `shutdown()` or a fatal error).
    #[error("the node is not running (it was shut down)")]
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
    #[error("unknown group {0}")]
    UnknownGroup(String),
    /// No such member in the group.
    #[error("{0} is not a member of this group")]
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
    #[error("no longer a member of this group (removed, or left)")]
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
    /// No ledger is configured (`billing_url`).
    #[error("no billing ledger configured")]
    BillingNotConfigured,
    /// The ledger at `url` signs with another key than the pinned
    /// `billing_service_key`: the wrong ledger, or a misconfiguration.
    #[error("the ledger at {url} signs with key {announced}, not the pinned billing service key")]
    LedgerKeyMismatch {
        /// The ledger's address.
        url: String,
        /// The key it announced (hex).
        announced: String,
    },
}
