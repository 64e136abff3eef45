//! Gift receipts in a group: the billing ledger signs a receipt when a member
//! sends a gift; the sender broadcasts it in the group (a sealed control
//! frame), and every member checks it offline before showing it.
//!
//! The check is sans-IO ([`check_receipt`]): the service's signature with the
//! pinned service key (over the receipt alone, or over the root of the batch
//! it was signed in, which its Merkle inclusion proof leads to), the room (the group), and that the member who
//! broadcast it is the member who paid for it, so nobody can claim another's
//! gift or replay one into another group. Duplicates are dropped by receipt id
//! in the store.

use aura_billing::signed::{GiftReceipt, SignedReceipt, VerifyError};
use aura_crypto::{GroupId, MemberId};
use ed25519_dalek::VerifyingKey;

/// Largest encoded receipt accepted, bytes: a receipt from the largest batch
/// the ledger may sign (1,024, ten path hashes) with the longest fields fits.
pub const MAX_RECEIPT_BYTES: usize = 3072;

/// Why a gift receipt was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GiftError {
    /// Longer than [`MAX_RECEIPT_BYTES`].
    #[error("gift receipt is {0} bytes, more than {MAX_RECEIPT_BYTES}")]
    TooLarge(usize),
    /// Not a receipt.
    #[error("gift receipt is malformed: {0}")]
    Malformed(String),
    /// The service's signature does not verify with the pinned service key.
    #[error("gift receipt signature: {0}")]
    Signature(#[from] VerifyError),
    /// Signed for another room or group than this one.
    #[error("gift receipt is for room {0}, not this one")]
    WrongRoom(String),
    /// The member who broadcast it is not the member who paid.
    #[error("gift receipt names sender {0}, not the member who sent it")]
    WrongSender(String),
    /// No billing service key is configured, so receipts cannot be checked.
    #[error("no billing service key configured (set billing_service_key)")]
    NoServiceKey,
    /// The configured service key is not a valid ed25519 public key.
    #[error("billing_service_key is not 64 hex digits of an ed25519 public key")]
    BadServiceKey,
}

/// The room id the ledger records for gifts sent in `group`.
pub fn room_id(group: GroupId) -> String {
    hex::encode(group.0)
}

/// The room id the ledger records for gifts sent in the voice room `room`
/// (prefixed, so it never names a group).
pub fn voice_room_id(room: &aura_crypto::room::RoomId) -> String {
    format!("room:{}", hex::encode(room.0))
}

/// Parses the configured service key (64 hex digits).
pub fn parse_service_key(hex_key: &str) -> Result<VerifyingKey, GiftError> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut b).map_err(|_| GiftError::BadServiceKey)?;
    VerifyingKey::from_bytes(&b).map_err(|_| GiftError::BadServiceKey)
}

/// Encodes a receipt for the wire (its JSON, as the service returned it).
pub fn encode_receipt(r: &SignedReceipt) -> Result<Vec<u8>, GiftError> {
    let b = serde_json::to_vec(r).map_err(|e| GiftError::Malformed(e.to_string()))?;
    if b.len() > MAX_RECEIPT_BYTES {
        return Err(GiftError::TooLarge(b.len()));
    }
    Ok(b)
}

/// Decodes and checks a receipt broadcast in `group` by `sender`.
pub fn check_receipt(
    bytes: &[u8],
    service: Option<&VerifyingKey>,
    group: GroupId,
    sender: MemberId,
) -> Result<SignedReceipt, GiftError> {
    check_receipt_in(bytes, service, &room_id(group), sender)
}

/// Decodes and checks a receipt shown in the ledger room `room` (a
/// group's [`room_id`] or a voice room's [`voice_room_id`]) by `sender`.
pub fn check_receipt_in(
    bytes: &[u8],
    service: Option<&VerifyingKey>,
    room: &str,
    sender: MemberId,
) -> Result<SignedReceipt, GiftError> {
    if bytes.len() > MAX_RECEIPT_BYTES {
        return Err(GiftError::TooLarge(bytes.len()));
    }
    let r: SignedReceipt =
        serde_json::from_slice(bytes).map_err(|e| GiftError::Malformed(e.to_string()))?;
    check_signed_in(&r, service, room, sender)?;
    Ok(r)
}

/// Checks an already decoded receipt (also used before broadcasting our own).
pub fn check_signed(
    r: &SignedReceipt,
    service: Option<&VerifyingKey>,
    group: GroupId,
    sender: MemberId,
) -> Result<(), GiftError> {
    check_signed_in(r, service, &room_id(group), sender)
}

/// [`check_signed`] for the ledger room `room`.
pub fn check_signed_in(
    r: &SignedReceipt,
    service: Option<&VerifyingKey>,
    room: &str,
    sender: MemberId,
) -> Result<(), GiftError> {
    let service = service.ok_or(GiftError::NoServiceKey)?;
    let body: &GiftReceipt = r.verify_signature(service)?;
    if body.room != room {
        return Err(GiftError::WrongRoom(body.room.clone()));
    }
    if body.sender != hex::encode(sender.0) {
        return Err(GiftError::WrongSender(body.sender.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_billing::signed::{BatchLeaf, Signed};
    use ed25519_dalek::{Signer, SigningKey};

    fn receipt(
        service: &SigningKey,
        group: GroupId,
        sender: MemberId,
    ) -> Result<SignedReceipt, GiftError> {
        let body = GiftReceipt {
            v: 1,
            receipt_id: format!("{}/g1", hex::encode(sender.0)),
            sender: hex::encode(sender.0),
            receiver: hex::encode([7u8; 32]),
            room: room_id(group),
            gift: "rose".into(),
            animation: "rose.json".into(),
            coins: 10,
            diamonds: 7,
            ts_ms: 1,
        };
        Ok(Signed::sign(body, service)?)
    }

    fn setup() -> (SigningKey, GroupId, MemberId) {
        let service = SigningKey::from_bytes(&[1u8; 32]);
        let member = MemberId(
            SigningKey::from_bytes(&[2u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        (service, GroupId([3u8; 32]), member)
    }

    #[test]
    fn a_genuine_receipt_passes() -> Result<(), GiftError> {
        let (service, group, member) = setup();
        let bytes = encode_receipt(&receipt(&service, group, member)?)?;
        let vk = service.verifying_key();
        let r = check_receipt(&bytes, Some(&vk), group, member)?;
        assert_eq!(r.body.coins, 10);
        Ok(())
    }

    #[test]
    fn forging_member_tampered_amount_is_refused() -> Result<(), GiftError> {
        let (service, group, member) = setup();
        let mut r = receipt(&service, group, member)?;
        r.body.diamonds = 7_000;
        let bytes = encode_receipt(&r)?;
        let vk = service.verifying_key();
        assert!(matches!(
            check_receipt(&bytes, Some(&vk), group, member),
            Err(GiftError::Signature(_))
        ));
        Ok(())
    }

    #[test]
    fn forging_member_self_signed_receipt_is_refused() -> Result<(), GiftError> {
        let (service, group, member) = setup();
        let fake = SigningKey::from_bytes(&[9u8; 32]);
        let bytes = encode_receipt(&receipt(&fake, group, member)?)?;
        let vk = service.verifying_key();
        assert!(check_receipt(&bytes, Some(&vk), group, member).is_err());
        Ok(())
    }

    #[test]
    fn claiming_anothers_gift_or_another_room_is_refused() -> Result<(), GiftError> {
        let (service, group, member) = setup();
        let bytes = encode_receipt(&receipt(&service, group, member)?)?;
        let vk = service.verifying_key();
        let other = MemberId([5u8; 32]);
        assert!(matches!(
            check_receipt(&bytes, Some(&vk), group, other),
            Err(GiftError::WrongSender(_))
        ));
        assert!(matches!(
            check_receipt(&bytes, Some(&vk), GroupId([4u8; 32]), member),
            Err(GiftError::WrongRoom(_))
        ));
        Ok(())
    }

    fn batch(
        service: &SigningKey,
        group: GroupId,
        sender: MemberId,
        n: u32,
    ) -> Result<Vec<SignedReceipt>, GiftError> {
        let one = receipt(service, group, sender)?.body;
        let leaves = (0..n)
            .map(|i| {
                let mut b = one.clone();
                b.receipt_id = format!("{}/g{i}", hex::encode(sender.0));
                BatchLeaf::new(b)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Signed::sign_batch(leaves, |m| service.sign(m).to_bytes())?)
    }

    #[test]
    fn a_batched_receipt_passes_and_a_forged_proof_fails() -> Result<(), GiftError> {
        let (service, group, member) = setup();
        let vk = service.verifying_key();
        let rs = batch(&service, group, member, 128)?;
        let bytes = encode_receipt(&rs[77])?;
        let r = check_receipt(&bytes, Some(&vk), group, member)?;
        assert_eq!(r.batch.as_ref().map(|p| (p.index, p.size)), Some((77, 128)));
        // A forging member moves its receipt to another leaf of the batch.
        let mut moved = rs[77].clone();
        if let Some(p) = moved.batch.as_mut() {
            p.index = 76;
        }
        assert_eq!(
            check_signed(&moved, Some(&vk), group, member),
            Err(GiftError::Signature(VerifyError::BadSignature))
        );
        // Or pads the proof to make members hash more.
        let mut padded = rs[77].clone();
        if let Some(p) = padded.batch.as_mut() {
            p.path
                .extend(std::iter::repeat_n(hex::encode([0u8; 32]), 50));
        }
        assert_eq!(
            check_signed(&padded, Some(&vk), group, member),
            Err(GiftError::Signature(VerifyError::BadProof))
        );
        Ok(())
    }

    #[test]
    fn longest_batched_receipt_fits() -> Result<(), GiftError> {
        let (service, group, member) = setup();
        let mut body = receipt(&service, group, member)?.body;
        // Longest fields the ledger allows: a 128-byte room that JSON escapes
        // to twice its length, 64-byte catalog ids, the widest numbers.
        body.receipt_id = format!("{}/{}", hex::encode(member.0), "x".repeat(64));
        body.room = "\"".repeat(128);
        body.gift = "g".repeat(64);
        body.animation = "a".repeat(128);
        (body.coins, body.diamonds, body.ts_ms) = (i64::MIN, i64::MIN, i64::MIN);
        let leaves = (0..1024)
            .map(|_| BatchLeaf::new(body.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let rs = Signed::sign_batch(leaves, |m| service.sign(m).to_bytes())?;
        let longest = rs
            .iter()
            .map(|r| r.batch.as_ref().map_or(0, |p| p.path.len()))
            .max();
        assert_eq!(longest, Some(10));
        let bytes = encode_receipt(&rs[1000])?;
        assert!(
            bytes.len() <= MAX_RECEIPT_BYTES - 512,
            "{} bytes",
            bytes.len()
        );
        Ok(())
    }

    #[test]
    fn junk_and_oversized_input_get_typed_errors() {
        let (service, group, member) = setup();
        let vk = service.verifying_key();
        assert!(matches!(
            check_receipt(b"\xff\x00junk", Some(&vk), group, member),
            Err(GiftError::Malformed(_))
        ));
        assert!(matches!(
            check_receipt(&[b' '; MAX_RECEIPT_BYTES + 1], Some(&vk), group, member),
            Err(GiftError::TooLarge(_))
        ));
        assert_eq!(
            check_receipt(b"{}", None, group, member),
            Err(GiftError::Malformed(
                "missing field `body` at line 1 column 2".into()
            ))
        );
        assert_eq!(parse_service_key("zz"), Err(GiftError::BadServiceKey));
    }
}
