//! Fuzzes gift receipts as a member's node checks them (JSON from a control
//! frame, signed by the pinned ledger key). As a forged receipt never gets
//! past the signature, the input is also read as a receipt body, signed
//! with the service key, and must then pass exactly when its room and
//! sender are this group and the member who broadcast it.
#![no_main]

use aura_billing::signed::{GiftReceipt, Signed};
use aura_crypto::{GroupId, MemberId};
use aura_node::gift::{self, GiftError};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[1; 32]);
    let service = key.verifying_key();
    let group = GroupId([3; 32]);
    let sender = MemberId([2; 32]);
    let _ = gift::check_receipt(data, Some(&service), group, sender);
    let Ok(mut body) = serde_json::from_slice::<GiftReceipt>(data) else {
        return;
    };
    if data.first() == Some(&b' ') {
        // Half the structured inputs name this group and sender.
        body.room = gift::room_id(group);
        body.sender = hex_of(&sender.0);
    }
    let matches = body.room == gift::room_id(group) && body.sender == hex_of(&sender.0);
    let Ok(signed) = Signed::sign(body, &key) else {
        return;
    };
    let Ok(bytes) = gift::encode_receipt(&signed) else {
        return; // larger than a receipt may be
    };
    match gift::check_receipt(&bytes, Some(&service), group, sender) {
        Ok(r) => {
            assert!(matches, "receipt for another room or sender accepted");
            assert_eq!(r, signed);
        }
        Err(GiftError::WrongRoom(_) | GiftError::WrongSender(_)) => assert!(!matches),
        Err(e) => panic!("genuine receipt refused: {e}"),
    }
});

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
