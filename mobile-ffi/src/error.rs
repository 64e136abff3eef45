//! The one error enum at the boundary, mapped from [`aura_node::NodeError`].

use aura_node::{rooms::RoomsError, NodeError};

/// What went wrong in a call. Each variant carries the node's own message.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum AuraError {
    /// The node is not running (it was shut down, or its task stopped).
    #[error("the node is not running")]
    Closed,
    /// The configuration is invalid (bad TOML, unknown key).
    #[error("config: {reason}")]
    Config {
        /// What was wrong.
        reason: String,
    },
    /// The data dir, identity key file or local store failed.
    #[error("storage: {reason}")]
    Storage {
        /// What was wrong.
        reason: String,
    },
    /// The network could not be set up or a peer could not be dialed.
    #[error("network: {reason}")]
    Network {
        /// What was wrong.
        reason: String,
    },
    /// No group with this id on this node.
    #[error("unknown group: {reason}")]
    UnknownGroup {
        /// The id asked for.
        reason: String,
    },
    /// No such member in the group.
    #[error("unknown member: {reason}")]
    UnknownMember {
        /// The id asked for.
        reason: String,
    },
    /// The invite text is invalid, expired or forged.
    #[error("invite rejected: {reason}")]
    Invite {
        /// Why.
        reason: String,
    },
    /// Every peer asked refused the join or could not be reached.
    #[error("join failed: {reason}")]
    JoinRefused {
        /// Why.
        reason: String,
    },
    /// A roster, geofence or gift change was refused (e.g. not an admin).
    #[error("refused: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },
    /// We are no longer a member of the group (removed, or left).
    #[error("no longer a member of this group")]
    NotMember,
    /// An argument was invalid (bad id, position out of range...).
    #[error("invalid input: {reason}")]
    BadInput {
        /// What was wrong.
        reason: String,
    },
    /// Encryption or key delivery failed.
    #[error("crypto: {reason}")]
    Crypto {
        /// What failed.
        reason: String,
    },
    /// The billing ledger is not configured, unreachable, or refused.
    #[error("billing: {reason}")]
    Billing {
        /// What failed.
        reason: String,
    },
    /// A room ticket that does not parse.
    #[error("room ticket: {reason}")]
    Ticket {
        /// What was wrong.
        reason: String,
    },
    /// The room's relay has not welcomed us yet: wait for
    /// `AuraRoomEvent.Welcomed`.
    #[error("not welcomed into the room yet")]
    NotWelcomed,
    /// The room has stopped for this handle (left, disconnected, or the
    /// handle was dropped): join again for a new one.
    #[error("the room has stopped")]
    RoomClosed,
}

impl AuraError {
    /// A bad argument, named.
    pub(crate) fn bad_input(reason: impl Into<String>) -> Self {
        Self::BadInput {
            reason: reason.into(),
        }
    }
}

impl From<NodeError> for AuraError {
    fn from(e: NodeError) -> Self {
        let reason = e.to_string();
        match e {
            NodeError::Closed => Self::Closed,
            NodeError::Config(_) => Self::Config { reason },
            NodeError::KeyFile(_) | NodeError::Store(_) | NodeError::State(_) => {
                Self::Storage { reason }
            }
            NodeError::Network(_) => Self::Network { reason },
            NodeError::UnknownGroup(_) => Self::UnknownGroup { reason },
            NodeError::UnknownMember(_) => Self::UnknownMember { reason },
            NodeError::Invite(_) => Self::Invite { reason },
            NodeError::JoinRefused(_) => Self::JoinRefused { reason },
            NodeError::Roster(_) | NodeError::Geofence(_) | NodeError::Gift(_) => {
                Self::Refused { reason }
            }
            NodeError::NotMember => Self::NotMember,
            NodeError::BadInput(_) => Self::BadInput { reason },
            NodeError::Seal(_) | NodeError::Envelope(_) => Self::Crypto { reason },
            NodeError::Billing(_)
            | NodeError::BillingNotConfigured
            | NodeError::LedgerKeyMismatch { .. } => Self::Billing { reason },
        }
    }
}

impl From<RoomsError> for AuraError {
    fn from(e: RoomsError) -> Self {
        let reason = e.to_string();
        match e {
            RoomsError::BadInput(_) => Self::BadInput { reason },
            RoomsError::NotWelcomed => Self::NotWelcomed,
            RoomsError::Room(_) => Self::Refused { reason },
            RoomsError::Seal(_) | RoomsError::Open(_) => Self::Crypto { reason },
            RoomsError::Network(_) => Self::Network { reason },
            RoomsError::Ticket(_) => Self::Ticket { reason },
            RoomsError::Closed => Self::RoomClosed,
            RoomsError::Gift(_) | RoomsError::Ledger(_) => Self::Billing { reason },
        }
    }
}
