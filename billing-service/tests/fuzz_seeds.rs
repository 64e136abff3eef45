//! The committed fuzz seeds of receipts and tokens are genuine (signed with
//! the keys the fuzz targets pin), so mutations start from inputs that pass
//! every check and reach the deepest paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aura_billing::{
    client::verify_receipt,
    entitlement,
    ids::DeviceKey,
    signed::{EntitlementToken, SignedReceipt},
};
use ed25519_dalek::SigningKey;

fn seed(target: &str, name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(format!("billing_{target}"))
        .join(format!("seed-{name}"));
    std::fs::read(p).unwrap()
}

#[test]
fn receipt_seeds_verify_alone_and_in_their_batch() {
    let ledger = SigningKey::from_bytes(&[7; 32]).verifying_key();
    for name in ["single", "batch_0", "batch_1", "batch_2"] {
        let r: SignedReceipt = serde_json::from_slice(&seed("gift_receipt", name)).unwrap();
        verify_receipt(&r, &ledger).unwrap();
    }
}

#[test]
fn entitlement_seed_verifies_at_its_clock() {
    let ledger = SigningKey::from_bytes(&[1; 32]).verifying_key();
    let data = seed("entitlement_token", "vip_valid");
    let now = i64::from_le_bytes(data[..8].try_into().unwrap());
    let t: EntitlementToken = serde_json::from_slice(&data[8..]).unwrap();
    let peer = DeviceKey::parse_hex(&t.body.peer).unwrap();
    entitlement::verify(&t, &ledger, &peer, now, "host_large_rooms").unwrap();
}

/// The member statement seed is genuine (ledger key seed 1) at its clock.
#[test]
fn member_statement_seed_verifies_at_its_clock() {
    let ledger = SigningKey::from_bytes(&[1; 32]);
    let data = seed("member_statement", "genuine");
    let now = i64::from_le_bytes(data[..8].try_into().unwrap());
    let s: aura_billing::member::SignedMemberStatement =
        serde_json::from_slice(&data[8..]).unwrap();
    let who = DeviceKey::parse_hex(&s.body.account).unwrap();
    aura_billing::member::verify(&s, &ledger.verifying_key(), &who, now).unwrap();
}
