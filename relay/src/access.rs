//! Who may use the relay (sans-IO): everyone, an allow-list of members, or
//! members holding a valid entitlement token from the billing ledger,
//! checked offline against the ledger's pinned key with `aura-billing`'s
//! own verifier.

use std::collections::HashSet;

use aura_billing::entitlement;
use aura_billing::ids::DeviceKey;
use aura_billing::signed::{EntitlementToken, VerifyError};
use aura_crypto::MemberId;
use ed25519_dalek::VerifyingKey;
use thiserror::Error;

/// The access policy.
#[derive(Clone, Debug)]
pub enum Access {
    /// Anyone may reserve, relay and forward.
    Everyone,
    /// Only these members.
    AllowList(HashSet<MemberId>),
    /// Members that present a valid entitlement token.
    Token {
        /// The ledger's signing key, pinned in the relay's config.
        ledger: VerifyingKey,
        /// A capability the token must allow; `None`: any valid token.
        capability: Option<String>,
    },
}

/// What a member may do on connecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Use the relay.
    Open,
    /// Present a token first.
    NeedsToken,
}

/// Why access was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AccessError {
    /// Not on the allow-list.
    #[error("member is not on the allow-list")]
    NotAllowed,
    /// A token was presented to a relay that takes none.
    #[error("this relay does not take tokens")]
    NoTokens,
    /// The token is not the ledger's JSON.
    #[error("undecodable token")]
    Decode,
    /// The token does not verify.
    #[error("token refused: {0}")]
    Token(#[from] VerifyError),
}

impl Access {
    /// What `member` may do on connecting.
    pub fn on_connect(&self, member: &MemberId) -> Result<Admission, AccessError> {
        match self {
            Self::Everyone => Ok(Admission::Open),
            Self::AllowList(l) if l.contains(member) => Ok(Admission::Open),
            Self::AllowList(_) => Err(AccessError::NotAllowed),
            Self::Token { .. } => Ok(Admission::NeedsToken),
        }
    }

    /// Checks a token `member` presented at `now_s` (unix seconds); returns
    /// its expiry (unix seconds).
    pub fn check_token(
        &self,
        member: &MemberId,
        token: &[u8],
        now_s: i64,
    ) -> Result<i64, AccessError> {
        let Self::Token { ledger, capability } = self else {
            return Err(AccessError::NoTokens);
        };
        let token: EntitlementToken =
            serde_json::from_slice(token).map_err(|_| AccessError::Decode)?;
        let account = DeviceKey(member.0);
        let e = match capability {
            Some(c) => entitlement::verify(&token, ledger, &account, now_s, c)?,
            None => {
                let e = token.verify_for(ledger, &account, now_s)?;
                if e.v != 1 {
                    return Err(VerifyError::Version(e.v).into());
                }
                if account.peer_id().as_deref() != Some(e.peer_id.as_str()) {
                    return Err(VerifyError::WrongPeer.into());
                }
                e
            }
        };
        Ok(e.exp)
    }
}
