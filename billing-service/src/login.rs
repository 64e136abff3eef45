//! The login challenge, read the same way by the service and the client.
//!
//! The service hands out `aura-billing-login/v1:<account>:<expiry>:<nonce>:<tag>`
//! (64 hex digits of the account's key, decimal unix seconds, 32 hex digits,
//! 64 hex digits of the service's MAC). The device signs [`signed_message`],
//! never the server's text as such: the message starts with a tag of the
//! client's choosing, so the device key (also the node's libp2p identity)
//! cannot be made to sign anything else through the login endpoint.
use crate::ids::DeviceKey;

/// First field of every challenge.
pub const CHALLENGE_PREFIX: &str = "aura-billing-login/v1";

/// What the device prepends to the challenge before signing it.
pub const SIGNATURE_CONTEXT: &[u8] = b"aura-billing-login-signature/v1\n";

/// Longest well-formed challenge, in bytes.
pub const MAX_CHALLENGE_LEN: usize = CHALLENGE_PREFIX.len() + 4 + 64 + 19 + 32 + 64;

/// Why a challenge was refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    /// Not `prefix:account:expiry:nonce:tag` with fields of the right shape.
    #[error("malformed login challenge")]
    Malformed,
    /// The challenge names another account than the one logging in.
    #[error("login challenge names another account")]
    WrongAccount,
}

/// A challenge whose shape was checked; its fields borrow the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// The account's key (64 lower-case hex digits).
    pub account: &'a str,
    /// The expiry as written (decimal unix seconds).
    pub expires_at: &'a str,
    /// The nonce (32 lower-case hex digits).
    pub nonce: &'a str,
    /// The service's MAC (64 lower-case hex digits).
    pub tag: &'a str,
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl<'a> Challenge<'a> {
    /// Checks the shape of `text` (not the MAC, which only the service can).
    pub fn parse(text: &'a str) -> Result<Self, ChallengeError> {
        if text.len() > MAX_CHALLENGE_LEN {
            return Err(ChallengeError::Malformed);
        }
        let mut it = text.split(':');
        let (Some(prefix), Some(account), Some(expires_at), Some(nonce), Some(tag), None) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return Err(ChallengeError::Malformed);
        };
        let digits = |s: &str| {
            (1..=19).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_digit())
                && s.parse::<i64>().is_ok()
        };
        if prefix != CHALLENGE_PREFIX
            || !lower_hex(account, 64)
            || !digits(expires_at)
            || !lower_hex(nonce, 32)
            || !lower_hex(tag, 64)
        {
            return Err(ChallengeError::Malformed);
        }
        Ok(Challenge {
            account,
            expires_at,
            nonce,
            tag,
        })
    }

    /// Checks the shape and that the challenge names `account`.
    pub fn parse_for(text: &'a str, account: &DeviceKey) -> Result<Self, ChallengeError> {
        let c = Self::parse(text)?;
        if c.account != account.to_hex() {
            return Err(ChallengeError::WrongAccount);
        }
        Ok(c)
    }

    /// The expiry in unix seconds.
    pub fn expiry(&self) -> i64 {
        // `parse` checked that it fits.
        self.expires_at.parse().unwrap_or(0)
    }
}

/// The bytes the device signs for `challenge`: [`SIGNATURE_CONTEXT`], then
/// the challenge text.
pub fn signed_message(challenge: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_CONTEXT.len() + challenge.len());
    m.extend_from_slice(SIGNATURE_CONTEXT);
    m.extend_from_slice(challenge.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(account: &str) -> String {
        format!(
            "{CHALLENGE_PREFIX}:{account}:1700000000:{}:{}",
            "0f".repeat(16),
            "a1".repeat(32)
        )
    }

    #[test]
    fn shape_is_checked_field_by_field() {
        let acct = "11".repeat(32);
        let good = ok(&acct);
        assert_eq!(good.len(), MAX_CHALLENGE_LEN - 9);
        assert_eq!(Challenge::parse(&good).unwrap().account, acct);
        for bad in [
            good.replace(CHALLENGE_PREFIX, "aura-billing-login/v2"),
            format!("{good}:x"),
            good.replace("1700000000", "-1"),
            good.replace("1700000000", "99999999999999999999"),
            good.to_uppercase(),
            good.replacen("0f", "0g", 1),
            good[..good.len() - 2].to_string(),
            String::new(),
        ] {
            assert_eq!(
                Challenge::parse(&bad),
                Err(ChallengeError::Malformed),
                "{bad}"
            );
        }
        let other = DeviceKey([0x22; 32]);
        assert_eq!(
            Challenge::parse_for(&good, &other),
            Err(ChallengeError::WrongAccount)
        );
        assert!(signed_message(&good).starts_with(SIGNATURE_CONTEXT));
    }
}
