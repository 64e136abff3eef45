//! Gift receipts and entitlement tokens: ed25519-signed statements of the
//! service that any peer verifies offline with the service's public key.
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ids::DeviceKey;

/// Why a receipt or token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The signature is malformed or does not match the body and key.
    #[error("bad signature")]
    BadSignature,
    /// The token's lifetime is over.
    #[error("expired")]
    Expired,
    /// The token names another peer.
    #[error("token is for another peer")]
    WrongPeer,
    /// The body could not be encoded.
    #[error("unencodable body")]
    Encoding,
}

/// A body together with the service's signature over its canonical encoding
/// (a domain tag, a newline, then the body's JSON in field order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// What is asserted.
    pub body: T,
    /// 128 hex digits of the ed25519 signature.
    pub signature: String,
}

/// A statement kind with its own domain tag, so a receipt can never pass as a token.
pub trait Statement: Serialize + DeserializeOwned {
    /// Domain separation tag.
    const TAG: &'static [u8];
}

fn message<T: Statement>(body: &T) -> Result<Vec<u8>, VerifyError> {
    let mut m = T::TAG.to_vec();
    m.push(b'\n');
    serde_json::to_writer(&mut m, body).map_err(|_| VerifyError::Encoding)?;
    Ok(m)
}

impl<T: Statement> Signed<T> {
    /// Signs `body` with the service key.
    pub fn sign(body: T, key: &SigningKey) -> Result<Self, VerifyError> {
        Self::sign_with(body, |m| key.sign(m).to_bytes())
    }

    /// Signs `body` with any ed25519 implementation: `sign` receives the
    /// canonical message and returns the 64-byte signature.
    pub fn sign_with(body: T, sign: impl FnOnce(&[u8]) -> [u8; 64]) -> Result<Self, VerifyError> {
        let sig = sign(&message(&body)?);
        Ok(Signed {
            body,
            signature: crate::ids::hex_string(&sig),
        })
    }

    /// Checks the signature with the service's public key.
    pub fn verify_signature(&self, service: &VerifyingKey) -> Result<&T, VerifyError> {
        let mut b = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut b).map_err(|_| VerifyError::BadSignature)?;
        let sig = Signature::from_bytes(&b);
        service
            .verify_strict(&message(&self.body)?, &sig)
            .map_err(|_| VerifyError::BadSignature)?;
        Ok(&self.body)
    }
}

/// Shown in the room when a member sends a gift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftReceipt {
    /// Format version (1).
    pub v: u8,
    /// `<sender hex>/<client id>`: unique per gift sent.
    pub receipt_id: String,
    /// Sender's device key (hex).
    pub sender: String,
    /// Receiver's device key (hex).
    pub receiver: String,
    /// Room the gift was sent in.
    pub room: String,
    /// Catalog id of the gift.
    pub gift: String,
    /// Animation the room plays.
    pub animation: String,
    /// Coins debited from the sender.
    pub coins: i64,
    /// Diamonds credited to the receiver (after the platform share).
    pub diamonds: i64,
    /// When the ledger committed it (unix milliseconds).
    pub ts_ms: i64,
}

impl Statement for GiftReceipt {
    const TAG: &'static [u8] = b"aura-gift-receipt/v1";
}

/// A signed gift receipt.
pub type SignedReceipt = Signed<GiftReceipt>;

/// What a peer may do, for a short time, named to one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Format version (1).
    pub v: u8,
    /// The peer's ed25519 key (hex).
    pub peer: String,
    /// The same key as a libp2p PeerId string.
    pub peer_id: String,
    /// `free` or a VIP tier name.
    pub tier: String,
    /// Capabilities, e.g. `host_large_rooms`.
    pub allows: Vec<String>,
    /// Largest room this peer may host.
    pub max_room_size: u32,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
}

impl Statement for Entitlement {
    const TAG: &'static [u8] = b"aura-entitlement/v1";
}

/// A signed entitlement token.
pub type EntitlementToken = Signed<Entitlement>;

impl EntitlementToken {
    /// Verifies signature, lifetime and that it names `peer`.
    pub fn verify_for(
        &self,
        service: &VerifyingKey,
        peer: &DeviceKey,
        now_s: i64,
    ) -> Result<&Entitlement, VerifyError> {
        let e = self.verify_signature(service)?;
        if now_s >= e.exp || now_s + 60 < e.iat {
            return Err(VerifyError::Expired);
        }
        if e.peer != peer.to_hex() {
            return Err(VerifyError::WrongPeer);
        }
        Ok(e)
    }

    /// Whether the token allows `capability` (after verification).
    pub fn allows(&self, capability: &str) -> bool {
        self.body.allows.iter().any(|a| a == capability)
    }
}
