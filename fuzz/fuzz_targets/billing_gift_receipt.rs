//! Fuzzes gift receipts as a peer receives them from a room: JSON decode,
//! then the offline signature and batch-proof check. The seeds are genuine
//! receipts (alone and batch-signed) of the key below, so mutations reach
//! the Merkle path folding; whatever verifies must verify again after a
//! re-encoding (the check depends on the body, not on its JSON spelling).
#![no_main]

use aura_billing::{client::verify_receipt, ed25519_dalek::SigningKey, signed::SignedReceipt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = serde_json::from_slice::<SignedReceipt>(data) else {
        return;
    };
    let ledger = SigningKey::from_bytes(&[7; 32]).verifying_key();
    if verify_receipt(&r, &ledger).is_ok() {
        let again: SignedReceipt =
            serde_json::from_slice(&serde_json::to_vec(&r).unwrap_or_default())
                .unwrap_or_else(|_| r.clone());
        assert!(verify_receipt(&again, &ledger).is_ok());
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(verify_receipt(&r, &other).is_err());
    }
});
