//! Fuzzes member statements (level and medals) as a node or relay receives
//! them: JSON decode, then `member::verify` (signature, account, lifetime,
//! version, length) at a clock taken from the input. Seeds carry a genuine
//! statement: then the check must agree with the statement's own fields.
#![no_main]

use aura_billing::{
    ed25519_dalek::SigningKey,
    ids::DeviceKey,
    member::{self, SignedMemberStatement, MAX_MEDAL_KINDS},
};
use libfuzzer_sys::fuzz_target;

/// The seed corpus' ledger key (seed 1), so genuine statements reach every check.
fn ledger() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (clock, json) = data.split_at(8);
    let now = i64::from_le_bytes(clock.try_into().unwrap_or_default());
    let Ok(s) = serde_json::from_slice::<SignedMemberStatement>(json) else {
        return;
    };
    let pinned = ledger().verifying_key();
    let account = DeviceKey::parse_hex_unchecked(&s.body.account).unwrap_or(DeviceKey([0; 32]));
    if let Ok(b) = member::verify(&s, &pinned, &account, now) {
        assert!(now < b.exp && b.v == 1 && b.medals.len() <= MAX_MEDAL_KINDS);
        assert!(s.verify_signature(&pinned).is_ok());
    }
});
