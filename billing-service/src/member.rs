//! A member's level and medals as the ledger signs them, and the offline
//! check a node or relay runs before showing them in a room: signature
//! under the pinned ledger key, the account it names, its lifetime and
//! format version. Needs no service code (`default-features = false`).
//!
//! ```
//! # use aura_billing::{ids::DeviceKey, member::{self, MemberStatement}, signed::Signed};
//! # let ledger = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
//! # let who = DeviceKey(ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
//! # let statement = Signed::sign(MemberStatement { v: 1, account: who.to_hex(), level: 3, xp: 2500,
//! #     medals: vec![], iat: 100, exp: 400 }, &ledger)?;
//! let s = member::verify(&statement, &ledger.verifying_key(), &who, 200)?;
//! assert_eq!(s.level, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::{
    ids::DeviceKey,
    signed::{Signed, Statement, VerifyError, CLOCK_SKEW_S},
};

/// Most medal kinds a statement lists (a longer one is refused).
pub const MAX_MEDAL_KINDS: usize = 32;

/// How many of one medal a member holds (`top_gifter_day` can repeat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedalCount {
    /// Medal name, e.g. `first_gift`.
    pub medal: String,
    /// Times granted.
    pub count: u32,
}

/// What the ledger asserts about a member's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatement {
    /// Format version (1).
    pub v: u8,
    /// The member's device key (hex).
    pub account: String,
    /// Level reached.
    pub level: u32,
    /// Experience.
    pub xp: i64,
    /// Medals held, by name.
    pub medals: Vec<MedalCount>,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
}

impl Statement for MemberStatement {
    const TAG: &'static [u8] = b"aura-member-statement/v1";
}

/// A signed member statement.
pub type SignedMemberStatement = Signed<MemberStatement>;

/// Verifies `statement` for `account` at `now_s` (unix seconds): signed by
/// `ledger` (the pinned service key), naming `account`, of format version
/// 1, issued no later than [`CLOCK_SKEW_S`] ahead, not expired, listing at
/// most [`MAX_MEDAL_KINDS`] medals. Returns the checked body.
pub fn verify<'a>(
    statement: &'a SignedMemberStatement,
    ledger: &VerifyingKey,
    account: &DeviceKey,
    now_s: i64,
) -> Result<&'a MemberStatement, VerifyError> {
    let s = statement.verify_signature(ledger)?;
    if s.v != 1 {
        return Err(VerifyError::Version(s.v));
    }
    if now_s >= s.exp || now_s.saturating_add(CLOCK_SKEW_S) < s.iat {
        return Err(VerifyError::Expired);
    }
    if s.account != account.to_hex() {
        return Err(VerifyError::WrongPeer);
    }
    if s.medals.len() > MAX_MEDAL_KINDS {
        return Err(VerifyError::TooLong);
    }
    Ok(s)
}
