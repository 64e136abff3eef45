//! Fuzzes entitlement tokens as a node or relay receives them: JSON decode,
//! then the offline check (signature, account, lifetime, capability) at a
//! clock taken from the input. Seeds may carry a genuine token: then the
//! check must agree with the token's own fields.
#![no_main]

use aura_billing::{
    ed25519_dalek::SigningKey,
    entitlement,
    ids::DeviceKey,
    signed::{EntitlementToken, VerifyError},
};
use libfuzzer_sys::fuzz_target;

/// The seed corpus' ledger key (seed 1), so genuine tokens reach every check.
fn ledger() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (clock, json) = data.split_at(8);
    let now = i64::from_le_bytes(clock.try_into().unwrap_or_default());
    let Ok(t) = serde_json::from_slice::<EntitlementToken>(json) else {
        return;
    };
    let pinned = ledger().verifying_key();
    let Ok(peer) = DeviceKey::parse_hex(&t.body.peer) else {
        assert!(entitlement::verify(&t, &pinned, &DeviceKey([0; 32]), now, "x").is_err());
        return;
    };
    match entitlement::verify(&t, &pinned, &peer, now, "host_large_rooms") {
        Ok(e) => {
            assert!(now < e.exp);
            assert!(e.allows.iter().any(|a| a == "host_large_rooms"));
        }
        Err(
            VerifyError::Expired
            | VerifyError::WrongPeer
            | VerifyError::NotEntitled
            | VerifyError::Version(_),
        ) => assert!(t.verify_signature(&pinned).is_ok()),
        Err(_) => assert!(t.verify_signature(&pinned).is_err()),
    }
    let _ = entitlement::verify_room_host(&t, &pinned, &peer, now, u32::from(data[0]) * 64);
});
