//! Batch-signed gift receipts under attack: each receipt is one leaf of a
//! Merkle tree whose root the service signed once; any edit of the body, the
//! proof or the signature, any mix of batches, and any confusion between the
//! batch and the single forms is refused, offline, with the service key alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    api::SendGiftRequest,
    signed::{
        BatchLeaf, BatchProof, Entitlement, GiftReceipt, Signed, SignedReceipt, VerifyError,
        MAX_BATCH,
    },
};
use common::{start, Backend};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use proptest::prelude::*;
use rand::rngs::OsRng;

fn body(n: u32) -> GiftReceipt {
    GiftReceipt {
        v: 1,
        receipt_id: format!("{}/gift-{n}", hex::encode([5u8; 32])),
        sender: hex::encode([5u8; 32]),
        receiver: hex::encode([6u8; 32]),
        room: hex::encode([7u8; 32]),
        gift: "rose".into(),
        animation: "anim.rose".into(),
        coins: 10 + i64::from(n),
        diamonds: 7,
        ts_ms: 1_700_000_000_000 + i64::from(n),
    }
}

fn batch_of(key: &SigningKey, bodies: impl IntoIterator<Item = GiftReceipt>) -> Vec<SignedReceipt> {
    let leaves = bodies
        .into_iter()
        .map(|b| BatchLeaf::new(b).unwrap())
        .collect();
    Signed::sign_batch(leaves, |m| key.sign(m).to_bytes()).unwrap()
}

fn batch(key: &SigningKey, n: u32) -> Vec<SignedReceipt> {
    batch_of(key, (0..n).map(body))
}

fn proof(r: &SignedReceipt) -> &BatchProof {
    r.batch.as_ref().unwrap()
}

fn proof_mut(r: &mut SignedReceipt) -> &mut BatchProof {
    r.batch.as_mut().unwrap()
}

fn setup() -> (SigningKey, VerifyingKey) {
    let key = SigningKey::generate(&mut OsRng);
    let vk = key.verifying_key();
    (key, vk)
}

#[test]
fn every_receipt_of_a_batch_verifies_alone_and_only_with_the_service_key() {
    let (key, vk) = setup();
    let other = SigningKey::generate(&mut OsRng).verifying_key();
    for n in [1, 2, 3, 7, 128, 300] {
        let rs = batch(&key, n);
        assert_eq!(rs.len(), n as usize);
        for (i, r) in (0u32..).zip(&rs) {
            assert_eq!((proof(r).index, proof(r).size), (i, n));
            assert_eq!(r.verify_signature(&vk).unwrap(), &body(i));
            assert_eq!(r.verify_signature(&other), Err(VerifyError::BadSignature));
            // What a peer receives is the JSON: it round-trips.
            let wire: SignedReceipt =
                serde_json::from_slice(&serde_json::to_vec(r).unwrap()).unwrap();
            wire.verify_signature(&vk).unwrap();
        }
    }
}

#[test]
fn forging_member_edits_body_path_index_or_size() {
    let (key, vk) = setup();
    let rs = batch(&key, 13);
    let genuine = &rs[5];
    // The body: more coins than paid.
    let mut r = genuine.clone();
    r.body.coins = 1_000_000;
    assert_eq!(r.verify_signature(&vk), Err(VerifyError::BadSignature));
    // One hash of the path.
    for k in 0..proof(genuine).path.len() {
        let mut r = genuine.clone();
        let h = &mut proof_mut(&mut r).path[k];
        *h = hex::encode([0xabu8; 32]);
        assert_eq!(r.verify_signature(&vk), Err(VerifyError::BadSignature));
    }
    // The index: the path of leaf 5 presented as leaf 4 (same path length).
    let mut r = genuine.clone();
    proof_mut(&mut r).index = 4;
    assert_eq!(r.verify_signature(&vk), Err(VerifyError::BadSignature));
    // The size: 13 -> 14 keeps the path length of leaf 5 but changes the
    // signed message; 13 -> 16 changes the tree.
    for size in [14, 16] {
        let mut r = genuine.clone();
        proof_mut(&mut r).size = size;
        assert!(r.verify_signature(&vk).is_err(), "size {size}");
    }
    // Another receipt's body with this receipt's proof.
    let mut r = genuine.clone();
    r.body = rs[6].body.clone();
    assert_eq!(r.verify_signature(&vk), Err(VerifyError::BadSignature));
}

#[test]
fn proof_from_one_batch_with_the_signature_of_another() {
    let (key, vk) = setup();
    // The same receipt at the same place in two batches with other neighbours.
    let a = batch_of(&key, [body(0), body(1), body(2)]);
    let b = batch_of(&key, [body(0), body(8), body(9)]);
    let mut mixed = a[0].clone();
    mixed.signature = b[0].signature.clone();
    assert_eq!(mixed.verify_signature(&vk), Err(VerifyError::BadSignature));
    let mut mixed = b[0].clone();
    mixed.batch = a[0].batch.clone();
    assert_eq!(mixed.verify_signature(&vk), Err(VerifyError::BadSignature));
}

#[test]
fn batch_root_signature_presented_as_a_single_signature() {
    let (key, vk) = setup();
    for n in [1, 4] {
        let mut r = batch(&key, n)[0].clone();
        r.batch = None;
        assert_eq!(r.verify_signature(&vk), Err(VerifyError::BadSignature));
    }
}

#[test]
fn single_signature_presented_with_a_proof() {
    let (key, vk) = setup();
    let single = Signed::sign(body(0), &key).unwrap();
    single.verify_signature(&vk).unwrap();
    // The proof of a tree of one (empty path) and of a real batch.
    for n in [1, 4] {
        let mut r = single.clone();
        r.batch = batch(&key, n)[0].batch.clone();
        assert_eq!(r.verify_signature(&vk), Err(VerifyError::BadSignature));
    }
}

#[test]
fn token_carrying_a_proof_is_refused() {
    let (key, vk) = setup();
    let e = Entitlement {
        v: 1,
        peer: hex::encode([5u8; 32]),
        peer_id: "x".into(),
        tier: "svip".into(),
        allows: vec!["host_large_rooms".into()],
        max_room_size: 10_000,
        iat: 0,
        exp: i64::MAX,
    };
    let mut token = Signed::sign(e.clone(), &key).unwrap();
    token.verify_signature(&vk).unwrap();
    token.batch = Some(BatchProof {
        index: 0,
        size: 1,
        path: Vec::new(),
    });
    assert_eq!(
        token.verify_signature(&vk),
        Err(VerifyError::BatchNotAccepted)
    );
    // Nor can the service be made to batch-sign one.
    assert_eq!(
        BatchLeaf::new(e).unwrap_err(),
        VerifyError::BatchNotAccepted
    );
    let none: Vec<BatchLeaf<Entitlement>> = Vec::new();
    assert_eq!(
        Signed::sign_batch(none, |m| key.sign(m).to_bytes()).unwrap_err(),
        VerifyError::BatchNotAccepted
    );
}

#[test]
fn forging_member_sends_an_over_long_or_malformed_proof() {
    let (key, vk) = setup();
    let genuine = batch(&key, 1024).swap_remove(1000);
    assert_eq!(proof(&genuine).path.len(), 10);
    genuine.verify_signature(&vk).unwrap();
    type Edit = Box<dyn Fn(&mut BatchProof)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "one hash too many",
            Box::new(|p| p.path.push(p.path[0].clone())),
        ),
        (
            "a huge path",
            Box::new(|p| p.path = vec![hex::encode([1u8; 32]); 100_000]),
        ),
        ("one hash missing", Box::new(|p| drop(p.path.pop()))),
        ("size 0", Box::new(|p| p.size = 0)),
        ("size over the cap", Box::new(|p| p.size = MAX_BATCH + 1)),
        ("size u32::MAX", Box::new(|p| p.size = u32::MAX)),
        ("index = size", Box::new(|p| p.index = p.size)),
        ("index u32::MAX", Box::new(|p| p.index = u32::MAX)),
        ("short hash", Box::new(|p| p.path[3].truncate(62))),
        (
            "non-hex hash",
            Box::new(|p| p.path[3].replace_range(0..2, "zz")),
        ),
    ];
    for (what, edit) in cases {
        let mut r = genuine.clone();
        edit(proof_mut(&mut r));
        assert_eq!(
            r.verify_signature(&vk),
            Err(VerifyError::BadProof),
            "{what}"
        );
    }
    // The service never signs an empty or over-large batch.
    assert_eq!(
        Signed::<GiftReceipt>::sign_batch(Vec::new(), |m| key.sign(m).to_bytes()).unwrap_err(),
        VerifyError::BatchSize(0)
    );
    let leaves = (0..=MAX_BATCH)
        .map(|n| BatchLeaf::new(body(n)).unwrap())
        .collect();
    assert_eq!(
        Signed::sign_batch(leaves, |m| key.sign(m).to_bytes()).unwrap_err(),
        VerifyError::BatchSize(1025)
    );
}

#[test]
fn receipt_from_a_batch_of_128_stays_small() {
    let (key, _) = setup();
    let single = serde_json::to_vec(&Signed::sign(body(3), &key).unwrap()).unwrap();
    let batched = serde_json::to_vec(&batch(&key, 128)[3]).unwrap();
    let longest = serde_json::to_vec(&batch(&key, 1024)[3]).unwrap();
    eprintln!(
        "receipt JSON: single {} B, from a batch of 128 {} B, of 1024 {} B",
        single.len(),
        batched.len(),
        longest.len()
    );
    // 7 path hashes of 64 hex digits plus the index and size.
    assert!(batched.len() - single.len() <= 7 * 67 + 40);
}

/// The JSON with lower-case hex, to tell a real edit from a case change
/// (hex decoding accepts either case, so `A` and `a` are the same byte).
fn canonical(r: &SignedReceipt) -> SignedReceipt {
    let mut r = r.clone();
    r.signature = r.signature.to_lowercase();
    if let Some(p) = r.batch.as_mut() {
        p.path.iter_mut().for_each(|h| *h = h.to_lowercase());
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_leaf_verifies_and_a_flipped_bit_anywhere_fails(
        size in 1u32..=300,
        index in 0u32..300,
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (key, vk) = setup();
        let index = index % size;
        let leaves = (0..size).map(|n| BatchLeaf::new(body(n)).unwrap()).collect();
        let r = Signed::sign_batch(leaves, |m| key.sign(m).to_bytes())
            .unwrap()
            .swap_remove(index as usize);
        prop_assert_eq!(r.verify_signature(&vk), Ok(&body(index)));
        let mut wire = serde_json::to_vec(&r).unwrap();
        let at = at.index(wire.len());
        wire[at] ^= 1 << bit;
        // A flip that leaves the same receipt (a hex letter's case) proves
        // nothing; any other that still parses must fail to verify.
        if let Ok(edited) = serde_json::from_slice::<SignedReceipt>(&wire) {
            if canonical(&edited) != canonical(&r) {
                prop_assert!(edited.verify_signature(&vk).is_err(), "flip at {} verified", at);
            }
        }
    }
}

/// ~100 gifts at once through the real service: they are signed in batches
/// of more than one, and every receipt verifies with the service key alone.
async fn concurrent_gifts_are_batch_signed(b: Backend) {
    let Some(s) = start(b).await else { return };
    let sender = s.user().await;
    let receiver = s.user().await;
    s.fund(&sender.account(), 10_000).await;
    let to = receiver.account().to_hex();
    let tasks = (0..100).map(|i| {
        let mut c = sender.clone();
        let req = SendGiftRequest {
            id: format!("batch-{i}"),
            gift: "rose".into(),
            to: to.clone(),
            room: "room-1".into(),
        };
        tokio::spawn(async move { c.send_gift(&req).await.unwrap() })
    });
    let answers: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let vk = s.svc.verifying_key();
    let other = SigningKey::generate(&mut OsRng).verifying_key();
    let mut largest = 0;
    for a in &answers {
        assert_eq!(a.status, "created");
        let p = proof(&a.receipt);
        largest = largest.max(p.size);
        let wire: SignedReceipt =
            serde_json::from_slice(&serde_json::to_vec(&a.receipt).unwrap()).unwrap();
        assert_eq!(wire.verify_signature(&vk).unwrap(), &a.receipt.body);
        assert_eq!(
            wire.verify_signature(&other),
            Err(VerifyError::BadSignature)
        );
    }
    assert!(largest > 1, "every receipt was signed alone");
    let roots: std::collections::HashSet<_> = answers
        .iter()
        .map(|a| a.receipt.signature.clone())
        .collect();
    eprintln!(
        "{} receipts under {} signatures, largest batch {largest}",
        answers.len(),
        roots.len()
    );
    assert!(roots.len() < answers.len(), "{} signatures", roots.len());
    // A replay carries the original body in a (new) verified batch.
    let mut c = sender.clone();
    let again = c
        .send_gift(&SendGiftRequest {
            id: "batch-0".into(),
            gift: "rose".into(),
            to,
            room: "room-1".into(),
        })
        .await
        .unwrap();
    assert_eq!(again.status, "replayed");
    let first = answers
        .iter()
        .find(|a| a.receipt.body.receipt_id.ends_with("/batch-0"))
        .unwrap();
    assert_eq!(again.receipt.body, first.receipt.body);
    again.receipt.verify_signature(&vk).unwrap();
}

both_backends!(concurrent_gifts_are_batch_signed);
