//! Identifiers: device keys, currencies and ledger account ids.
use std::fmt;

use serde::{Deserialize, Serialize};

/// Bad identifier input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// The text is not 64 hex digits of a valid ed25519 public key.
    #[error("not a hex ed25519 public key")]
    BadKey,
    /// A client-chosen id is empty, longer than 64 bytes, or has characters
    /// other than `A-Z a-z 0-9 . _ -`.
    #[error("id must be 1..=64 characters of A-Z a-z 0-9 . _ -")]
    BadClientId,
    /// An account id is not `u:<key>:<currency>` or `p:<name>:<currency>`.
    #[error("malformed account id")]
    BadAccount,
}

/// The two currencies of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Currency {
    /// Bought with money, spent on gifts.
    Coins,
    /// Earned by receiving gifts.
    Diamonds,
}

impl Currency {
    /// The name used in account ids and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Coins => "coins",
            Currency::Diamonds => "diamonds",
        }
    }

    /// Parses `coins` or `diamonds`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "coins" => Some(Currency::Coins),
            "diamonds" => Some(Currency::Diamonds),
            _ => None,
        }
    }
}

/// A device identity: the 32-byte ed25519 public key that is also its PeerId
/// and its billing account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey(pub [u8; 32]);

impl DeviceKey {
    /// Parses 64 hex digits and checks that they are a valid ed25519 point.
    pub fn parse_hex(s: &str) -> Result<Self, IdError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|_| IdError::BadKey)?;
        ed25519_dalek::VerifyingKey::from_bytes(&b).map_err(|_| IdError::BadKey)?;
        Ok(DeviceKey(b))
    }

    /// Parses 64 hex digits without checking that they are a curve point: for
    /// keys that were validated before (inside MACed tokens, ledger ids).
    pub fn parse_hex_unchecked(s: &str) -> Result<Self, IdError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|_| IdError::BadKey)?;
        Ok(DeviceKey(b))
    }

    /// Lower-case hex of the key.
    pub fn to_hex(&self) -> String {
        hex_string(&self.0)
    }

    /// The libp2p PeerId string of this key (the same key names the peer).
    pub fn peer_id(&self) -> Option<String> {
        let pk = libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.0).ok()?;
        Some(
            libp2p_identity::PublicKey::from(pk)
                .to_peer_id()
                .to_string(),
        )
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, IdError> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| IdError::BadKey)
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey({})", self.to_hex())
    }
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A fresh client-chosen id that sorts by creation time: 12 hex digits of
/// Unix milliseconds, then 16 random hex digits (28 characters, like a
/// ULID). The ledger stores transfers in id order, so time-ordered ids
/// append to the end of that order and a batch of gifts rewrites a handful
/// of pages; random ids work the same but touch a page per gift.
pub fn new_client_id() -> String {
    time_ordered_id(format_args!("{:016x}", rand::random::<u64>()))
}

/// 12 hex digits of Unix milliseconds followed by `rest`: an id that sorts
/// by creation time (see [`new_client_id`]).
pub fn time_ordered_id(rest: impl fmt::Display) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{:012x}{rest}", ms & 0xffff_ffff_ffff)
}

/// The id prefix of the transfers of a gift (`:c` the coins leg, `:d` the
/// diamonds leg): the client's id first, so time-ordered client ids keep the
/// ledger's id order close to commit order; unique per sender.
pub fn gift_transfer_base(sender: &DeviceKey, client_id: &str) -> String {
    format!("g:{client_id}:{}", sender.to_hex())
}

/// Checks a client-chosen id (transfer, gift, event ids).
pub fn check_client_id(s: &str) -> Result<(), IdError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdError::BadClientId)
    }
}

/// Well-known platform accounts.
pub mod platform {
    /// Where purchased coins come from (may go negative: it mirrors money paid in).
    pub const COIN_ISSUER: &str = "p:coin_issuer:coins";
    /// Receives the coins spent on gifts.
    pub const GIFT_REVENUE: &str = "p:gift_revenue:coins";
    /// Where earned diamonds come from.
    pub const DIAMOND_ISSUER: &str = "p:diamond_issuer:diamonds";
    /// The funded pool daily rewards are paid from (cannot go below zero).
    pub const REWARDS: &str = "p:rewards:coins";
    /// The counter-account of coin holds.
    pub const HOLDS: &str = "p:holds:coins";
}

/// The ledger account id of a user's wallet in one currency.
pub fn user_account(key: &DeviceKey, c: Currency) -> String {
    format!("u:{}:{}", key.to_hex(), c.as_str())
}

/// Parses an account id and returns its currency and whether debits must not
/// exceed credits (user wallets and the rewards pool).
pub fn parse_account(id: &str) -> Result<(Currency, bool), IdError> {
    let mut parts = id.splitn(3, ':');
    let (Some(kind), Some(name), Some(cur)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(IdError::BadAccount);
    };
    let currency = Currency::parse(cur).ok_or(IdError::BadAccount)?;
    match kind {
        "u" => {
            // Keys were validated where they entered (login, gift requests); here
            // only the shape matters, and point decompression is costly.
            let lower = name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if name.len() != 64 || !lower {
                return Err(IdError::BadAccount);
            }
            Ok((currency, true))
        }
        "p" => {
            let ok = !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !ok {
                return Err(IdError::BadAccount);
            }
            Ok((currency, id == platform::REWARDS))
        }
        _ => Err(IdError::BadAccount),
    }
}

/// Lower-case hex of `bytes`, as `hex::encode` but with one table lookup per
/// byte instead of a `char` iterator (several keys and a signature per gift).
pub fn hex_string(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    match hex::encode_to_slice(bytes, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => hex::encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_client_ids_are_valid_unique_and_sort_by_time() {
        let a = new_client_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_client_id();
        assert_eq!(check_client_id(&a), Ok(()));
        assert_eq!(a.len(), 28);
        assert_ne!(a, b);
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn account_ids_parse() {
        let k = DeviceKey(
            ed25519_dalek::SigningKey::from_bytes(&[7; 32])
                .verifying_key()
                .to_bytes(),
        );
        assert_eq!(
            parse_account(&user_account(&k, Currency::Coins)),
            Ok((Currency::Coins, true))
        );
        assert_eq!(
            parse_account(platform::COIN_ISSUER),
            Ok((Currency::Coins, false))
        );
        assert_eq!(
            parse_account(platform::REWARDS),
            Ok((Currency::Coins, true))
        );
        assert!(parse_account("u:zz:coins").is_err());
        assert!(parse_account("p:x:gold").is_err());
        assert!(k.peer_id().is_some_and(|p| p.starts_with("12D3KooW")));
    }

    #[test]
    fn client_ids() {
        assert!(check_client_id("gift-1.a_b").is_ok());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a/b").is_err());
        assert!(check_client_id(&"x".repeat(65)).is_err());
    }

    #[test]
    fn hex_string_matches_hex_encode() {
        for n in [0usize, 1, 32, 64] {
            let b: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(super::hex_string(&b), hex::encode(&b));
        }
    }
}
