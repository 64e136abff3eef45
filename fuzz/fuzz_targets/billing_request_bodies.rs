//! Fuzzes every JSON request body the ledger decodes (the first byte picks
//! which), then the checks the service runs on its fields, and the login
//! challenge parser on the raw text.
#![no_main]

use aura_billing::{
    api::{
        ChallengeRequest, CheckoutRequest, GiftItem, LoginRequest, SendGiftRequest, WebhookEvent,
    },
    ids::{check_client_id, DeviceKey},
    login::{Challenge, CHALLENGE_PREFIX, MAX_CHALLENGE_LEN},
};
use libfuzzer_sys::fuzz_target;

fn challenge(text: &str) {
    if let Ok(c) = Challenge::parse(text) {
        assert!(text.len() <= MAX_CHALLENGE_LEN);
        let again = format!(
            "{CHALLENGE_PREFIX}:{}:{}:{}:{}",
            c.account, c.expires_at, c.nonce, c.tag
        );
        assert_eq!(again, text);
        assert!(c.expiry() >= 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(r) = serde_json::from_slice::<ChallengeRequest>(body) {
                let _ = DeviceKey::parse_hex(&r.account);
            }
        }
        1 => {
            if let Ok(r) = serde_json::from_slice::<LoginRequest>(body) {
                let _ = DeviceKey::parse_hex(&r.account);
                challenge(&r.challenge);
                let mut sig = [0u8; 64];
                let _ = hex::decode_to_slice(&r.signature, &mut sig);
            }
        }
        2 => {
            if let Ok(r) = serde_json::from_slice::<SendGiftRequest>(body) {
                let _ = check_client_id(&r.id);
                let _ = DeviceKey::parse_hex(&r.to);
            }
        }
        3 => {
            let _ = serde_json::from_slice::<CheckoutRequest>(body);
        }
        4 => {
            if let Ok(ev) = serde_json::from_slice::<WebhookEvent>(body) {
                let _ = check_client_id(&ev.id);
                let _ = DeviceKey::parse_hex(&ev.data.account);
                if let Some(c) = &ev.data.checkout_id {
                    let _ = check_client_id(c);
                }
            }
        }
        _ => {
            let _ = serde_json::from_slice::<GiftItem>(body);
        }
    }
    if let Ok(text) = std::str::from_utf8(body) {
        challenge(text);
    }
});
