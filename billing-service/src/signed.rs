//! Gift receipts and entitlement tokens: ed25519-signed statements of the
//! service that any peer verifies offline with the service's public key.
//!
//! A statement is signed alone, or (gift receipts only) as one leaf of an
//! RFC 6962 Merkle tree whose root the service signs once for the whole
//! batch; such a receipt carries a [`BatchProof`] (its leaf index, the tree
//! size and its inclusion path) and still verifies alone, offline.
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ids::DeviceKey;

mod merkle;

/// Seconds a signed body's issue time may lie ahead of the verifier's clock.
pub const CLOCK_SKEW_S: i64 = 60;

/// Most statements one batch signature covers.
pub const MAX_BATCH: u32 = merkle::MAX_SIZE;

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
    /// A batch proof on a kind of statement that is only signed alone.
    #[error("this statement is never batch-signed")]
    BatchNotAccepted,
    /// A batch proof whose index, size, path length or hashes are malformed.
    #[error("malformed batch proof")]
    BadProof,
    /// The token does not grant what was asked (capability or room size).
    #[error("not entitled")]
    NotEntitled,
    /// A statement format version this code does not know.
    #[error("unknown format version {0}")]
    Version(u8),
    /// A statement longer than its kind allows (e.g. too many medals).
    #[error("statement too long")]
    TooLong,
    /// A batch to sign was empty or held more than [`MAX_BATCH`] statements.
    #[error("a batch holds 1..={MAX_BATCH} statements, not {0}")]
    BatchSize(usize),
}

/// A body together with the service's signature over its canonical encoding
/// (a domain tag, a newline, then the body's JSON in field order), or over
/// the root of a batch that holds it (then `batch` proves it is a leaf).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// What is asserted.
    pub body: T,
    /// 128 hex digits of the ed25519 signature.
    pub signature: String,
    /// Present when `signature` signs a batch root rather than the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchProof>,
}

/// Where a statement sits in a batch-signed Merkle tree (RFC 6962 shape:
/// leaf = SHA-256(0x00 || canonical message), node = SHA-256(0x01 || l || r)).
/// The batch signature covers `batch tag, newline, size (u32 BE), root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProof {
    /// This statement's leaf index, from 0.
    pub index: u32,
    /// Leaves in the tree, 1..=[`MAX_BATCH`].
    pub size: u32,
    /// Sibling hashes (64 hex digits each), leaf side first; exactly as many
    /// as RFC 6962 gives for `index` in `size` (at most 10).
    pub path: Vec<String>,
}

/// A statement kind with its own domain tag, so a receipt can never pass as a token.
pub trait Statement: Serialize + DeserializeOwned {
    /// Domain separation tag.
    const TAG: &'static [u8];
    /// Domain tag of a batch root signature; `None` (the default): this kind
    /// is only signed alone and any batch proof on it is refused.
    const BATCH_TAG: Option<&'static [u8]> = None;
}

fn message<T: Statement>(body: &T) -> Result<Vec<u8>, VerifyError> {
    let mut m = Vec::with_capacity(512);
    m.extend_from_slice(T::TAG);
    m.push(b'\n');
    serde_json::to_writer(&mut m, body).map_err(|_| VerifyError::Encoding)?;
    Ok(m)
}

fn batch_message(tag: &[u8], size: u32, root: &merkle::Hash) -> Vec<u8> {
    let mut m = Vec::with_capacity(tag.len() + 37);
    m.extend_from_slice(tag);
    m.push(b'\n');
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(root);
    m
}

impl BatchProof {
    /// The batch message this proof and `leaf` (the canonical message) lead to.
    fn signed_message<T: Statement>(&self, leaf: &[u8]) -> Result<Vec<u8>, VerifyError> {
        let tag = T::BATCH_TAG.ok_or(VerifyError::BatchNotAccepted)?;
        if self.size > MAX_BATCH {
            return Err(VerifyError::BadProof);
        }
        let want = merkle::path_len(self.index, self.size).ok_or(VerifyError::BadProof)?;
        if self.path.len() != want {
            return Err(VerifyError::BadProof);
        }
        let mut path = Vec::with_capacity(want);
        for h in &self.path {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b).map_err(|_| VerifyError::BadProof)?;
            path.push(b);
        }
        let root = merkle::root_from_path(merkle::leaf_hash(leaf), self.index, self.size, &path)
            .ok_or(VerifyError::BadProof)?;
        Ok(batch_message(tag, self.size, &root))
    }
}

/// A statement made ready for a batch: its body and leaf hash, computed where
/// the body is made so that the batch signer only builds the tree.
#[derive(Debug, Clone)]
pub struct BatchLeaf<T> {
    body: T,
    hash: merkle::Hash,
}

impl<T: Statement> BatchLeaf<T> {
    /// Hashes `body`'s canonical message; refused for kinds never batched.
    pub fn new(body: T) -> Result<Self, VerifyError> {
        if T::BATCH_TAG.is_none() {
            return Err(VerifyError::BatchNotAccepted);
        }
        let hash = merkle::leaf_hash(&message(&body)?);
        Ok(BatchLeaf { body, hash })
    }

    /// The statement.
    pub fn body(&self) -> &T {
        &self.body
    }
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
            batch: None,
        })
    }

    /// Signs a batch with one signature: builds the Merkle tree over the
    /// leaves, hands the batch message (tag, size, root) to `sign`, and
    /// returns each statement, in order, with its [`BatchProof`].
    pub fn sign_batch(
        leaves: Vec<BatchLeaf<T>>,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Result<Vec<Self>, VerifyError> {
        let tag = T::BATCH_TAG.ok_or(VerifyError::BatchNotAccepted)?;
        let n = leaves.len();
        let size = u32::try_from(n)
            .ok()
            .filter(|s| (1..=MAX_BATCH).contains(s))
            .ok_or(VerifyError::BatchSize(n))?;
        let tree = merkle::Tree::new(leaves.iter().map(|l| l.hash).collect())
            .ok_or(VerifyError::BatchSize(n))?;
        let signature = crate::ids::hex_string(&sign(&batch_message(tag, size, &tree.root())));
        let mut out = Vec::with_capacity(n);
        for (index, leaf) in (0u32..).zip(leaves) {
            let path = tree
                .path(index as usize)
                .iter()
                .map(|h| crate::ids::hex_string(h))
                .collect();
            out.push(Signed {
                body: leaf.body,
                signature: signature.clone(),
                batch: Some(BatchProof { index, size, path }),
            });
        }
        Ok(out)
    }

    /// Checks the signature with the service's public key: over the body
    /// alone, or over the batch root that the body's proof leads to.
    pub fn verify_signature(&self, service: &VerifyingKey) -> Result<&T, VerifyError> {
        let mut b = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut b).map_err(|_| VerifyError::BadSignature)?;
        let sig = Signature::from_bytes(&b);
        let m = message(&self.body)?;
        let signed = match &self.batch {
            None => m,
            Some(p) => p.signed_message::<T>(&m)?,
        };
        service
            .verify_strict(&signed, &sig)
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
    const BATCH_TAG: Option<&'static [u8]> = Some(b"aura-gift-receipt-batch/v1");
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
        if now_s >= e.exp || now_s.saturating_add(CLOCK_SKEW_S) < e.iat {
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
