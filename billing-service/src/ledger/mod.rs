//! The double-entry ledger, TigerBeetle's model in small: accounts with
//! pending/posted debits and credits, transfers with client-chosen ids,
//! linked chains (all or nothing) and pending holds (post, void, expire).
//!
//! [`engine`] holds the rules as a sans-IO state machine; storage backends load
//! the state a batch needs, run the engine and persist what it produced.
use serde::{Deserialize, Serialize};

use crate::ids::Currency;

pub mod engine;

/// Reason codes stored with transfers.
pub mod code {
    /// Coins spent or diamonds earned by a gift.
    pub const GIFT: i32 = 1;
    /// Coins bought through the payment provider.
    pub const PURCHASE: i32 = 2;
    /// A daily reward.
    pub const REWARD: i32 = 3;
    /// An admin movement.
    pub const ADMIN: i32 = 4;
    /// A medal's reward (an award: see [`is_award`]).
    pub const MEDAL: i32 = 5;
    /// A referral's reward (an award: see [`is_award`]).
    pub const REFERRAL: i32 = 6;

    /// Awards are granted once per id and ride along in the chain of the
    /// event that earned them: in a chain that also holds other transfers,
    /// an award whose id exists, or that the paying account cannot cover,
    /// is left out and the rest of the chain still commits. A chain of
    /// awards alone follows the usual all-or-nothing rules.
    /// An award may move 0 (a medal whose reward is an item only).
    pub fn is_award(code: i32) -> bool {
        matches!(code, MEDAL | REFERRAL)
    }
}

/// What a transfer does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferKind {
    /// Moves `amount` now.
    Single,
    /// Reserves `amount`; it expires after `timeout_s` seconds (0 = never).
    Pending {
        /// Seconds until the hold expires.
        timeout_s: i64,
    },
    /// Posts a pending transfer (`amount` 0 = its full amount).
    PostPending {
        /// The pending transfer.
        pending_id: String,
    },
    /// Voids a pending transfer.
    VoidPending {
        /// The pending transfer.
        pending_id: String,
    },
}

impl TransferKind {
    /// Number stored in the database.
    pub fn as_i32(&self) -> i32 {
        match self {
            TransferKind::Single => 0,
            TransferKind::Pending { .. } => 1,
            TransferKind::PostPending { .. } => 2,
            TransferKind::VoidPending { .. } => 3,
        }
    }

    /// The referenced pending transfer, if any.
    pub fn pending_id(&self) -> Option<&str> {
        match self {
            TransferKind::PostPending { pending_id } | TransferKind::VoidPending { pending_id } => {
                Some(pending_id)
            }
            _ => None,
        }
    }
}

/// A transfer as requested. For post/void the accounts and currency may be
/// left empty: they are taken from the pending transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Client-chosen, globally unique id.
    pub id: String,
    /// Account debited.
    pub debit_account: String,
    /// Account credited.
    pub credit_account: String,
    /// Amount in the smallest unit, > 0 (0 allowed only for post = full amount).
    pub amount: i64,
    /// Currency of both accounts.
    pub currency: Currency,
    /// Single, pending, post or void.
    pub kind: TransferKind,
    /// Reason code, see [`code`].
    pub code: i32,
    /// Opaque JSON the domain stores with the transfer.
    pub user_data: String,
}

/// State of a pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingState {
    /// Not a pending transfer.
    None,
    /// Holding funds.
    Pending,
    /// Posted.
    Posted,
    /// Voided.
    Voided,
    /// Expired (voided by timeout).
    Expired,
}

impl PendingState {
    /// Number stored in the database.
    pub fn as_i32(self) -> i32 {
        match self {
            PendingState::None => 0,
            PendingState::Pending => 1,
            PendingState::Posted => 2,
            PendingState::Voided => 3,
            PendingState::Expired => 4,
        }
    }

    /// From the stored number.
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => PendingState::Pending,
            2 => PendingState::Posted,
            3 => PendingState::Voided,
            4 => PendingState::Expired,
            _ => PendingState::None,
        }
    }
}

/// A committed transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTransfer {
    /// As requested (accounts filled in for post/void).
    pub transfer: Transfer,
    /// Commit time, unix microseconds.
    pub ts_us: i64,
    /// For pending transfers: when the hold expires (unix µs), 0 = never.
    pub expires_at_us: i64,
    /// For pending transfers: their state.
    pub pending_state: PendingState,
}

/// An account with TigerBeetle's four balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `u:<key>:<currency>` or `p:<name>:<currency>`.
    pub id: String,
    /// Currency.
    pub currency: Currency,
    /// Debits may not exceed credits (user wallets, the rewards pool).
    pub no_overdraft: bool,
    /// Reserved by pending transfers, debit side.
    pub debits_pending: i64,
    /// Posted debits.
    pub debits_posted: i64,
    /// Reserved by pending transfers, credit side.
    pub credits_pending: i64,
    /// Posted credits.
    pub credits_posted: i64,
}

impl Account {
    /// Spendable balance: posted credits minus posted and pending debits.
    pub fn available(&self) -> i64 {
        self.credits_posted - self.debits_posted - self.debits_pending
    }
}

/// Why a transfer (and with it its whole chain) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferError {
    /// The id is already used by a transfer with other fields.
    #[error("id exists with different fields")]
    ExistsWithDifferentFields,
    /// Some transfers of the chain exist and others do not.
    #[error("chain partly exists")]
    ChainPartlyExists,
    /// The debit account would go below zero.
    #[error("insufficient funds")]
    InsufficientFunds,
    /// An account id is malformed.
    #[error("bad account id")]
    BadAccount,
    /// The id is malformed.
    #[error("bad transfer id")]
    BadId,
    /// An account's currency differs from the transfer's.
    #[error("currency mismatch")]
    CurrencyMismatch,
    /// Debit and credit are the same account.
    #[error("same account on both sides")]
    SameAccount,
    /// Amount is zero or negative.
    #[error("amount must be positive")]
    BadAmount,
    /// The referenced pending transfer does not exist.
    #[error("pending transfer not found")]
    PendingNotFound,
    /// The referenced pending transfer is already posted, voided or expired.
    #[error("pending transfer already resolved")]
    PendingResolved,
    /// The referenced pending transfer expired.
    #[error("pending transfer expired")]
    PendingExpired,
    /// Posting more than was reserved.
    #[error("amount exceeds pending amount")]
    ExceedsPending,
    /// A balance would overflow.
    #[error("overflow")]
    Overflow,
    /// Another transfer of the chain failed.
    #[error("linked transfer failed")]
    LinkedEventFailed,
}

/// The outcome of one chain of linked transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainOutcome {
    /// Committed now.
    Created(Vec<StoredTransfer>),
    /// Committed before with the same fields: the original result.
    Exists(Vec<StoredTransfer>),
    /// Nothing moved: transfer `index` failed with `error`.
    Failed {
        /// Index of the failing transfer in the chain.
        index: usize,
        /// Why.
        error: TransferError,
    },
}

impl ChainOutcome {
    /// The committed transfers (created or pre-existing).
    pub fn transfers(&self) -> Option<&[StoredTransfer]> {
        match self {
            ChainOutcome::Created(t) | ChainOutcome::Exists(t) => Some(t),
            ChainOutcome::Failed { .. } => None,
        }
    }
}

/// Debit/credit totals for one currency, from the invariant check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotals {
    /// Currency.
    pub currency: Currency,
    /// Sum of posted debits over accounts.
    pub debits_posted: i64,
    /// Sum of posted credits over accounts.
    pub credits_posted: i64,
    /// Sum of pending debits over accounts.
    pub debits_pending: i64,
    /// Sum of pending credits over accounts.
    pub credits_pending: i64,
}

/// The result of checking the ledger's invariants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvariantReport {
    /// Everything holds.
    pub ok: bool,
    /// Per-currency totals.
    pub totals: Vec<CurrencyTotals>,
    /// Number of transfers.
    pub transfers: i64,
    /// Accounts whose balances differ from the sum of their transfers.
    pub mismatched_accounts: Vec<String>,
    /// No-overdraft accounts below zero.
    pub overdrawn_accounts: Vec<String>,
}
