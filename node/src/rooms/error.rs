//! Why a room call failed.

use aura_crypto::room::RoomError;
use aura_crypto::{OpenError, SealError};
use thiserror::Error;

/// A room call or message that failed.
#[derive(Debug, Error)]
pub enum RoomsError {
    /// Input that makes no sense here.
    #[error("bad input: {0}")]
    BadInput(&'static str),
    /// Nothing can be done before the relay's welcome.
    #[error("not welcomed into the room yet")]
    NotWelcomed,
    /// The room model or its keys refused it.
    #[error("room: {0}")]
    Room(#[from] RoomError),
    /// Our voice could not be sealed (not seated, no key).
    #[error("seal: {0}")]
    Seal(#[from] SealError),
    /// A frame that does not open.
    #[error("open: {0}")]
    Open(#[from] OpenError),
    /// The relay or the connection to it.
    #[error("network: {0}")]
    Network(String),
    /// A ticket text that does not parse.
    #[error("ticket: {0}")]
    Ticket(String),
    /// The room's task stopped.
    #[error("the room has stopped")]
    Closed,
    /// A gift receipt that does not check out (or cannot be checked).
    #[error("gift: {0}")]
    Gift(#[from] crate::gift::GiftError),
    /// The billing ledger (sending a gift).
    #[error("ledger: {0}")]
    Ledger(String),
}
